"""The embedded API's access lines go through logging (JSON, INFO) and never carry a download link's token."""

from __future__ import annotations

from types import SimpleNamespace

from chalicelib.local.apiserver import Handler
from tests.support.observability import json_logs


def _access_line(path: str, level: str = "INFO") -> list[dict[str, object]]:
    handler = SimpleNamespace(address_string=lambda: "127.0.0.1")
    with json_logs(level) as logs:
        Handler.log_message(handler, '"%s" %s %s', f"GET {path} HTTP/1.1", "200", "-")  # type: ignore[arg-type]
    return logs.lines()


def test_an_access_line_is_logged_at_info_with_the_download_token_hidden() -> None:
    [line] = _access_line("/v1/downloads/eyJrIjoidGVuYW50cy90MSJ9.c2lnbmF0dXJl")
    assert line["logger"] == "perimeter.local.api" and line["level"] == "INFO"
    assert line["message"] == '127.0.0.1 "GET /v1/downloads/[redacted] HTTP/1.1" 200 -'
    [other] = _access_line("/v1/scans?limit=5")
    assert other["message"] == '127.0.0.1 "GET /v1/scans?limit=5 HTTP/1.1" 200 -'


def test_access_lines_are_quiet_at_the_default_level() -> None:
    assert _access_line("/v1/health", level="WARNING") == []


def test_a_self_assessment_link_is_hidden_from_the_access_line() -> None:
    [line] = _access_line("/sa/sa_live_0123456789abcdef?saved=1")
    assert line["message"] == '127.0.0.1 "GET /sa/[redacted] HTTP/1.1" 200 -'
