"""Findings beyond the table item: a 1,500-finding container scan through Score and Finalize into one object,
paged through the API with filters; the posture path writes and reads no object; the SBOM route; the
webapp re-check at MarkScanning; the scanner task carrying attachments."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.bootstrap import Services
from chalicelib.core.objects import ObjectStore
from chalicelib.pipeline.errors import ScanTerminal
from chalicelib.pipeline.steps import MAX_CRITICAL_EVENTS, MAX_FINDING_EVENTS, Pipeline
from chalicelib.scanners.task import ScannerTask, TaskEnv
from chalicelib.scans.evidence import EvidenceDocument
from chalicelib.scans.findings import INLINE_MAX_COUNT, TOP_INLINE
from chalicelib.scans.keys import evidence_key
from chalicelib.scans.models import Finding, Scan, ScanStatus, Severity, SignalKey, SignalResult, SignalStatus
from chalicelib.scans.scoring import MAX_SCORES
from tests.support.memory import RecordingPublisher
from tests.unit.scans.conftest import Api, Gate, body

SBOM = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
        "components": [{"type": "library", "name": "openssl", "version": "3.0.1",
                        "purl": "pkg:deb/debian/openssl@3.0.1"}]}
SEVERITIES = list(Severity)


class CountingObjects:
    """The services' object store, counting puts and gets per key."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.puts: list[str] = []
        self.gets: list[str] = []

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.puts.append(key)
        self.inner.put(key, body, content_type)

    def get(self, key: str) -> bytes:
        self.gets.append(key)
        return self.inner.get(key)

    def presign(self, key: str, expires_in: int, filename: str | None = None) -> str:
        return self.inner.presign(key, expires_in, filename)


class NoRender:
    def render_and_store(self, tenant_id: str, scan_id: str, *, progress: int | None = None) -> dict[str, Any]:
        return {"scan_id": scan_id}


def container_findings(count: int) -> list[Finding]:
    """`count` findings over every severity, a third with a CWE."""
    return [Finding(id=f"cv-{i:05d}", signal=SignalKey.CONTAINER, severity=SEVERITIES[i % 5],
                    code="container-vulnerability" if i % 7 else "container-secret",
                    title=f"CVE-2026-{i:05d} in libexample", cwe="CWE-79" if i % 3 == 0 else None,
                    evidence={"package": "libexample", "installed": f"1.{i}", "purl": f"pkg:deb/x/libexample@1.{i}"})
            for i in range(count)]


@pytest.fixture
def objects(services: Services) -> CountingObjects:
    counting = CountingObjects(services.objects)
    services.__dict__["objects"] = counting  # the findings store reads the services' store through a getter
    return counting


@pytest.fixture
def events() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def pipeline(services: Services, objects: CountingObjects, events: RecordingPublisher) -> Pipeline:
    return Pipeline(services.scans, objects, events, NoRender(), heartbeat_seconds=30, clock=lambda: 1000.0)


def run_pipeline(pipeline: Pipeline, services: Services, scan: Scan, results: dict[str, SignalResult],
                 attachments: dict[str, dict[str, Any]] | None = None) -> Scan:
    """MarkScanning, evidence of the network group, Score and Finalize; the stored scan."""
    step = {"scan_id": scan.scan_id, "tenant_id": scan.tenant_id}
    pipeline.mark_scanning(step)
    document = EvidenceDocument(scan_id=scan.scan_id, tenant_id=scan.tenant_id, group="network", target=scan.target,
                                started_at=datetime.now(UTC), finished_at=datetime.now(UTC),
                                signals={SignalKey(k): v for k, v in results.items()},
                                attachments={SignalKey(k): v for k, v in (attachments or {}).items()})
    raw = document.model_dump_json().encode()
    key = evidence_key(scan.tenant_id, scan.scan_id, "network")
    services.objects.inner.put(key, raw, "application/json")  # type: ignore[attr-defined]  # not counted
    pointer = {"group": "network", "evidence_key": key, "sha256": hashlib.sha256(raw).hexdigest()}
    pipeline.score_scan({**step, "signals": list(results), "evidence": [pointer]})
    pipeline.finalize_scan(step)
    return services.scans.get(scan.tenant_id, scan.scan_id)


def container_result(findings: list[Finding]) -> dict[str, SignalResult]:
    return {"container": SignalResult(status=SignalStatus.COMPLETE, max_score=0, findings=findings)}


def create(api: Api, payload: dict[str, Any], tenant: str = "acme") -> str:
    response = api.call("POST", "/v1/scans", payload, tenant=tenant)
    assert response.status_code == 202, body(response)
    return str(body(response)["scan_token"])


