"""DynamoDB KeyValueStore: one table, `pk`/`sk` string keys, TTL attribute `expires_at`.

Item layout: `data` (the JSON document as a string), `version` (optimistic lock), `expires_at`
(epoch seconds, the table's TTL attribute), and counters as numeric attributes `c_<name>`.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.core.store import ConditionFailed, Record

COUNTER_PREFIX = "c_"
KEY_SCHEMA = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
ATTRIBUTE_DEFINITIONS = [
    {"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"},
]
TTL_ATTRIBUTE = "expires_at"


def _is_condition_failure(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    return bool(response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def _to_record(item: dict[str, Any]) -> Record:
    counters = {
        k[len(COUNTER_PREFIX):]: int(v["N"]) for k, v in item.items() if k.startswith(COUNTER_PREFIX)
    }
    return Record(
        pk=item["pk"]["S"],
        sk=item["sk"]["S"],
        data=json.loads(item["data"]["S"]) if "data" in item else {},
        version=int(item["version"]["N"]) if "version" in item else 0,
        expires_at=int(item["expires_at"]["N"]) if "expires_at" in item else None,
        counters=counters,
    )


class DynamoDBStore:
    """KeyValueStore over a DynamoDB table; `client` is a boto3 DynamoDB client built by the caller."""

    def __init__(self, table_name: str, client: Any) -> None:
        self.table_name = table_name
        self._client = client

    def get(self, pk: str, sk: str) -> Record | None:
        """The item (strongly consistent read), or None."""
        response = self._client.get_item(
            TableName=self.table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        )
        item = response.get("Item")
        return _to_record(item) if item else None

    def put(
        self,
        pk: str,
        sk: str,
        data: dict[str, Any],
        *,
        expect_version: int | None = None,
        expires_at: int | None = None,
        replace_expired_before: int | None = None,
    ) -> Record:
        """Conditional update of the document; raises ConditionFailed."""
        names = {"#d": "data", "#v": "version"}
        values: dict[str, Any] = {":d": {"S": json.dumps(data, separators=(",", ":"))}, ":one": {"N": "1"}}
        sets = ["#d = :d"]
        if expires_at is not None:
            names["#e"] = TTL_ATTRIBUTE
            values[":e"] = {"N": str(expires_at)}
            sets.append("#e = :e")
        kwargs: dict[str, Any] = {}
        if expect_version is not None:
            if expect_version == 0:
                condition = "attribute_not_exists(pk)"
                if replace_expired_before is not None:
                    names["#e"] = TTL_ATTRIBUTE
                    values[":now"] = {"N": str(replace_expired_before)}
                    condition += " OR #e < :now"
            else:
                values[":expected"] = {"N": str(expect_version)}
                condition = "#v = :expected"
            kwargs["ConditionExpression"] = condition
        try:
            response = self._client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": pk}, "sk": {"S": sk}},
                UpdateExpression=f"SET {', '.join(sets)} ADD #v :one",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                **kwargs,
            )
        except Exception as exc:
            if _is_condition_failure(exc):
                raise ConditionFailed(f"{pk}/{sk}: condition failed") from exc
            raise
        return _to_record(response["Attributes"])

    def delete(self, pk: str, sk: str, *, expect_version: int | None = None) -> None:
        """Remove an item; raises ConditionFailed on a version mismatch."""
        kwargs: dict[str, Any] = {}
        if expect_version is not None:
            kwargs = {
                "ConditionExpression": "#v = :expected",
                "ExpressionAttributeNames": {"#v": "version"},
                "ExpressionAttributeValues": {":expected": {"N": str(expect_version)}},
            }
        try:
            self._client.delete_item(
                TableName=self.table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}}, **kwargs
            )
        except Exception as exc:
            if _is_condition_failure(exc):
                raise ConditionFailed(f"{pk}/{sk}: condition failed on delete") from exc
            raise

    def query(
        self, pk: str, prefix: str, *, forward: bool = True, after: str | None = None,
        until: str | None = None, limit: int = 100,
    ) -> list[Record]:
        """Key-condition query on pk and an sk range; follows DynamoDB pages up to `limit` items."""
        values: dict[str, Any] = {":pk": {"S": pk}}
        if until is not None:
            low, high = (prefix, until) if forward else (until, prefix + "\uffff")
            condition = "pk = :pk AND sk BETWEEN :lo AND :hi"
            values[":lo"], values[":hi"] = {"S": low}, {"S": high}
        else:
            condition = "pk = :pk AND begins_with(sk, :prefix)"
            values[":prefix"] = {"S": prefix}
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": forward,
            "ConsistentRead": True,
        }
        if after is not None:
            kwargs["ExclusiveStartKey"] = {"pk": {"S": pk}, "sk": {"S": after}}
        out: list[Record] = []
        while len(out) < limit:
            kwargs["Limit"] = limit - len(out)
            response = self._client.query(**kwargs)
            out.extend(_to_record(item) for item in response.get("Items", []) if item["sk"]["S"].startswith(prefix))
            last = response.get("LastEvaluatedKey")
            if not last:
                break
            kwargs["ExclusiveStartKey"] = last
        return out[:limit]

    def increment(self, pk: str, sk: str, counters: dict[str, int], *, expires_at: int | None = None) -> Record:
        """Atomic ADD on numeric attributes `c_<name>`."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        adds = []
        for i, (name, delta) in enumerate(sorted(counters.items())):
            names[f"#c{i}"] = COUNTER_PREFIX + name
            values[f":c{i}"] = {"N": str(delta)}
            adds.append(f"#c{i} :c{i}")
        expression = f"ADD {', '.join(adds)}"
        if expires_at is not None:
            names["#e"] = TTL_ATTRIBUTE
            values[":e"] = {"N": str(expires_at)}
            expression += " SET #e = :e"
        response = self._client.update_item(
            TableName=self.table_name,
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        return _to_record(response["Attributes"])
