"""FileObjectStore: keys never leave the root, private files, atomic writes, signed and expiring links."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.core.errors import LinkExpired, LinkInvalid
from chalicelib.core.objects import ObjectMissing
from chalicelib.storage.files import FileObjectStore, InvalidObjectKey

KEY = b"link-key-0123456789abcdef-0123456"
NOW = 1_800_000_000.0


def _store(tmp_path: Path, *, key: bytes = KEY, now: float = NOW) -> FileObjectStore:
    return FileObjectStore(tmp_path / "data" / "objects", "https://perimeter.example.net/", key, clock=lambda: now)


def _token(url: str) -> str:
    path = urlsplit(url).path
    assert path.startswith("/v1/downloads/")
    return path.removeprefix("/v1/downloads/")


@pytest.mark.parametrize("key", [
    "", "/etc/passwd", "../outside", "tenants/../../outside", "tenants/./x", "tenants//x", "tenants/x/",
    "tenants/\x00x", "tenants\\..\\x", ".meta/tenants/x", "tenants/.tmp-x", "x" * 1025, "a/" + "b" * 256,
])
def test_keys_that_could_leave_the_root_are_refused(tmp_path: Path, key: str) -> None:
    store = _store(tmp_path)
    with pytest.raises(InvalidObjectKey):
        store.put(key, b"x", "text/plain")
    with pytest.raises(InvalidObjectKey):
        store.get(key)
    with pytest.raises(InvalidObjectKey):
        store.presign(key, 60)
    assert not (tmp_path / "outside").exists() and not (tmp_path / "data" / "outside").exists()


def test_a_symlink_inside_the_root_cannot_lead_outside(tmp_path: Path) -> None:
    store = _store(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "secret").write_bytes(b"secret")
    os.symlink(tmp_path / "elsewhere", tmp_path / "data" / "objects" / "tenants")
    with pytest.raises(InvalidObjectKey):
        store.get("tenants/secret")


def test_files_are_0600_and_directories_0700(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.put("tenants/acme/scans/s1/report.pdf", b"%PDF", "application/pdf")
    root = tmp_path / "data"
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_a_missing_object_and_a_directory_key_raise_object_missing(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.put("tenants/acme/x.json", b"{}", "application/json")
    with pytest.raises(ObjectMissing):
        store.get("tenants/acme")
    with pytest.raises(ObjectMissing):
        store.read("tenants/acme/y.json")


def test_a_link_points_at_the_api_and_verifies_to_its_key_and_filename(tmp_path: Path) -> None:
    store = _store(tmp_path)
    url = store.presign("tenants/acme/scans/s1/report.pdf", 600, "perimeter-example.com-s1.pdf")
    assert url.startswith("https://perimeter.example.net/v1/downloads/")
    assert store.verify_link(_token(url), NOW + 599) == ("tenants/acme/scans/s1/report.pdf",
                                                         "perimeter-example.com-s1.pdf")
    logo = store.presign("branding/acme/logo-1.png", 60)
    assert store.verify_link(_token(logo), NOW) == ("branding/acme/logo-1.png", None)


def test_an_expired_link_is_refused(tmp_path: Path) -> None:
    token = _token(_store(tmp_path).presign("tenants/acme/r.pdf", 600, "r.pdf"))
    with pytest.raises(LinkExpired):
        _store(tmp_path).verify_link(token, NOW + 600)


def _forge(claims: dict[str, object], signature: str) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{payload}.{signature}"


def test_forged_altered_and_malformed_links_are_refused(tmp_path: Path) -> None:
    store = _store(tmp_path)
    good = _token(store.presign("tenants/acme/r.pdf", 600, "r.pdf"))
    payload, signature = good.split(".")
    other_tenant = _forge({"k": "tenants/rival/r.pdf", "e": int(NOW) + 600, "f": "r.pdf"}, signature)
    longer = _forge({"k": "tenants/acme/r.pdf", "e": int(NOW) + 10**9, "f": "r.pdf"}, signature)
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    other_key = _token(_store(tmp_path, key=b"another-key-0123456789abcdef-0000").presign("tenants/acme/r.pdf", 600))
    for bad in (other_tenant, longer, f"{payload}.{flipped}", other_key, payload, f"{payload}.", f".{signature}",
                f"{payload}.{signature}.x", f"{payload}={signature}", good + "==", "", "x" * 5000, "%2e%2e.abc",
                f"{payload}.{signature[:-4]}"):
        with pytest.raises(LinkInvalid) as caught:
            store.verify_link(bad, NOW)
        assert not isinstance(caught.value, LinkExpired), bad
        assert caught.value.status == 403 and caught.value.code == "link-invalid"


def test_a_signed_link_to_a_path_outside_the_root_is_still_refused(tmp_path: Path) -> None:
    store = _store(tmp_path)
    import hashlib
    import hmac

    claims = base64.urlsafe_b64encode(json.dumps({"k": "../x", "e": int(NOW) + 60, "f": None}).encode())
    payload = claims.rstrip(b"=").decode()
    digest = hmac.new(KEY, b"perimeter/download-link/v1." + payload.encode(), hashlib.sha256).digest()
    token = payload + "." + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    with pytest.raises(LinkInvalid):
        store.verify_link(token, NOW)


def test_a_short_link_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        FileObjectStore(tmp_path, "http://127.0.0.1:8000", b"short")


@settings(max_examples=300, deadline=None)
@given(token=st.one_of(
    st.text(max_size=300),
    st.builds(lambda a, b: f"{a}.{b}", st.text(alphabet="ABCabc012-_", max_size=80),
              st.text(alphabet="ABCabc012-_", max_size=60)),
    st.builds(lambda claims: base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode() + ".AAAA",
              st.recursive(st.none() | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                       max_size=3))),
))
def test_any_token_but_a_genuine_one_is_link_invalid_and_nothing_else(
    tmp_path_factory: pytest.TempPathFactory, token: str,
) -> None:
    store = FileObjectStore(tmp_path_factory.getbasetemp() / "fuzz-objects", "http://127.0.0.1:8000", KEY,
                            clock=lambda: NOW)
    with pytest.raises(LinkInvalid):
        store.verify_link(token, NOW)
