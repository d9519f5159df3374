"""Active scans in the SDK and the CLI over a fake session: container and webapp options, the server's
gate, the SBOM download and targets, with their exit codes."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from perimeter_client import Client, ContainerOptions, RegistryAuth, RetryPolicy, Scan, TransportError, WebappOptions

from tests.clients.fakes import FakeSession, active_scan_json, finding_json, response, target_json
from tests.clients.test_cli_gates import page, run

PASSWORD = "s3cret-registry-pass"
CREATED = {"scan_token": "scn_c", "status": "pending", "status_url": "u", "self_assessment_url": None,
           "estimated_seconds": 60, "created_at": "2026-12-07T10:00:00Z"}
CVE = finding_json("vulnerable-package", "high", signal="container", cve="CVE-2014-0160")


def client(answers: list[Any]) -> tuple[Client, FakeSession]:
    session = FakeSession(answers)
    return Client("k", "http://api.test", session=session, env={}, retry=RetryPolicy(sleep=lambda _: None)), session


def test_container_options_send_only_what_is_set_and_never_show_the_password() -> None:
    options = ContainerOptions(severity=["HIGH", "critical"], ignore_unfixed=True,
                               registry_auth=RegistryAuth("bot", PASSWORD), fail_on="high")
    assert options.to_options() == {"container": {"severity": ["high", "critical"], "ignore_unfixed": True,
                                                  "registry_auth": {"username": "bot", "password": PASSWORD}},
                                    "fail_on": "high"}
    assert PASSWORD not in repr(options) and PASSWORD not in str(options.registry_auth)
    assert ContainerOptions().to_options() == {}
    assert WebappOptions(rate_limit=5, engines=["builtin"]).to_options() == {
        "webapp": {"rate_limit": 5, "engines": ["builtin"]}}
    for bad in (lambda: ContainerOptions(severity=["severe"]), lambda: ContainerOptions(scanners=["virus"]),
                lambda: WebappOptions(fail_on="bad"), lambda: RegistryAuth("bot", "")):
        with pytest.raises(ValueError):
            bad()


def test_create_scan_with_typed_options_sets_the_scan_type() -> None:
    sdk, session = client([response(202, CREATED)])
    sdk.create_scan(target="127.0.0.1:5000/team/app:1.0", options=ContainerOptions(platform="linux/amd64"))
    assert session.calls[0]["json"] == {"target": "127.0.0.1:5000/team/app:1.0", "scan_type": "container",
                                        "options": {"container": {"platform": "linux/amd64"}}}
    with pytest.raises(ValueError, match="container"):
        sdk.create_scan(target="https://www.good.test/", scan_type="webapp", options=ContainerOptions())
    assert len(session.calls) == 1


def test_the_scan_model_reads_counts_gate_and_sbom() -> None:
    scan = Scan.from_dict(active_scan_json(counts={"high": 2, "low": 1}))
    assert scan.gate is not None and scan.gate.passed is False and scan.gate.fail_on == "high"
    assert scan.severity_counts["high"] == 2 and scan.count_at_least("high") == 2
    assert scan.count_at_least("low") == 3 and scan.count_at_least("critical") == 0
    assert scan.sbom_url == "http://api.test/v1/scans/scn_c/sbom" and scan.grade is None


def test_cli_container_scan_sends_options_and_fails_on_the_servers_counts(tmp_path: Path) -> None:
    done = active_scan_json(counts={"high": 1, "medium": 3}, findings=[CVE])
    code, out, err, session = run(
        ["scan", "--type", "container", "127.0.0.1:5000/team/app:1.0", "--severity", "high,critical,medium",
         "--ignore-unfixed", "--registry-user", "bot", "--registry-password-env", "REG_PW", "--fail-on", "high",
         "--junit", str(tmp_path / "j.xml"), "--summary", str(tmp_path / "s.md"), "--no-progress"],
        [response(202, CREATED), response(200, done), page(), page(CVE)], {"REG_PW": PASSWORD})
    assert code == 1, err
    body = session.calls[0]["json"]
    assert body["scan_type"] == "container" and body["target"] == "127.0.0.1:5000/team/app:1.0"
    assert body["options"] == {"container": {"severity": ["high", "critical", "medium"], "ignore_unfixed": True,
                                             "registry_auth": {"username": "bot", "password": PASSWORD}},
                               "fail_on": "high"}
    assert PASSWORD not in out + err + (tmp_path / "s.md").read_text() + (tmp_path / "j.xml").read_text()
    assert "gate no high or worse findings: FAIL (1 finding(s) high or worse; server gate failed)" in err
    assert "server gate (fail on high): FAILED" in out and "0 critical, 1 high, 3 medium" in out
    summary = (tmp_path / "s.md").read_text()
    assert "Container scan" in summary and "perimeter sbom scn_c" in summary and "Grade" not in summary
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "2"  # the gate and the one high finding


def test_cli_container_gate_passes_when_the_counts_stay_below() -> None:
    done = active_scan_json(counts={"medium": 3, "low": 2})
    code, out, err, _ = run(["scan", "--type", "container", "127.0.0.1:5000/team/app:1.0", "--fail-on", "high",
                             "--no-progress"], [response(202, CREATED), response(200, done), page(), page()])
    assert code == 0, err
    assert "server gate passed" in err and "server gate (fail on high): passed" in out


def test_cli_fail_on_for_an_active_scan_uses_counts_when_the_server_gated_another_severity() -> None:
    done = active_scan_json(counts={"high": 2}, fail_on="high")  # the server's gate failed at high
    code, _, err, _ = run(["scan", "get", "scn_c", "--fail-on", "critical", "--no-progress"],
                          [response(200, done), page()])
    assert code == 0 and "0 finding(s) critical or worse" in err


def test_an_active_scan_whose_signal_did_not_complete_fails_the_gate(tmp_path: Path) -> None:
    """Zero findings from an image that was never pulled is no pass, whatever the server's gate says."""
    done = active_scan_json(signal_status="error", signal_error="the registry requires credentials", sbom=False)
    assert done["gate"]["passed"] is True
    code, _, err, _ = run(["scan", "get", "scn_c", "--fail-on", "high", "--no-progress", "--junit",
                           str(tmp_path / "j.xml")], [response(200, done), page(), page()])
    assert code == 1
    assert "FAIL (not tested (container error: the registry requires credentials))" in err
    assert 'failures="1"' in (tmp_path / "j.xml").read_text()


