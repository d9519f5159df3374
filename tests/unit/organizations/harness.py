"""The organization service on fakes: memory store, memory mailer, a clock the test moves."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.access.auth import AuthService
from chalicelib.access.roles import Role
from chalicelib.core.mail import Mailer
from chalicelib.core.store import Record
from chalicelib.organizations.mail import MemoryMailer
from chalicelib.organizations.models import InviteMember, Member
from chalicelib.organizations.service import OrganizationService
from tests.support.memory import MemoryStore

ACCEPT_URL = "https://perimeter.example/v1/team/invitations/accept"
TOKEN = re.compile(r"pmi_[A-Za-z0-9_-]{43}")


@dataclass
class Clock:
    """Now, until the test moves it."""

    now: datetime = field(default_factory=lambda: datetime(2026, 12, 7, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Harness:
    store: MemoryStore
    auth: AuthService
    mailer: MemoryMailer
    clock: Clock
    orgs: OrganizationService

    def invite(self, email: str, role: Role = Role.MEMBER, tenant_id: str = "acme") -> tuple[Member, str]:
        """Invite someone and return the member and the token their mail carries."""
        member = self.orgs.invite(tenant_id, InviteMember(email=email, role=role))
        return member, self.token_for(email)

    def token_for(self, email: str) -> str:
        """The token of the newest invitation mailed to `email`."""
        mail = [m for m in self.mailer.sent if m.to == email][-1]
        found = TOKEN.search(mail.text)
        assert found is not None, mail.text
        return found.group(0)

    def snapshot(self) -> dict[tuple[str, str], Any]:
        """Every item of the store (data and version), to show that nothing changed."""
        items: dict[tuple[str, str], Record] = self.store._items
        return {k: (r.data, r.version) for k, r in items.items()}


def build(store: MemoryStore | None = None, invitation_days: int = 7, mailer: Mailer | None = None) -> Harness:
    """A harness with tenants `acme` and `rival`; `mailer` replaces the memory mailer the harness reads."""
    store = store or MemoryStore()
    auth = AuthService(store, b"pepper-pepper-pepper")
    auth.create_tenant("acme", "Acme Insurance")
    auth.create_tenant("rival", "Rival Cover")
    memory = MemoryMailer()
    clock = Clock()
    sender: Mailer = mailer or memory
    orgs = OrganizationService(store, auth, lambda: sender, token_key=b"k" * 32, invitation_days=invitation_days,
                               accept_url=ACCEPT_URL, clock=clock)
    return Harness(store, auth, memory, clock, orgs)