def pages(api: Api, token: str, query: str = "", limit: int = 97) -> list[dict[str, Any]]:
    """Every item of the findings list, following the cursor."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        path = f"/v1/scans/{token}/findings?limit={limit}{query}" + (f"&cursor={cursor}" if cursor else "")
        page = body(api.call("GET", path))
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


@pytest.mark.usefixtures("fake_codes")
def test_a_1500_finding_container_scan_lives_in_one_object_and_pages_through_the_api(
        api: Api, services: Services, pipeline: Pipeline, objects: CountingObjects, events: RecordingPublisher) -> None:
    token = create(api, {"target": "example.com/team/app:1.0", "scan_type": "container"})
    produced = container_findings(1500)
    stored = run_pipeline(pipeline, services, services.scans.get("acme", token), container_result(produced))
    assert stored.status is ScanStatus.COMPLETE and stored.findings_count == 1500
    assert stored.findings_key == f"tenants/acme/scans/{token}/findings.json.gz"
    assert stored.findings_key in objects.puts
    inline = stored.signals["container"].findings
    assert len(inline) == TOP_INLINE and all(f.severity is Severity.CRITICAL for f in inline)
    assert stored.severity_counts == {s: 300 for s in Severity}
    assert stored.signals["container"].severity_counts == {s: 300 for s in Severity}
    item = services.store.get("TENANT#acme", f"SCAN#{token}")
    assert item is not None and len(json.dumps(item.data)) < 64 * 1024
    # Every finding reachable exactly once across pages, in the same order as inline would give.
    every = pages(api, token)
    assert [f["id"] for f in every] == [f.id for f in sorted(produced, key=lambda f: (
        SEVERITIES.index(f.severity), f.signal.value, f.code, f.id))]
    assert len({f["id"] for f in every}) == 1500
    # Filters work on the full set, with totals over all pages.
    high = pages(api, token, "&severity=high")
    assert len(high) == 300 and {f["severity"] for f in high} == {"high"}
    cwe = pages(api, token, "&cwe=79&severity=critical", limit=33)
    assert {f["id"] for f in cwe} == {f.id for f in produced if f.cwe == "CWE-79" and f.severity is Severity.CRITICAL}
    first = body(api.call("GET", f"/v1/scans/{token}/findings?signal=container&limit=10"))
    assert first["total"] == 1500 and len(first["items"]) == 10
    assert body(api.call("GET", f"/v1/scans/{token}/findings?signal=scan"))["total"] == 0
    # The view counts and gates over all 1,500; the webhooks read the full set, bounded.
    view = body(api.call("GET", f"/v1/scans/{token}"))
    assert view["findings_count"] == 1500 and view["severity_counts"]["low"] == 300 and view["score"] is None
    assert view["gate"] == {"passed": False, "fail_on": "high",
                            "counts": {"critical": 300, "high": 300, "medium": 300, "low": 300, "info": 300},
                            "not_checked": {}}
    names = events.names(token)
    assert names.count("critical.finding") == MAX_CRITICAL_EVENTS
    assert names.count("finding.created") == MAX_FINDING_EVENTS
    completed = next(d for _, e, d in events.events if e == "scan.completed")
    assert completed["critical_count"] == 300 and completed["gate"]["passed"] is False


@pytest.mark.usefixtures("fake_codes")
def test_a_tampered_findings_object_is_refused_not_served(api: Api, services: Services, pipeline: Pipeline) -> None:
    token = create(api, {"target": "example.com/team/app:1.0", "scan_type": "container"})
    stored = run_pipeline(pipeline, services, services.scans.get("acme", token),
                          container_result(container_findings(INLINE_MAX_COUNT + 1)))
    assert stored.findings_key is not None
    document = json.loads(gzip.decompress(services.objects.inner.get(stored.findings_key)))  # type: ignore[attr-defined]
    document["findings"] = document["findings"][1:]
    services.objects.inner.put(stored.findings_key, gzip.compress(json.dumps(document).encode()), "x")  # type: ignore[attr-defined]
    services.scans.findings_store._cache.clear()
    response = api.call("GET", f"/v1/scans/{token}/findings")
    assert response.status_code == 500 and body(response)["code"] == "findings-unavailable"


def test_posture_scans_under_the_threshold_write_and_read_no_object(
        api: Api, services: Services, pipeline: Pipeline, objects: CountingObjects) -> None:
    token = create(api, {"domain": "example.com"})
    signals = ("scan", "layer", "web")
    results = {k: SignalResult(status=SignalStatus.COMPLETE, max_score=MAX_SCORES[SignalKey(k)]) for k in signals}
    from chalicelib.scanners.open_ports import CATALOG

    results["scan"] = results["scan"].model_copy(update={"findings": [CATALOG.make("rdp-exposed", key="3389")]})
    stored = run_pipeline(pipeline, services, services.scans.get("acme", token), results)
    assert stored.findings_key is None and stored.findings_count == 1
    assert objects.puts == [] and objects.gets == [f"tenants/acme/scans/{token}/evidence/network.json"]
    listed = body(api.call("GET", f"/v1/scans/{token}/findings"))
    assert [f["code"] for f in listed["items"]] == ["rdp-exposed"]
    assert objects.gets == [f"tenants/acme/scans/{token}/evidence/network.json"]  # the list read the item only
    assert stored.severity_counts is not None and sum(stored.severity_counts.values()) == 1


@pytest.mark.usefixtures("fake_codes")
def test_the_sbom_route_redirects_for_complete_container_scans_only(
        api: Api, services: Services, pipeline: Pipeline) -> None:
    token = create(api, {"target": "example.com/team/app:1.0", "scan_type": "container"})
    pending = api.call("GET", f"/v1/scans/{token}/sbom")
    assert pending.status_code == 409
    stored = run_pipeline(pipeline, services, services.scans.get("acme", token),
                          container_result(container_findings(3)), attachments={"container": {"sbom": SBOM}})
    assert stored.sbom_key == f"tenants/acme/scans/{token}/sbom.cdx.json"
    response = api.call("GET", f"/v1/scans/{token}/sbom")
    assert response.status_code == 302 and "sbom.cdx.json" in response.headers["Location"]
    assert json.loads(services.objects.get(stored.sbom_key)) == SBOM
    link = body(api.call("GET", f"/v1/scans/{token}/sbom", headers={"Accept": "application/json"}))
    assert link["sha256"] == hashlib.sha256(services.objects.get(stored.sbom_key)).hexdigest()
    assert body(api.call("GET", f"/v1/scans/{token}"))["sbom_url"].endswith(f"/v1/scans/{token}/sbom")
    # Another tenant's token is unknown; another scan type has no SBOM.
    assert api.call("GET", f"/v1/scans/{token}/sbom", tenant="rival").status_code == 404
    posture = create(api, {"domain": "example.com"})
    refused = api.call("GET", f"/v1/scans/{posture}/sbom")
    assert refused.status_code == 404 and body(refused)["code"] == "sbom-not-available"
    # The SBOM never rides along in the item or the views.
    assert "CycloneDX" not in json.dumps(services.store.get("TENANT#acme", f"SCAN#{token}").data)  # type: ignore[union-attr]


def test_webapp_scans_prove_control_again_at_mark_scanning(
        api: Api, services: Services, pipeline: Pipeline, gate: Gate, events: RecordingPublisher) -> None:
    kept = create(api, {"target": "https://example.com/app", "scan_type": "webapp"})
    lost = create(api, {"target": "https://example.com/shop", "scan_type": "webapp"})
    pipeline.mark_scanning({"scan_id": kept, "tenant_id": "acme"})
    assert services.scans.get("acme", kept).status is ScanStatus.SCANNING
    gate.refused.add("example.com")
    with pytest.raises(ScanTerminal):
        pipeline.mark_scanning({"scan_id": lost, "tenant_id": "acme"})
    failed = services.scans.get("acme", lost)
    assert failed.status is ScanStatus.FAILED and failed.error is not None
    assert failed.error.code == "target-not-verified"
    assert events.names(lost) == ["scan.failed"]
    assert gate.calls.count(("acme", "example.com")) == 4  # two creations, two MarkScanning re-checks
    calls = len(gate.calls)
    posture = create(api, {"domain": "example.com"})
    pipeline.mark_scanning({"scan_id": posture, "tenant_id": "acme"})
    assert len(gate.calls) == calls


def test_the_scanner_task_carries_attachments_into_the_evidence_document(services: Services) -> None:
    class Callbacks:
        def __init__(self) -> None:
            self.output: dict[str, Any] = {}

        def heartbeat(self, token: str) -> None: ...
        def failure(self, token: str, error: str, cause: str) -> None: ...

        def success(self, token: str, output: dict[str, Any]) -> None:
            self.output = output

    def checks(target: str, signals: list[str], options: Any) -> dict[str, SignalResult]:
        return {"container": SignalResult(status=SignalStatus.COMPLETE, max_score=0, attachments={"sbom": SBOM})}

    env = TaskEnv.model_validate({
        "TASK_TOKEN": "t", "SCAN_ID": "scn_1", "TENANT_ID": "acme", "TARGET": "example.com/team/app:1.0",
        "SIGNAL_GROUP": "network", "SIGNALS": '["container"]', "SCAN_DEADLINE": "9999999999",
        "HEARTBEAT_SECONDS": "60",
        "SCAN_OPTIONS": json.dumps({"container": {"registry_auth": {"username": "u", "password_sealed": "v1.k.x"}}})})
    assert env.options.container is not None and env.options.container.registry_auth is not None
    assert env.options.container.registry_auth.password_sealed == "v1.k.x"  # the scanner gets the sealed blob
    callbacks = Callbacks()
    ScannerTask(env=env, callbacks=callbacks, objects=services.objects, run_checks=checks,
                on_abandon=lambda: None, clock=lambda: 0.0).run()
    document = EvidenceDocument.model_validate_json(services.objects.get(callbacks.output["evidence_key"]))
    assert document.results()[SignalKey.CONTAINER].attachments == {"sbom": SBOM}
    assert "attachments" not in document.signals[SignalKey.CONTAINER].model_dump()