def test_cli_webapp_scan_sends_the_url_and_its_options() -> None:
    done = active_scan_json(scan_type="webapp", counts={"medium": 1}, fail_on="medium", sbom=False)
    code, _, err, session = run(
        ["scan", "--type", "webapp", "https://www.good.test/shop", "--rate-limit", "5", "--max-requests", "300",
         "--fail-on", "medium", "--no-progress"],
        [response(202, CREATED), response(200, done), page(), page(), page()])
    assert code == 1, err
    assert session.calls[0]["json"] == {"target": "https://www.good.test/shop", "scan_type": "webapp",
                                        "options": {"webapp": {"rate_limit": 5.0, "max_requests": 300},
                                                    "fail_on": "medium"}}


@pytest.mark.parametrize(("argv", "env", "why"), [
    (["--registry-user", "bot", "--registry-password-env", "MISSING"], {}, "$MISSING is not set"),
    (["--registry-user", "bot"], {"REG_PW": PASSWORD}, "go together"),
    (["--registry-password-env", "REG_PW"], {"REG_PW": PASSWORD}, "go together"),
    (["--severity", "high,severe"], {}, "severities must be"),
    (["--scanners", "virus"], {}, "scanners must be"),
    (["--rate-limit", "5"], {}, "--rate-limit: not options of a container scan"),
    (["--fail-under", "B"], {}, "container scans have no grade"),
    (["--ports", "22"], {}, "--ports: not an option of a container scan"),
])
def test_cli_container_usage_errors_exit_2_before_any_request(argv: list[str], env: dict[str, str],
                                                              why: str) -> None:
    code, _, err, session = run(["scan", "--type", "container", "127.0.0.1:5000/team/app:1.0", *argv], [], env)
    assert code == 2 and why in err and session.calls == []
    assert PASSWORD not in err


def test_container_flags_on_a_posture_scan_are_refused() -> None:
    code, _, err, session = run(["scan", "example.com", "--ignore-unfixed"], [])
    assert code == 2 and "--ignore-unfixed: not options of a posture scan" in err and session.calls == []


def sbom_answers(data: bytes, digest: str | None = None) -> list[Any]:
    link = {"url": "http://files.test/sbom?sig=1", "expires_at": "2026-12-07T10:15:00Z",
            "sha256": digest or hashlib.sha256(data).hexdigest(), "format": "cyclonedx+json"}
    return [response(200, link), response(200, raw=data, headers={"Content-Type": "application/vnd.cyclonedx+json"})]


def test_cli_sbom_saves_the_checked_bytes_without_sending_the_key_to_the_link(tmp_path: Path) -> None:
    data = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": []}).encode()
    code, _, err, session = run(["sbom", "scn_c", "-o", str(tmp_path / "bom.json")], sbom_answers(data))
    assert code == 0, err
    assert (tmp_path / "bom.json").read_bytes() == data
    assert session.calls[0]["url"] == "http://api.test/v1/scans/scn_c/sbom"
    assert session.calls[0]["headers"]["Accept"] == "application/json"
    assert session.calls[1]["url"] == "http://files.test/sbom?sig=1"
    assert "Authorization" not in session.calls[1]["headers"]


