"""The self-assessment page's routes through Chalice's test client, on the in-memory port fake."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from chalice.test import Client

from app import app
from chalicelib.api import sa_routes
from chalicelib.api.sa_routes import csrf_secret, csrf_token
from chalicelib.bootstrap import Services
from chalicelib.selfassessment.models import SaStatus
from tests.support.sa_fake import FakeSelfAssessment, session

TOKEN = "sa_live_0123456789abcdefABCDEF"
OTHER = "sa_live_other_98765432109876"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def port(services: Services, monkeypatch: pytest.MonkeyPatch) -> FakeSelfAssessment:
    fake = FakeSelfAssessment()
    fake.add(TOKEN, session("shop.example", partner="Acme Insurance"))
    fake.add(OTHER, session("other.example", partner="Other Insurer"))
    fake.add("sa_expired_000000000000", session("gone.example", expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    monkeypatch.setattr(services, "self_assessment", fake, raising=False)
    return fake


@pytest.fixture
def client(port: FakeSelfAssessment) -> Iterator[Client]:
    with Client(app) as test_client:
        yield test_client


def csrf(services: Services, token: str = TOKEN) -> str:
    return csrf_token(csrf_secret(services.settings), token)


def post(client: Client, fields: dict[str, str], *, token: str = TOKEN, headers: dict[str, str] | None = None,
         raw: bytes | None = None) -> Any:
    body = raw if raw is not None else urlencode(fields).encode()
    return client.http.post(f"/sa/{token}", headers={**FORM, **(headers or {})}, body=body)


def text(response: Any) -> str:
    return response.body.decode() if isinstance(response.body, bytes) else str(response.body)


def assert_page_headers(response: Any) -> None:
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert csp.startswith("default-src 'none';") and "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
    assert "script-src" not in csp and "unsafe" not in csp
    assert headers["X-Frame-Options"] == "DENY" and headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store" and headers["X-Content-Type-Options"] == "nosniff"


def test_the_page_is_html_with_strict_security_headers(client: Client, services: Services) -> None:
    response = client.http.get(f"/sa/{TOKEN}")
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert_page_headers(response)
    assert re.search(r"style-src 'sha256-[A-Za-z0-9+/]+=*'", response.headers["Content-Security-Policy"])
    page = text(response)
    assert "shop.example" in page and "Acme Insurance" in page and "<script" not in page
    assert f'name="csrf" value="{csrf(services)}"' in page


@pytest.mark.parametrize("token", ["sa_unknown_00000000000000", "sa_expired_000000000000", "..", "a%20b", "x" * 201])
def test_a_link_that_is_not_live_answers_the_same_plain_404(client: Client, token: str) -> None:
    response = client.http.get(f"/sa/{token}")
    assert response.status_code == 404 and response.headers["Content-Type"].startswith("text/html")
    assert_page_headers(response)
    assert "This link is not valid" in text(response) and "gone.example" not in text(response)
    assert text(response) == text(client.http.get("/sa/sa_unknown_00000000000000"))


def test_save_redirects_back_to_the_page_which_keeps_the_answers(client: Client, services: Services,
                                                                 port: FakeSelfAssessment) -> None:
    response = post(client, {"csrf": csrf(services), "action": "save", "q-mfa": "partly", "q-backups": "yes"})
    assert response.status_code == 303 and response.headers["Location"] == f"./{TOKEN}?saved=1"
    assert_page_headers(response)
    assert port.saves == [(TOKEN, {"mfa": "partly", "backups": "yes"}, False)]
    page = text(client.http.get(f"/sa/{TOKEN}?saved=1"))
    assert "Your answers were saved." in page
    assert re.search(r'id="q-mfa-partly"[^>]*checked', page) and re.search(r'id="q-backups-yes"[^>]*checked', page)


@pytest.mark.parametrize("token_field", [None, "", "forged", "other"])
def test_a_form_without_the_right_csrf_token_is_refused(client: Client, services: Services,
                                                        port: FakeSelfAssessment, token_field: str | None) -> None:
    fields = {"action": "save", "q-mfa": "yes"}
    if token_field is not None:
        fields["csrf"] = csrf(services, OTHER) if token_field == "other" else token_field
    response = post(client, fields)
    assert response.status_code == 403 and "another site or has expired" in text(response)
    assert_page_headers(response)
    assert port.saves == []


@pytest.mark.parametrize(("headers", "status"), [
    ({"Origin": "https://evil.example"}, 403),
    ({"Origin": "http://localhost.evil.example"}, 403),
    ({"Sec-Fetch-Site": "cross-site"}, 403),
    ({"Sec-Fetch-Site": "same-site"}, 403),
    ({"Origin": "null"}, 303),  # our own form: Referrer-Policy no-referrer makes browsers send `null`
    ({"Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "same-origin"}, 303),  # PERIMETER_PUBLIC_BASE_URL
    ({"Origin": "https://sa.partner.example", "Host": "sa.partner.example"}, 303),  # the Host it was served on
])
def test_the_origin_of_a_form_post_is_checked(client: Client, services: Services, port: FakeSelfAssessment,
                                              headers: dict[str, str], status: int) -> None:
    response = post(client, {"csrf": csrf(services), "action": "save", "q-mfa": "yes"}, headers=headers)
    assert response.status_code == status
    assert len(port.saves) == (1 if status == 303 else 0)


def test_submitting_with_a_required_answer_missing_shows_the_form_with_errors(
        client: Client, services: Services, port: FakeSelfAssessment) -> None:
    response = post(client, {"csrf": csrf(services), "action": "submit", "q-mfa": "yes", "q-patching": "no"})
    assert response.status_code == 422 and response.headers["Content-Type"].startswith("text/html")
    assert_page_headers(response)
    page = text(response)
    assert 'role="alert"' in page and 'href="#q-backups-no"' in page and 'id="q-backups-error"' in page
    assert re.search(r'id="q-mfa-yes"[^>]*checked', page), "what was posted stays chosen"
    assert port.saves == [] and port.sessions[TOKEN].answers == {}


def test_a_crafted_answer_is_refused_and_shown_escaped(client: Client, services: Services,
                                                       port: FakeSelfAssessment) -> None:
    crafted = "<script>alert(document.domain)</script>"
    response = post(client, {"csrf": csrf(services), "action": "save", "q-mfa": crafted})
    assert response.status_code == 422 and "<script>" not in text(response)
    assert "&lt;script&gt;" in text(response) and port.saves == []


def test_a_submitted_assessment_is_read_only_and_locked(client: Client, services: Services,
                                                        port: FakeSelfAssessment) -> None:
    answers = {"q-mfa": "yes", "q-patching": "partly", "q-backups": "no"}
    response = post(client, {"csrf": csrf(services), "action": "submit", **answers})
    assert response.status_code == 303 and response.headers["Location"] == f"./{TOKEN}"
    assert port.sessions[TOKEN].status is SaStatus.SUBMITTED
    page = text(client.http.get(f"/sa/{TOKEN}"))
    assert "Thank you" in page and "<form" not in page and "Partly, on some systems" in page
    again = post(client, {"csrf": csrf(services), "action": "save", "q-mfa": "no"})
    assert again.status_code == 409 and "your changes were not saved" in text(again) and "<form" not in text(again)
    assert port.sessions[TOKEN].answers["mfa"] == "yes"


@pytest.mark.parametrize("raw", [b"\xff\xfe=1", b"csrf=a&csrf=b&action=save", b"action=publish"])
def test_a_form_that_cannot_be_read_is_a_400_page(client: Client, services: Services, port: FakeSelfAssessment,
                                                   raw: bytes) -> None:
    body = raw.replace(b"action=publish", f"csrf={csrf(services)}&action=publish".encode())
    response = post(client, {}, raw=body)
    assert response.status_code == 400 and response.headers["Content-Type"].startswith("text/html")
    assert port.saves == []


def test_the_body_is_bounded(client: Client, services: Services, port: FakeSelfAssessment) -> None:
    fields = {"csrf": csrf(services), "action": "save", "q-mfa": "yes", "padding": "x" * sa_routes.MAX_FORM_BYTES}
    response = post(client, fields)
    assert response.status_code == 413 and port.saves == []


def test_only_form_posts_are_accepted(client: Client, services: Services, port: FakeSelfAssessment) -> None:
    response = client.http.post(f"/sa/{TOKEN}", headers={"Content-Type": "application/json"},
                                body=json.dumps({"csrf": csrf(services), "action": "save"}).encode())
    assert response.status_code == 415
    assert_page_headers(response)  # chalice's own refusal under /sa/ carries the page's headers too
    assert port.saves == []


def test_requests_are_limited_per_sa_token(client: Client) -> None:
    statuses = [client.http.get(f"/sa/{TOKEN}").status_code for _ in range(sa_routes.TOKEN_LIMIT_PER_MINUTE + 1)]
    assert statuses[:-1] == [200] * sa_routes.TOKEN_LIMIT_PER_MINUTE and statuses[-1] == 429
    refused = client.http.get(f"/sa/{TOKEN}")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "Too many requests" in text(refused) and refused.headers["Content-Type"].startswith("text/html")
    assert_page_headers(refused)
    assert client.http.get(f"/sa/{OTHER}").status_code == 200, "another insured's link is not held back"


def test_requests_are_limited_per_client_address(client: Client) -> None:
    limit = sa_routes.ADDRESS_LIMIT_PER_MINUTE
    statuses = [client.http.get(f"/sa/sa_guess_{n:020d}").status_code for n in range(limit)]
    assert set(statuses) == {404}, "guessed tokens are each under their own limit"
    assert client.http.get(f"/sa/{TOKEN}").status_code == 429, "but the address is over its limit"


def test_the_page_routes_are_outside_the_v1_document(client: Client) -> None:
    doc = json.loads(client.http.get("/v1/openapi.json").body)
    assert not [p for p in doc["paths"] if p.startswith("/sa/")]
    assert {"GET", "POST"} <= set(app.routes["/sa/{sa_token}"])
