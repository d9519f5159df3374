"""Webhook verification: vectors computed here with hmac, Perimeter's signer and the SDK's verifier agree."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time

import pytest
import standardwebhooks
from perimeter_client import WebhookVerificationError, verify_perimeter, verify_standard, verify_webhook
from perimeter_client.cli import main
from perimeter_client.webhooks import perimeter_signature, standard_signature

from chalicelib.webhooks import signing

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OLD = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()
BODY = json.dumps({"id": "evt_1", "event": "scan.completed", "scan_token": "scn_1", "grade": "B"}).encode()
MSG, TS = "evt_1", 1_800_000_000


def vector_standard(secret: str, msg_id: str, ts: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return "v1," + base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()


def vector_perimeter(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_sdk_signatures_equal_the_vectors_and_perimeters_signer() -> None:
    signed = signing.sign([SECRET], MSG, TS, BODY)
    assert standard_signature(SECRET, MSG, TS, BODY) == vector_standard(SECRET, MSG, TS, BODY)
    assert signed["webhook-signature"] == vector_standard(SECRET, MSG, TS, BODY)
    assert perimeter_signature(SECRET, BODY) == vector_perimeter(SECRET, BODY) == signed["X-Perimeter-Signature"]


def test_a_delivery_signed_by_perimeter_verifies_and_decodes() -> None:
    headers = signing.sign([SECRET], MSG, TS, BODY)
    assert verify_webhook(SECRET, headers, BODY, now=TS + 10)["event"] == "scan.completed"
    assert verify_webhook([OLD, SECRET], headers, BODY, now=TS - 10)["scan_token"] == "scn_1"


def test_the_reference_library_accepts_what_the_sdk_accepts() -> None:
    now = int(time.time())
    headers = signing.sign([SECRET], MSG, now, BODY)
    standardwebhooks.Webhook(SECRET).verify(BODY, headers)  # raises when it disagrees
    verify_standard(SECRET, headers, BODY)


@pytest.mark.parametrize("tamper", ["body", "secret", "timestamp", "signature", "id"])
def test_anything_changed_fails(tamper: str) -> None:
    headers = signing.sign([SECRET], MSG, TS, BODY)
    body, secret, now = BODY, SECRET, TS
    if tamper == "body":
        body = BODY.replace(b'"B"', b'"A"')
    elif tamper == "secret":
        secret = OLD
    elif tamper == "timestamp":
        now = TS + 301  # beyond the 5-minute tolerance
    elif tamper == "signature":
        headers["webhook-signature"] = vector_standard(OLD, MSG, TS, BODY)
    else:
        headers["webhook-id"] = "evt_2"
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, headers, body, now=now)


def test_during_a_rotation_either_secret_verifies_both_headers() -> None:
    headers = signing.sign([SECRET, OLD], MSG, TS, BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (SECRET, OLD):
        verify_standard(secret, headers, BODY, now=TS)
        verify_perimeter(secret, headers["X-Perimeter-Signature"], BODY)
    with pytest.raises(WebhookVerificationError):
        verify_perimeter("whsec_" + base64.b64encode(b"x" * 32).decode(), headers["X-Perimeter-Signature"], BODY)


def test_the_legacy_header_alone_is_accepted_but_never_overrides_a_bad_standard_one() -> None:
    legacy = {"X-Perimeter-Signature": vector_perimeter(SECRET, BODY)}
    assert verify_webhook([SECRET], legacy, BODY)["id"] == "evt_1"
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, {"X-Perimeter-Signature": vector_perimeter(SECRET, BODY + b" ")}, BODY)
    bad_standard = {**signing.sign([OLD], MSG, TS, BODY), **legacy}
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, bad_standard, BODY, now=TS)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, {}, BODY)


def test_cli_verify_webhook_exits_0_when_valid_and_1_when_not() -> None:
    now = int(time.time())
    headers = signing.sign([SECRET], MSG, now, BODY)
    flags = [x for k, v in headers.items() for x in ("-H", f"{k}: {v}")]
    out, err = io.StringIO(), io.StringIO()
    assert main(["verify-webhook", "--secret", SECRET, *flags, "--json"], env={}, stdin=io.BytesIO(BODY),
                stdout=out, stderr=err) == 0
    assert json.loads(out.getvalue())["scan_token"] == "scn_1"
    assert main(["verify-webhook", *flags], env={"PERIMETER_WEBHOOK_SECRET": OLD}, stdin=io.BytesIO(BODY),
                stdout=io.StringIO(), stderr=err) == 1
    assert "not verified" in err.getvalue()
    assert main(["verify-webhook", *flags], env={}, stdin=io.BytesIO(BODY), stdout=out, stderr=err) == 2
