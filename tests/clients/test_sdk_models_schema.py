"""The SDK's models against the OpenAPI document a running stack serves: drift in either fails here.

Every model field must be a schema property of a compatible type (nullable in the schema -> Optional in
the model; a nested model -> a $ref to its schema), and every required schema property a model field.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests
from perimeter_client import models, options, resources

from tests.support.stack import start_stack

pytestmark = [pytest.mark.e2e]

# SDK model -> the schemas it reads (the first is checked field by field, every one for its required fields).
SCHEMAS: dict[type, tuple[str, ...]] = {
    models.Scan: ("ScanView",), models.Finding: ("Finding",), models.Signal: ("SignalResult",),
    models.Cap: ("GradeCap",), models.ScanError: ("ScanError",), models.ScanCreated: ("ScanCreated",),
    models.Webhook: ("WebhookCreated", "WebhookView"), models.DeliveryQueued: ("DeliveryQueued",),
    models.ReportLink: ("ReportLinkView",),
    models.Page: ("ScanList", "WebhookList", "TargetList", "AuditEventList"),
    models.FindingPage: ("FindingList",), models.Gate: ("Gate",),
    resources.Target: ("TargetView",), resources.Challenge: ("ChallengeView",),
    resources.DnsChallenge: ("DnsChallenge",), resources.HttpChallenge: ("HttpChallenge",),
    resources.SbomLink: ("SbomLinkView",), resources.AuditEvent: ("AuditEventView",),
}
NESTED = {cls: names[0] for cls, names in SCHEMAS.items()}
SIMPLE = {str: "string", int: "integer", bool: "boolean", float: "number"}


@pytest.fixture(scope="module")
def schemas() -> Iterator[dict[str, Any]]:
    stack = start_stack()
    try:
        document = requests.get(f"{stack.base_url}/v1/openapi.json", timeout=10).json()
    finally:
        assert stack.stop() == 0, "\n".join(stack.output[-20:])
    yield document["components"]["schemas"]


def resolve(schema: dict[str, Any], schemas: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    ref = schema.get("$ref")
    if ref is None:
        return schema, None
    name = ref.rsplit("/", 1)[1]
    return schemas[name], name


def split_null(schema: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    if "anyOf" in schema:
        branches = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return branches, len(branches) < len(schema["anyOf"])
    return [schema], schema.get("type") == "null"


def problems(hint: Any, schema: dict[str, Any], schemas: dict[str, Any], where: str) -> list[str]:
    """Why `hint` cannot hold what `schema` describes (empty when it can)."""
    if hint is Any or isinstance(hint, typing.TypeVar):
        return []
    args = typing.get_args(hint)
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args
    if optional:
        hint = next(a for a in args if a is not type(None))
    branches, nullable = split_null(schema)
    if nullable and not optional:
        return [f"{where}: the schema allows null, the model does not"]
    found: list[str] = []
    for branch in branches:
        found += one(hint, branch, schemas, where)
    return found


def one(hint: Any, schema: dict[str, Any], schemas: dict[str, Any], where: str) -> list[str]:
    schema, name = resolve(schema, schemas)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return [] if NESTED.get(hint) == name else [f"{where}: {hint.__name__} is not the schema's {name}"]
    if hint is datetime:
        ok = schema.get("type") == "string" and schema.get("format") == "date-time"
        return [] if ok else [f"{where}: datetime for {schema}"]
    if hint in SIMPLE:
        ok = schema.get("type") == SIMPLE[hint] or (hint is float and schema.get("type") == "integer")
        return [] if ok else [f"{where}: {hint.__name__} for {schema.get('type')}"]
    if origin is list:
        if schema.get("type") != "array":
            return [f"{where}: list for {schema.get('type')}"]
        return problems(args[0], schema.get("items", {}), schemas, f"{where}[]")
    if origin is dict:
        if schema.get("type") != "object":
            return [f"{where}: dict for {schema.get('type')}"]
        extra = schema.get("additionalProperties", True)
        return problems(args[1], extra, schemas, f"{where}{{}}") if isinstance(extra, dict) else []
    return [f"{where}: unchecked type {hint!r}"]


def api_fields(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if not f.metadata.get("sdk_only")}


@pytest.mark.parametrize("cls", list(SCHEMAS), ids=lambda c: c.__name__)
def test_model_fields_exist_in_the_schema_with_compatible_types(cls: type, schemas: dict[str, Any]) -> None:
    schema = schemas[SCHEMAS[cls][0]]
    found: list[str] = []
    for name, hint in api_fields(cls).items():
        if name not in schema["properties"]:
            found.append(f"{cls.__name__}.{name} is not in {SCHEMAS[cls][0]}")
            continue
        found += problems(hint, schema["properties"][name], schemas, f"{cls.__name__}.{name}")
    assert found == []


@pytest.mark.parametrize("cls", list(SCHEMAS), ids=lambda c: c.__name__)
def test_required_schema_fields_are_in_the_model(cls: type, schemas: dict[str, Any]) -> None:
    fields = set(api_fields(cls))
    for name in SCHEMAS[cls]:
        assert set(schemas[name].get("required", [])) <= fields, (name, set(schemas[name]["required"]) - fields)


def test_the_sdks_vocabularies_match_the_schema(schemas: dict[str, Any]) -> None:
    assert list(models.SEVERITIES) == schemas["Severity"]["enum"]
    assert set(schemas["ScanStatus"]["enum"]) >= models.TERMINAL_STATUSES
    assert list(resources.TARGET_STATUSES) == schemas["TargetStatus"]["enum"]
    assert set(schemas["ScanType"]["enum"]) >= {"webapp", "container"}


def test_the_option_helpers_match_the_schema(schemas: dict[str, Any]) -> None:
    """Every field the typed option helpers send is a property of the submitted options' schemas."""
    container, webapp = models_of(schemas, "container"), models_of(schemas, "webapp")
    sent_container = {f.name for f in dataclasses.fields(options.ContainerOptions)} - {"fail_on"}
    sent_webapp = {f.name for f in dataclasses.fields(options.WebappOptions)} - {"fail_on"}
    assert sent_container <= set(container["properties"]), sent_container - set(container["properties"])
    assert sent_webapp <= set(webapp["properties"]), sent_webapp - set(webapp["properties"])
    auth, _ = resolve(split_null(container["properties"]["registry_auth"])[0][0], schemas)
    assert set(auth["properties"]) >= {"username", "password"} and set(auth["required"]) == {"username", "password"}
    engines = resolve(split_null(webapp["properties"]["engines"])[0][0], schemas)[0]["items"]
    assert set(options.WEBAPP_ENGINES) == set(resolve(engines, schemas)[0]["enum"])
    scanners = resolve(container["properties"]["scanners"], schemas)[0]["items"]
    assert set(options.CONTAINER_SCANNERS) == set(resolve(scanners, schemas)[0]["enum"])


def models_of(schemas: dict[str, Any], name: str) -> dict[str, Any]:
    """The schema of `options.<name>` in the create-scan request body."""
    submitted = schemas["CreateScan"]["properties"]["options"]
    body, _ = resolve(split_null(submitted)[0][0], schemas)
    return resolve(split_null(body["properties"][name])[0][0], schemas)[0]


def test_the_checker_catches_drift(schemas: dict[str, Any]) -> None:
    """The checker itself: a wrong type, a missing null and a foreign nested model are all reported."""
    props = schemas["ScanView"]["properties"]
    assert problems(int, props["target"], schemas, "x")
    assert problems(int, props["score"], schemas, "x")  # nullable in the schema
    assert problems(list[models.Finding], props["caps"], schemas, "x")
    assert not problems(int | None, props["score"], schemas, "x")
