"""One contract for every Mailer: the memory mailer, the local outbox and SES under moto pass the same test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from chalicelib.aws.ses import SesMailer
from chalicelib.core.errors import MailUnavailable
from chalicelib.core.mail import Mailer, OutgoingMail
from chalicelib.organizations.mail import LocalOutbox, MemoryMailer

SENDER = "no-reply@perimeter.example"


@dataclass
class Delivered:
    """What a mail service ended up holding for one message (moto keeps one body: the HTML when there is one)."""

    to: list[str]
    subject: str
    bodies: list[str]


@dataclass
class Subject:
    mailer: Mailer
    delivered: Callable[[], list[Delivered]]


def _memory(_: Path) -> Iterator[Subject]:
    mailer = MemoryMailer()
    yield Subject(mailer, lambda: [Delivered([m.to], m.subject, [m.text, m.html]) for m in mailer.sent])


def _outbox(tmp_path: Path) -> Iterator[Subject]:
    outbox = LocalOutbox(tmp_path / "outbox", SENDER)
    yield Subject(outbox, lambda: [Delivered([m.to], m.subject, [m.text, m.html]) for m in outbox.messages()])


def _ses(_: Path) -> Iterator[Subject]:
    with mock_aws():
        client = boto3.client("ses", region_name="us-east-1")
        client.verify_email_identity(EmailAddress=SENDER)
        backend = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
        yield Subject(SesMailer(SENDER, client), lambda: [
            Delivered(list(m.destinations.get("ToAddresses", [])), m.subject, [m.body])
            for m in backend.sent_messages])


@pytest.fixture(params=[_memory, _outbox, _ses], ids=["memory", "local-outbox", "ses"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    yield from request.param(tmp_path)


def test_every_mailer_delivers_each_message_whole_and_in_order(subject: Subject) -> None:
    first = OutgoingMail(to="ann@example.com", subject="Invitation to join Acme on Perimeter",
                         text="token pmi_first é", html="<p>token <code>pmi_first</code> é</p>")
    second = OutgoingMail(to="bob@example.com", subject="Second", text="token pmi_second",
                          html="<p>pmi_second</p>")
    subject.mailer.send(first)
    subject.mailer.send(second)
    delivered = subject.delivered()
    assert [(d.to, d.subject) for d in delivered] == [(["ann@example.com"], first.subject),
                                                       (["bob@example.com"], "Second")]
    assert all("pmi_first" in b and "é" in b for b in delivered[0].bodies)
    assert all("pmi_second" in b and "pmi_first" not in b for b in delivered[1].bodies)


def test_ses_refusing_an_unverified_sender_is_mail_unavailable() -> None:
    with mock_aws():
        client = boto3.client("ses", region_name="us-east-1")
        mailer = SesMailer("stranger@unverified.example", client)
        with pytest.raises(MailUnavailable) as caught:
            mailer.send(OutgoingMail(to="ann@example.com", subject="s", text="t", html="h"))
        assert caught.value.status == 503 and caught.value.code == "mail-unavailable"
        assert "unverified" not in caught.value.detail
        assert ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages == []


def test_ses_builds_its_client_only_when_it_first_sends() -> None:
    built: list[str] = []
    with mock_aws():
        def factory() -> object:
            built.append("ses")
            client = boto3.client("ses", region_name="us-east-1")
            client.verify_email_identity(EmailAddress=SENDER)
            return client

        mailer = SesMailer(SENDER, client_factory=factory)
        assert built == []
        mailer.send(OutgoingMail(to="ann@example.com", subject="s", text="t", html="h"))
        mailer.send(OutgoingMail(to="bob@example.com", subject="s", text="t", html="h"))
        assert built == ["ses"]
