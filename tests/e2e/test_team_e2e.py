"""The team on the real embedded stack: invite, read the invitation from the local outbox, accept, use the
new key, change its role, remove the member, and the key is refused."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.support.stack import BOOTSTRAP_KEY, RunningStack, start_stack

pytestmark = pytest.mark.e2e
TOKEN = re.compile(r"pmi_[A-Za-z0-9_-]{43}")


@pytest.fixture(scope="module")
def team_stack() -> Iterator[RunningStack]:
    """A stack of its own (no lab: nothing here scans)."""
    running = start_stack({"PERIMETER_RATE_LIMIT": "100000"}, timeout=60)
    yield running
    assert running.stop() == 0, "\n".join(running.output[-40:])


def _call(stack: RunningStack, method: str, path: str, body: Any = None, key: str | None = BOOTSTRAP_KEY,
          ) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return requests.request(method, f"{stack.base_url}{path}", headers=headers,
                            data=json.dumps(body) if body is not None else None, timeout=15)


def test_invite_accept_use_change_remove(team_stack: RunningStack) -> None:
    invited = _call(team_stack, "POST", "/v1/team/members", {"email": "ann@example.com", "role": "viewer"})
    assert invited.status_code == 201, invited.text
    member_id = invited.json()["member_id"]

    outbox = team_stack.data_dir / "outbox"
    [message_file] = list(outbox.glob("*.json"))
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o700 and stat.S_IMODE(message_file.stat().st_mode) == 0o600
    message = json.loads(message_file.read_text())
    assert message["to"] == "ann@example.com" and message["from"] == "no-reply@perimeter.invalid"
    assert f"{team_stack.base_url}/v1/team/invitations/accept" in message["text"]
    found = TOKEN.search(message["text"])
    assert found is not None and found.group(0) not in invited.text

    accepted = _call(team_stack, "POST", "/v1/team/invitations/accept", {"token": found.group(0), "name": "Ann"},
                     key=None)
    assert accepted.status_code == 200, accepted.text
    key = accepted.json()["api_key"]
    again = _call(team_stack, "POST", "/v1/team/invitations/accept", {"token": found.group(0)}, key=None)
    assert again.status_code == 404 and again.json()["code"] == "invitation-not-found"

    org = _call(team_stack, "GET", "/v1/organization", key=key)
    assert org.status_code == 200 and org.json()["organization_id"] == "local"
    members = _call(team_stack, "GET", "/v1/team/members", key=key).json()["items"]
    assert [(m["member_id"], m["role"], m["status"]) for m in members] == [(member_id, "viewer", "active")]

    changed = _call(team_stack, "PATCH", f"/v1/team/members/{member_id}", {"role": "admin"})
    assert changed.status_code == 200 and changed.json()["role"] == "admin"
    seen = _call(team_stack, "GET", f"/v1/team/members/{member_id}", key=key)
    assert seen.status_code == 200 and seen.json()["role"] == "admin"

    assert _call(team_stack, "DELETE", f"/v1/team/members/{member_id}").status_code == 204
    refused = _call(team_stack, "GET", "/v1/organization", key=key)
    assert refused.status_code == 401 and refused.headers["Content-Type"] == "application/problem+json"
    assert _call(team_stack, "GET", "/v1/team/members").json()["items"] == []


def test_organization_settings_persist_and_bad_ones_are_refused(team_stack: RunningStack) -> None:
    patched = _call(team_stack, "PATCH", "/v1/organization",
                    {"name": "Local Partner", "industry": "insurance", "default_ready_threshold": 72})
    assert patched.status_code == 200, patched.text
    refused = _call(team_stack, "PATCH", "/v1/organization", {"name": "X", "billing_plan": "gold"})
    assert refused.status_code == 422 and refused.headers["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in refused.json()["errors"]] == ["billing_plan"]
    org = _call(team_stack, "GET", "/v1/organization").json()
    assert (org["name"], org["industry"], org["default_ready_threshold"]) == ("Local Partner", "insurance", 72)
