"""The self-assessment on the embedded stack: a posture scan of the lab's good.test hands out its link; the
insured's side follows it over plain HTTP as a browser's form would (CSRF token from the page, form-encoded
posts, Post/Redirect/Get), and the partner reads the combined score and receives the webhook.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib.local.stack import free_port
from tests.support.stack import RunningStack
from tests.support.webhook_receiver import verify

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EVENT = "scan.self_assessment_completed"
SCORING_DOC = Path(__file__).resolve().parents[2] / "docs" / "scoring.md"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# 20 of the 39 points the 13 questions can give (chalicelib/selfassessment/questionnaires/2026-12.json).
ANSWERS = {"application_control": "ml1", "patch_applications": "ml2", "unsupported_applications": "mostly",
           "office_macros": "ml1", "user_application_hardening": "ml1", "admin_privileges": "ml2",
           "patch_operating_systems": "ml2", "mfa_coverage": "ml3", "backups": "ml2",
           "incident_response_plan": "informal", "backup_restore_test": "untested", "edr_coverage": "some",
           "email_filtering": "basic"}
POINTS, BEST = 20, 39


class Receiver:
    """A loopback webhook endpoint keeping each delivery's headers and raw body."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks/perimeter"
        self.got: list[tuple[dict[str, str], bytes]] = []
        got = self.got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                got.append((dict(self.headers.items()), self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def deliveries(self, token: str) -> list[tuple[dict[str, str], dict[str, Any], bytes]]:
        """Deliveries that name the scan `token` anywhere in their body."""
        return [(h, json.loads(raw), raw) for h, raw in list(self.got) if token.encode() in raw]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook(stack: RunningStack) -> Iterator[tuple[Receiver, str]]:
    """A receiver registered for the self-assessment event (and its signing secret); removed afterwards."""
    receiver = Receiver()
    made = requests.post(f"{stack.base_url}/v1/webhooks", headers=auth(stack), timeout=10,
                         json={"url": receiver.url, "events": [EVENT]})
    assert made.status_code == 201, made.text
    try:
        yield receiver, made.json()["secret"]
    finally:
        requests.delete(f"{stack.base_url}/v1/webhooks/{made.json()['webhook_id']}", headers=auth(stack), timeout=10)
        receiver.stop()


def auth(stack: RunningStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.api_key}", "Content-Type": "application/json"}


def doc_weights() -> tuple[int, int, list[tuple[int, str]]]:
    """(external weight, self-assessment weight, [(min score, grade)]) as docs/scoring.md states them."""
    text = SCORING_DOC.read_text()
    external = re.search(r"^\| external score \(`score`\) \| (\d+) of 100 \|$", text, re.M)
    sa = re.search(r"^\| self-assessment score \(`sa_score`\) \| (\d+) of 100 \|$", text, re.M)
    bands = [(int(m[2]), m[1]) for m in re.finditer(r"^\| ([A-F]) \| (\d+) and above \|", text, re.M)]
    assert external and sa and len(bands) == 5, "docs/scoring.md no longer states the combined weights or bands"
    return int(external[1]), int(sa[1]), sorted(bands, reverse=True)


def half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up (non-negative integers)."""
    return (2 * numerator + denominator) // (2 * denominator)


def grade_of(score: int, bands: list[tuple[int, str]]) -> str:
    return next(grade for least, grade in bands if score >= least)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no CSRF field"
    return unescape(found[1])


def post_form(url: str, fields: dict[str, str]) -> requests.Response:
    return requests.post(url, data=fields, headers=FORM, timeout=10, allow_redirects=False)


def wait_scan(stack: RunningStack, token: str, timeout: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        scan = requests.get(f"{stack.base_url}/v1/scans/{token}", headers=auth(stack), timeout=10).json()
        if scan["status"] in ("complete", "failed", "cancelled"):
            return dict(scan)
        time.sleep(0.2)
    raise AssertionError(f"scan {token} not done in {timeout} s\n" + "\n".join(stack.output[-30:]))


def test_the_insured_answers_over_http_and_the_partner_gets_the_combined_score(
        stack: RunningStack, hook: tuple[Receiver, str]) -> None:
    receiver, secret = hook
    created = requests.post(f"{stack.base_url}/v1/scans", headers=auth(stack), json={"domain": "good.test"},
                            timeout=30)
    assert created.status_code == 202, created.text
    token, link = created.json()["scan_token"], created.json()["self_assessment_url"]
    assert link and link.startswith(f"{stack.base_url}/sa/sa_"), link
    assert token not in link  # the link carries its own token, not the scan's

    page = requests.get(link, timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "good.test" in page.text and "<script" not in page.text
    csrf = csrf_of(page.text)

    # A save while the scan runs: 303 back to the page, which shows the answers kept.
    first = {"application_control": "ml3", "backups": "ml1"}
    saved = post_form(link, {"csrf": csrf, "action": "save", **{f"q-{k}": v for k, v in first.items()}})
    assert saved.status_code == 303 and saved.headers["Location"].endswith("?saved=1"), saved.text
    shown = requests.get(requests.compat.urljoin(link, saved.headers["Location"]), timeout=10).text
    assert re.search(r'id="q-backups-ml1"[^>]*checked', shown) and "saved" in shown.lower()
    assert post_form(link, {"csrf": "forged", "action": "save", "q-backups": "ml3"}).status_code == 403
    assert post_form(link, {"csrf": csrf, "action": "submit", "q-backups": "ml9"}).status_code == 422

    scan = wait_scan(stack, token)
    assert scan["status"] == "complete" and scan["score"] is not None, scan.get("error")
    assert scan["sa_complete"] is False and scan["sa_score"] is None and scan["combined_score"] is None
    external_grade = scan["grade"]

    submitted = post_form(link, {"csrf": csrf, "action": "submit", **{f"q-{k}": v for k, v in ANSWERS.items()}})
    assert submitted.status_code == 303 and submitted.headers["Location"] == f"./{link.rsplit('/', 1)[1]}"

    scan = requests.get(f"{stack.base_url}/v1/scans/{token}", headers=auth(stack), timeout=10).json()
    external_weight, sa_weight, bands = doc_weights()
    assert scan["sa_complete"] is True and scan["sa_score"] == half_up(100 * POINTS, BEST) == 51
    combined = half_up(external_weight * scan["score"] + sa_weight * scan["sa_score"], 100)
    assert scan["combined_score"] == combined, (scan["score"], scan["sa_score"], scan["combined_score"])
    assert scan["caps"] == [] and scan["combined_grade"] == grade_of(combined, bands)
    assert scan["grade"] == scan["combined_grade"] != external_grade  # the effective grade follows the combined
    assert scan["self_assessment"]["answers"] == ANSWERS
    assert scan["self_assessment"]["questionnaire_version"] == "2026-12"

    # Locked: the page is read-only and a second submit is refused, leaving the result as it was.
    locked = requests.get(link, timeout=10)
    assert locked.status_code == 200 and 'name="csrf"' not in locked.text
    again = post_form(link, {"csrf": csrf, "action": "submit", **{f"q-{k}": "ml3" for k in ANSWERS}})
    assert again.status_code == 409 and "already submitted" in again.text
    after = requests.get(f"{stack.base_url}/v1/scans/{token}", headers=auth(stack), timeout=10).json()
    assert (after["sa_score"], after["combined_score"]) == (scan["sa_score"], scan["combined_score"])

    deadline = time.monotonic() + 30
    while not receiver.deliveries(token):
        assert time.monotonic() < deadline, f"no {EVENT} delivery\n" + "\n".join(stack.output[-30:])
        time.sleep(0.1)
    time.sleep(0.5)  # not a timing assert: lets a duplicate delivery arrive before counting
    delivered = receiver.deliveries(token)
    assert len(delivered) == 1, delivered
    headers, payload, raw = delivered[0]
    verify([secret], headers, raw)
    assert (payload["event"], payload["scan_token"], payload["sa_complete"]) == (EVENT, token, True)
    assert {k: payload[k] for k in ("score", "sa_score", "combined_score", "combined_grade", "grade")} == {
        k: scan[k] for k in ("score", "sa_score", "combined_score", "combined_grade", "grade")}

    # The reports were rendered again with the answers.
    report = requests.get(f"{stack.base_url}/v1/scans/{token}/report?format=json", headers=auth(stack), timeout=10)
    assert report.status_code == 200 and '"sa_score": 51' in json.dumps(report.json()), report.text[:500]


def test_a_submission_while_the_scan_runs_is_combined_by_the_pipeline(
        stack: RunningStack, hook: tuple[Receiver, str]) -> None:
    receiver, secret = hook
    created = requests.post(f"{stack.base_url}/v1/scans", headers=auth(stack), json={"domain": "good.test"},
                            timeout=30)
    assert created.status_code == 202, created.text
    token, link = created.json()["scan_token"], created.json()["self_assessment_url"]
    csrf = csrf_of(requests.get(link, timeout=10).text)
    submitted = post_form(link, {"csrf": csrf, "action": "submit", **{f"q-{k}": v for k, v in ANSWERS.items()}})
    assert submitted.status_code == 303, submitted.text
    running = requests.get(f"{stack.base_url}/v1/scans/{token}", headers=auth(stack), timeout=10).json()
    # A posture scan of the lab takes seconds; a submit within a few hundred ms lands before Score.
    assert running["status"] in ("pending", "scanning", "scoring"), running["status"]
    assert running["sa_complete"] is True and running["combined_score"] is None

    scan = wait_scan(stack, token)
    assert scan["status"] == "complete", scan.get("error")
    external_weight, sa_weight, bands = doc_weights()
    assert scan["sa_score"] == 51
    assert scan["combined_score"] == half_up(external_weight * scan["score"] + sa_weight * 51, 100)
    assert scan["grade"] == scan["combined_grade"] == grade_of(scan["combined_score"], bands)
    deadline = time.monotonic() + 30
    while not receiver.deliveries(token):
        assert time.monotonic() < deadline, f"no {EVENT} delivery\n" + "\n".join(stack.output[-30:])
        time.sleep(0.1)
    time.sleep(0.5)  # not a timing assert: lets a duplicate delivery arrive before counting
    delivered = receiver.deliveries(token)
    assert len(delivered) == 1, delivered
    verify([secret], delivered[0][0], delivered[0][2])
    assert delivered[0][1]["combined_score"] == scan["combined_score"]
