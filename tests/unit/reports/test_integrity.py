"""Report signatures: HMAC-SHA256 over the exact bytes, under keys of at least 16 bytes."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from chalicelib.reports.integrity import sha256_hex, sign_report

KEY = b"k" * 32
BODY = b"%PDF-1.7\n" + bytes(range(256)) * 8


def test_signature_is_hex_hmac_sha256() -> None:
    signature = sign_report(BODY, KEY)
    assert signature == hmac.new(KEY, BODY, hashlib.sha256).hexdigest()
    assert len(signature) == 64


@pytest.mark.parametrize("index", [0, 9, len(BODY) // 2, len(BODY) - 1])
def test_every_byte_is_signed(index: int) -> None:
    tampered = bytearray(BODY)
    tampered[index] ^= 0x01
    assert sign_report(bytes(tampered), KEY) != sign_report(BODY, KEY)


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        sign_report(BODY, b"short")


def test_sha256_hex() -> None:
    assert sha256_hex(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
