"""The invitation message and the local outbox."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chalicelib.core.errors import MailUnavailable
from chalicelib.core.mail import OutgoingMail
from chalicelib.organizations.mail import LocalOutbox, invitation_mail

TOKEN = "pmi_" + "x" * 43


def _mail(organization: str = "Acme Insurance") -> OutgoingMail:
    return invitation_mail(to="ann@example.com", organization=organization, role="admin", token=TOKEN,
                           accept_url="https://api.example/v1/team/invitations/accept",
                           expires_at=datetime(2026, 12, 14, 9, 0, tzinfo=UTC))


def test_the_invitation_says_who_what_how_and_until_when() -> None:
    mail = _mail()
    for part in (mail.text, mail.html):
        assert TOKEN in part and "Acme Insurance" in part and "admin" in part
        assert "https://api.example/v1/team/invitations/accept" in part and "2026-12-14 09:00 UTC" in part
    assert mail.subject == "Invitation to join Acme Insurance on Perimeter"


def test_an_organization_name_cannot_break_the_subject_or_the_html() -> None:
    mail = _mail("Evil\r\nBcc: all@example.com <script>x</script>")
    assert "\n" not in mail.subject and "\r" not in mail.subject
    assert "<script>" not in mail.html and "&lt;script&gt;" in mail.html


def test_a_header_with_a_line_break_is_refused() -> None:
    with pytest.raises(ValueError, match="control character"):
        OutgoingMail(to="a@example.com\nBcc: b@example.com", subject="s", text="t", html="h")


def test_the_outbox_keeps_each_message_in_a_private_file(tmp_path: Path) -> None:
    outbox = LocalOutbox(tmp_path / "outbox", "no-reply@perimeter.invalid")
    first, second = _mail(), _mail("Rival Cover")
    outbox.send(first)
    outbox.send(second)
    files = sorted((tmp_path / "outbox").glob("*.json"))
    assert len(files) == 2 and outbox.messages() == [first, second]
    assert stat.S_IMODE((tmp_path / "outbox").stat().st_mode) == 0o700
    assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}
    assert json.loads(files[0].read_text())["from"] == "no-reply@perimeter.invalid"


def test_an_unwritable_outbox_is_mail_unavailable(tmp_path: Path) -> None:
    (tmp_path / "outbox").write_text("a file where the directory should be")
    with pytest.raises(MailUnavailable):
        LocalOutbox(tmp_path / "outbox", "no-reply@perimeter.invalid").send(_mail())
