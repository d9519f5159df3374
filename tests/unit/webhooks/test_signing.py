"""Signatures checked by the reference verifier (PyPI `standardwebhooks`) and by plain hmac."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import string
import time
from collections.abc import Callable

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from chalicelib.webhooks.signing import (
    HEADER_ID,
    HEADER_PERIMETER_SIGNATURE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    new_secret,
    secret_key,
    sign,
)
from tests.support.webhook_receiver import SignatureError, verify, verify_perimeter_signature

PAYLOADS = 1000
VISIBLE = string.ascii_letters + string.digits + string.punctuation
B64_ALPHABET = string.ascii_letters + string.digits + "+/="


def _reference_accepts(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    """True when the reference verifier accepts; any exception it raises is a rejection."""
    try:
        Webhook(secret).verify(body, headers, json_parse=False)
    except (WebhookVerificationError, UnicodeDecodeError, ValueError):
        return False
    return True


def _ours_accepts(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    try:
        verify([secret], headers, body)
    except SignatureError:
        return False
    return True


def _random_body(rng: random.Random) -> bytes:
    words = ["".join(rng.choice(string.printable + "éü€😀\u2028") for _ in range(rng.randint(0, 40)))
             for _ in range(rng.randint(0, 12))]
    event = {"id": f"evt_{rng.getrandbits(64):x}", "event": rng.choice(["scan.completed", "webhook.test"]),
             "score": rng.randint(0, 100), "notes": words}
    return json.dumps(event, ensure_ascii=rng.random() < 0.5).encode()


def _replace_char(text: str, rng: random.Random, alphabet: str = VISIBLE) -> str:
    index = rng.randrange(len(text))
    replacement = rng.choice([c for c in alphabet if c != text[index]])
    return text[:index] + replacement + text[index + 1:]


def _flip_byte(data: bytes, rng: random.Random) -> bytes:
    index = rng.randrange(len(data))
    return data[:index] + bytes([data[index] ^ rng.randint(1, 255)]) + data[index + 1:]


def _mac_bytes(signature_header: str) -> set[bytes]:
    """The MAC bytes a lenient base64 decoder would see in a signature header."""
    macs = set()
    for item in signature_header.split(" "):
        _version, _, value = item.partition(",")
        try:
            macs.add(base64.b64decode(value))
        except ValueError:
            continue
    return macs


def test_new_secret_is_whsec_and_32_random_bytes() -> None:
    secrets = {new_secret() for _ in range(200)}
    assert len(secrets) == 200
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret[len("whsec_"):], validate=True)) == 32


def test_known_answer_vector_from_standard_webhooks() -> None:
    headers = sign(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                   b'{"test": 2432232314}')
    assert headers[HEADER_SIGNATURE] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert headers[HEADER_ID] == "msg_p5jXN8AQM9LWM0D4loKWxJek" and headers[HEADER_TIMESTAMP] == "1614265330"


def test_reference_verifier_accepts_1000_random_payloads_and_rejects_every_flip() -> None:
    rng = random.Random(20240601)
    secret = new_secret()
    key = secret_key(secret)
    mutators: dict[str, Callable[[bytes, dict[str, str]], tuple[bytes, dict[str, str]]]] = {
        "body": lambda b, h: (_flip_byte(b, rng), h),
        "id": lambda b, h: (b, {**h, HEADER_ID: _replace_char(h[HEADER_ID], rng)}),
        "timestamp": lambda b, h: (b, {**h, HEADER_TIMESTAMP: _replace_char(h[HEADER_TIMESTAMP], rng)}),
        "signature": lambda b, h: (b, {**h, HEADER_SIGNATURE: _replace_char(h[HEADER_SIGNATURE], rng,
                                                                              VISIBLE + " ")}),
    }
    lenient_reference = 0
    for _ in range(PAYLOADS):
        body = _random_body(rng)
        msg_id = "msg_" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(24))
        timestamp = int(time.time()) + rng.randint(-200, 200)
        headers = sign([secret], msg_id, timestamp, body)

        assert Webhook(secret).verify(body, headers) == json.loads(body)
        assert _ours_accepts(secret, body, headers)
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers[HEADER_PERIMETER_SIGNATURE], expected)
        assert not hmac.compare_digest(headers[HEADER_PERIMETER_SIGNATURE],
                                       "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest())

        for field, mutate in mutators.items():
            bad_body, bad_headers = mutate(body, headers)
            assert (bad_body, bad_headers) != (body, headers)
            assert not _ours_accepts(secret, bad_body, bad_headers), field
            if _reference_accepts(secret, bad_body, bad_headers):
                # Only possible for the signature: a lenient base64 decoder maps a changed padding bit
                # or a dropped non-alphabet character to the same MAC bytes. Not a forgery.
                assert field == "signature"
                assert _mac_bytes(bad_headers[HEADER_SIGNATURE]) == _mac_bytes(headers[HEADER_SIGNATURE])
                lenient_reference += 1
    assert lenient_reference < PAYLOADS // 20


def test_every_single_position_flip_is_rejected_exhaustively() -> None:
    secret = new_secret()
    body = json.dumps({"event": "scan.completed", "scan_token": "scn_x", "score": 87, "grade": "B"}).encode()
    headers = sign([secret], "msg_2bWn3", int(time.time()), body)
    for index in range(len(body)):
        for bit in (0x01, 0x20, 0x80):
            bad = body[:index] + bytes([body[index] ^ bit]) + body[index + 1:]
            assert not _reference_accepts(secret, bad, headers)
            assert not _ours_accepts(secret, bad, headers)
    for name in (HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE):
        value = headers[name]
        for index in range(len(value)):
            for replacement in "0A9z+/.,":
                if replacement == value[index]:
                    continue
                bad_headers = {**headers, name: value[:index] + replacement + value[index + 1:]}
                assert not _ours_accepts(secret, body, bad_headers), (name, index, replacement)
                if _reference_accepts(secret, body, bad_headers):
                    assert name == HEADER_SIGNATURE
                    assert _mac_bytes(bad_headers[name]) == _mac_bytes(value)


def test_reference_accepts_a_non_canonical_spelling_of_the_same_mac_but_we_do_not() -> None:
    secret = new_secret()
    body = b'{"event":"webhook.test"}'
    headers = sign([secret], "msg_1", int(time.time()), body)
    signature = headers[HEADER_SIGNATURE]  # "v1," + 43 base64 characters + "="; the 43rd holds 2 spare bits
    last = B64_ALPHABET.index(signature[-2])
    twin = signature[:-2] + B64_ALPHABET[last ^ 0b01] + "="
    twin_headers = {**headers, HEADER_SIGNATURE: twin}
    assert base64.b64decode(twin[3:]) == base64.b64decode(signature[3:])
    assert _reference_accepts(secret, body, twin_headers)
    assert not _ours_accepts(secret, body, twin_headers)


def test_rotation_both_secrets_sign_both_headers_newest_first() -> None:
    new, old, stranger = new_secret(), new_secret(), new_secret()
    body = b'{"event":"scan.completed"}'
    headers = sign([new, old], "msg_rot", int(time.time()), body)
    assert headers[HEADER_SIGNATURE].count("v1,") == 2
    Webhook(new).verify(body, headers)
    Webhook(old).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify(body, headers)
    verify([old], headers, body)
    verify([new], headers, body)
    with pytest.raises(SignatureError):
        verify([stranger], headers, body)

    simple = headers[HEADER_PERIMETER_SIGNATURE]
    assert simple.split(",") == ["sha256=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest()
                                 for s in (new, old)]
    verify_perimeter_signature([new], simple, body)
    verify_perimeter_signature([old], simple, body)
    with pytest.raises(SignatureError):
        verify_perimeter_signature([stranger], simple, body)
    with pytest.raises(SignatureError):
        verify_perimeter_signature([new], simple, body + b" ")


def test_timestamp_tolerance_is_five_minutes_either_way() -> None:
    secret = new_secret()
    body = b"{}"
    headers = sign([secret], "msg_t", 1_700_000_000, body)
    verify([secret], headers, body, now=1_700_000_300)
    verify([secret], headers, body, now=1_699_999_700)
    for now in (1_700_000_301, 1_699_999_699):
        with pytest.raises(SignatureError, match="tolerance"):
            verify([secret], headers, body, now=now)
    stale = sign([secret], "msg_t", int(time.time()) - 301, body)
    assert not _reference_accepts(secret, body, stale)


def test_header_names_are_matched_case_insensitively_and_missing_ones_rejected() -> None:
    secret = new_secret()
    headers = sign([secret], "msg_c", int(time.time()), b"{}")
    verify([secret], {k.upper(): v for k, v in headers.items()}, b"{}")
    for name in (HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE):
        with pytest.raises(SignatureError, match="missing"):
            verify([secret], {k: v for k, v in headers.items() if k != name}, b"{}")


@pytest.mark.parametrize(("secrets", "msg_id", "timestamp"), [
    ([], "msg_1", 1),
    (["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], "msg_1", 1),  # no whsec_ prefix
    (["whsec_" + base64.b64encode(b"short").decode()], "msg_1", 1),  # < 24 bytes
    (["whsec_not*base64!"], "msg_1", 1),
    (["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], "msg 1", 1),  # space in id
    (["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], "msg_1\r\nX-Evil: 1", 1),
    (["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], "", 1),
    (["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], "msg_1", -1),
    (["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], "msg_1", True),
])
def test_sign_refuses_malformed_input(secrets: list[str], msg_id: str, timestamp: int) -> None:
    with pytest.raises(ValueError):
        sign(secrets, msg_id, timestamp, b"{}")


def test_unpadded_secret_is_accepted_like_the_reference_does() -> None:
    secret = new_secret()
    unpadded = secret.rstrip("=")
    headers = sign([unpadded], "msg_u", int(time.time()), b"{}")
    Webhook(secret).verify(b"{}", headers)
