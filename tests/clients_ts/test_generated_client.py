"""scripts/gen_ts_client.py: the committed TypeScript client is the current document's, and it compiles."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chalicelib.api.spec import openapi_document
from chalicelib.api.table import OPERATIONS
from scripts.gen_ts_client import main, render, ts_type
from tests.clients_ts.conftest import CLIENT, compile_client, toolchain

SRC = CLIENT / "src"


def document() -> dict[str, Any]:
    return copy.deepcopy(dict(openapi_document(OPERATIONS, "")))


def test_the_committed_client_is_up_to_date_with_the_operation_table() -> None:
    assert main(["--check"]) == 0, "run: python scripts/gen_ts_client.py"
    for name, text in render(document()).items():
        assert (SRC / name).read_text() == text, name


def test_check_fails_when_the_document_changes(tmp_path: Path) -> None:
    out = tmp_path / "src"
    shutil.copytree(SRC, out)
    doc = document()
    doc["paths"]["/v1/scans"]["get"]["operationId"] = "listAllScans"
    (tmp_path / "doc.json").write_text(json.dumps(doc))
    assert main(["--source", str(tmp_path / "doc.json"), "--out", str(out), "--check"]) == 1
    assert main(["--source", str(tmp_path / "doc.json"), "--out", str(out)]) == 0
    assert "  listAllScans(query: ListAllScansQuery = {}" in (out / "client.ts").read_text()
    assert "listScans(" not in (out / "client.ts").read_text()
    assert main(["--source", str(tmp_path / "doc.json"), "--out", str(out), "--check"]) == 0


def test_every_component_and_operation_is_generated() -> None:
    doc = document()
    types, client = (SRC / "types.ts").read_text(), (SRC / "client.ts").read_text()
    declared = set(re.findall(r"^export (?:interface|type) (\w+)", types, re.M))
    assert set(doc["components"]["schemas"]) <= declared
    methods = set(re.findall(r"^  (\w+)\(.*\): Promise<", client, re.M))
    ids = {op["operationId"] for item in doc["paths"].values() for op in item.values()}
    assert methods == ids
    # Every POST takes an Idempotency-Key but the public ones (accepting an invitation needs no key at all).
    posts = {op["operationId"] for item in doc["paths"].values() for m, op in item.items()
             if m == "post" and op.get("security") != []}
    for op_id in ids:
        signature = re.search(rf"^  {op_id}\((.*)\): Promise<", client, re.M)
        assert signature is not None
        assert ("options: PostOptions" in signature.group(1)) == (op_id in posts), op_id


@pytest.mark.parametrize(("schema", "expected"), [
    ({"anyOf": [{"type": "string"}, {"type": "null"}]}, "string | null"),
    ({"type": ["integer", "null"]}, "number | null"),
    ({"enum": ["a", "b"], "type": "string"}, '"a" | "b"'),
    ({"const": 3}, "3"),
    ({"type": "array", "items": {"$ref": "#/components/schemas/Finding"}}, "Array<Finding>"),
    ({"type": "object", "additionalProperties": {"type": "boolean"}}, "Record<string, boolean>"),
    ({"type": "object"}, "Record<string, unknown>"),
    ({}, "unknown"),
    ({"allOf": [{"$ref": "#/components/schemas/A"}, {"$ref": "#/components/schemas/B"}]}, "(A) & (B)"),
])
def test_schema_to_typescript(schema: dict[str, Any], expected: str) -> None:
    assert ts_type(schema) == expected


def test_objects_mark_optional_members_quote_odd_keys_and_escape_comments() -> None:
    schema = {"type": "object", "required": ["id"], "additionalProperties": True, "properties": {
        "id": {"type": "string"}, "webhook-id": {"type": "string", "description": "ends */ early"}}}
    text = ts_type(schema)
    assert "  id: string;\n" in text
    assert '  "webhook-id"?: string;\n' in text
    assert "*\\/" in text and "ends */" not in text
    assert "[key: string]: unknown;" in text


@pytest.mark.parametrize("bad", [
    {"$ref": "https://example.invalid/schema.json"},
    {"$ref": "#/components/schemas/not-an-identifier"},
])
def test_unsupported_references_fail_loudly(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"ref|identifier"):
        ts_type(bad)


def test_unsupported_parameters_fail_loudly() -> None:
    doc = document()
    doc["paths"]["/v1/scans"]["get"]["parameters"].append({"name": "session", "in": "cookie", "schema": {}})
    with pytest.raises(ValueError, match="unsupported parameter 'session'"):
        render(doc)


def test_the_committed_client_compiles_with_the_pinned_tsc(built_client: Path) -> None:
    assert built_client.exists()
    assert (built_client.parent / "client.d.ts").exists()


def test_type_errors_in_partner_code_are_caught() -> None:
    """test/typecheck.ts: correct calls compile and each `@ts-expect-error` line really is a type error."""
    _, tsc = toolchain()
    result = subprocess.run([str(tsc), "-p", str(CLIENT / "test" / "tsconfig.json")], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_client_that_drifts_from_its_types_does_not_compile(tmp_path: Path) -> None:
    project = tmp_path / "typescript"
    shutil.copytree(CLIENT, project, ignore=shutil.ignore_patterns("dist", "node_modules"))
    client = project / "src" / "client.ts"
    client.write_text(client.read_text().replace("Promise<ScanView>", "Promise<ScanList>", 1))
    result = compile_client(tmp_path / "out", project)
    assert result.returncode != 0
    assert "client.ts" in result.stdout, result.stdout