def test_sbom_bytes_that_do_not_match_their_digest_are_refused(tmp_path: Path) -> None:
    code, _, err, _ = run(["sbom", "scn_c", "-o", str(tmp_path / "bom.json")], sbom_answers(b"{}", "0" * 64))
    assert code == 3 and "does not match its SHA-256" in err and not (tmp_path / "bom.json").exists()
    sdk, _ = client(sbom_answers(b'{"bomFormat": "CycloneDX"}'))
    assert sdk.get_sbom("scn_c") == {"bomFormat": "CycloneDX"}
    sdk, _ = client(sbom_answers(b"[]"))
    with pytest.raises(TransportError):
        sdk.get_sbom("scn_c")


def test_cli_sbom_of_a_running_scan_is_an_api_error() -> None:
    running = {"type": "t", "title": "t", "status": 409, "detail": "not complete", "code": "scan-not-complete"}
    code, _, err, _ = run(["sbom", "scn_c"], [response(409, running)])
    assert code == 3 and "409 scan-not-complete" in err


def test_cli_targets_add_shows_both_challenges_and_verify_refusal_exits_1() -> None:
    code, out, _, session = run(["targets", "add", "https://www.good.test/shop"], [response(201, target_json())])
    assert code == 0 and session.calls[0]["json"] == {"domain": "https://www.good.test/shop"}
    assert "tgt_1  www.good.test  pending" in out
    assert '_perimeter-challenge.www.good.test  "perimeter-challenge=t0k3n"' in out
    assert "https://www.good.test/.well-known/perimeter-challenge  answering exactly: t0k3n" in out

    refused = {"type": "t", "title": "The challenge was not found", "status": 422, "code": "target-verification-failed",
               "detail": "Neither the TXT record nor the file was found.",
               "checks": {"dns": {"found": False}, "http": {"status": 404}}}
    code, out, err, session = run(["targets", "verify", "tgt_1", "--json"], [response(422, refused)])
    assert code == 1 and "not verified" in err and 'http: {"status": 404}' in err
    assert json.loads(out)["code"] == "target-verification-failed"
    assert session.calls[0]["url"] == "http://api.test/v1/targets/tgt_1/verify"

    other = {"type": "t", "title": "t", "status": 422, "code": "validation-error", "detail": "bad"}
    assert run(["targets", "verify", "tgt_1"], [response(422, other)])[0] == 3


def test_cli_targets_verify_list_get_delete() -> None:
    code, out, _, _ = run(["targets", "verify", "tgt_1"], [response(200, target_json(status="verified",
                                                                                     method="dns"))])
    assert code == 0 and "verified by dns until 2027-03-07" in out and "prove control" not in out
    listing = {"items": [target_json(), target_json("tgt_2", "good.test", "verified", "http")], "next_cursor": None}
    code, out, _, session = run(["targets", "list"], [response(200, listing)])
    assert code == 0 and len(out.splitlines()) == 2 and session.calls[0]["params"] == {"limit": 100}
    code, out, _, _ = run(["targets", "get", "tgt_2", "--json"], [response(200, target_json("tgt_2"))])
    assert code == 0 and json.loads(out)["target_id"] == "tgt_2"
    code, out, _, session = run(["targets", "delete", "tgt_2"], [response(204)])
    assert code == 0 and session.calls[0]["method"] == "DELETE" and out == "deleted tgt_2\n"
    assert run(["targets", "verify"], [])[0] == 2
    missing = {"type": "t", "title": "t", "status": 404, "code": "target-not-found", "detail": "no"}
    assert run(["targets", "get", "tgt_9"], [response(404, missing)])[0] == 3


def test_list_audit_events_passes_filters_and_reads_events() -> None:
    event = {"event_id": "evt_1", "action": "registerTarget", "actor_key_id": "key_1", "actor_member_id": None,
             "target": {"target_id": "tgt_1"}, "status": 201, "request_id": "r", "source_ip": "127.0.0.1",
             "detail": None, "occurred_at": "2026-12-07T10:00:00Z"}
    sdk, session = client([response(200, {"items": [event], "next_cursor": None})])
    events = list(sdk.iter_audit_events(action="registerTarget", since="2026-12-01T00:00:00Z"))
    assert [(e.action, e.target, e.status) for e in events] == [("registerTarget", {"target_id": "tgt_1"}, 201)]
    assert session.calls[0]["params"] == {"action": "registerTarget", "since": "2026-12-01T00:00:00Z"}

