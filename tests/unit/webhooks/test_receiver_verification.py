"""Signatures checked the way partners' own code checks them: the receiver recipes of the README and OpenAPI.

Each receiver below is written from the partner's side, with no Perimeter import: the secret is the
string the API showed (`whsec_...`), the body the raw bytes received.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from chalicelib.webhooks.signing import new_secret, sign

BODY = json.dumps({"id": "evt_1", "event": "scan.completed", "score": 91}, separators=(",", ":")).encode()


def plain_receiver(secret: str, raw_body: bytes, header: str) -> bool:
    """What every integration guide writes: HMAC-SHA256 keyed with the secret as shown, compared in constant time."""
    expected = "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def rotation_aware_receiver(secret: str, raw_body: bytes, header: str) -> bool:
    """The documented recipe: split the header on commas, accept when any value matches."""
    expected = "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, value.strip()) for value in header.split(","))


def old_keying_receiver(secret: str, raw_body: bytes, header: str) -> bool:
    """Perimeter's former keying (the base64-decoded bytes after `whsec_`): no partner computes this."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = "sha256=" + hmac.new(key, raw_body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, value.strip()) for value in header.split(","))


def test_a_plain_hmac_receiver_verifies_the_perimeter_signature() -> None:
    for _ in range(50):
        secret = new_secret()
        headers = sign([secret], "msg_plain", int(time.time()), BODY)
        assert plain_receiver(secret, BODY, headers["X-Perimeter-Signature"])
        assert rotation_aware_receiver(secret, BODY, headers["X-Perimeter-Signature"])
        assert not old_keying_receiver(secret, BODY, headers["X-Perimeter-Signature"])
        assert not plain_receiver(secret, BODY + b" ", headers["X-Perimeter-Signature"])
        assert not plain_receiver(new_secret(), BODY, headers["X-Perimeter-Signature"])


def test_the_standard_webhooks_library_verifies_the_same_delivery() -> None:
    secret = new_secret()
    headers = sign([secret], "msg_std", int(time.time()), BODY)
    assert Webhook(secret).verify(BODY, headers)["id"] == "evt_1"
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)
    # Standard Webhooks keeps its own rule: keyed with the decoded bytes, so the secret text does not verify it.
    wrong = base64.b64encode(hmac.new(secret.encode(), b"msg_std.%s.%s" % (headers["webhook-timestamp"].encode(),
                                                                           BODY), hashlib.sha256).digest())
    assert f"v1,{wrong.decode()}" not in headers["webhook-signature"].split(" ")


def test_during_a_rotation_a_receiver_holding_either_secret_verifies() -> None:
    old, new = new_secret(), new_secret()
    headers = sign([new, old], "msg_rot", int(time.time()), BODY)
    value = headers["X-Perimeter-Signature"]
    assert len(value.split(",")) == 2
    assert rotation_aware_receiver(new, BODY, value)
    assert rotation_aware_receiver(old, BODY, value)
    assert not rotation_aware_receiver(new_secret(), BODY, value)
    Webhook(new).verify(BODY, headers)
    Webhook(old).verify(BODY, headers)


def test_the_openapi_recipe_verifies_a_delivery_as_written() -> None:
    from chalicelib.api.spec import openapi_document
    from chalicelib.api.table import OPERATIONS

    [tag] = [t for t in openapi_document(OPERATIONS)["tags"] if t["name"] == "webhooks"]
    recipe = "\n".join(line[4:] for line in tag["description"].splitlines() if line.startswith("    "))
    assert "secret.encode()" in recipe and 'split(",")' in recipe
    old, new = new_secret(), new_secret()
    for secrets, holder, valid in (([new], new, True), ([new, old], old, True), ([new], old, False)):
        namespace: dict[str, object] = {"hmac": hmac, "hashlib": hashlib, "secret": holder, "raw_body": BODY,
                                        "header": sign(secrets, "msg_doc", int(time.time()), BODY)[
                                            "X-Perimeter-Signature"]}
        exec(recipe, namespace)  # our own documentation, run as a partner would paste it
        assert namespace["ok"] is valid
