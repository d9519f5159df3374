"""Where a team lives in the table, and the race-safe count of active owners.

Items (pk / sk):
- `TENANT#<t>` / `MEMBER#<member id>`: a member (invited or active), optimistic version.
- `TENANT#<t>` / `MEMBEREMAIL#<sha256 of the lower-cased address>`: claims an address for one member
  (created with expect_version=0, so two invitations of one address cannot both win).
- `TENANT#<t>` / `TEAM#OWNERS`: `{active_owners}`, changed only by a conditional write on its version.
- `INVITATION#<keyed hash of the token>` / `INVITATION`: `{tenant_id, member_id}`, expiring (TTL).

The owner count never exceeds the real number of active owners: a change that adds an owner writes
the member first and counts after; one that removes an owner counts down first (refusing to reach
zero, 409 `last-owner`) and gives the count back if the member write then loses a race. Anything that
makes an active owner outside this package (an admin command, a migration) must call `add_owner`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from chalicelib.core.errors import Conflict, LastOwner
from chalicelib.core.store import ConditionFailed, KeyValueStore, Record
from chalicelib.organizations.models import Member

MEMBER_PREFIX = "MEMBER#"
OWNERS_SK = "TEAM#OWNERS"
_ATTEMPTS = 8


def tenant_pk(tenant_id: str) -> str:
    """The partition of everything a tenant owns."""
    return f"TENANT#{tenant_id}"


def email_sk(email: str) -> str:
    """The sort key claiming an address (case-insensitive) for one member."""
    return "MEMBEREMAIL#" + hashlib.sha256(email.strip().lower().encode()).hexdigest()


def invitation_pk(token_hash: str) -> str:
    """The partition of one invitation, found by its token's keyed hash."""
    return f"INVITATION#{token_hash}"


class TeamRecords:
    """Members, address claims, invitations and the owner count of every tenant, in one KeyValueStore."""

    def __init__(self, store: KeyValueStore) -> None:
        self.store = store

    # -- members
    def member(self, tenant_id: str, member_id: str) -> tuple[Member, int] | None:
        """The member and its version, or None."""
        record = self.store.get(tenant_pk(tenant_id), MEMBER_PREFIX + member_id)
        return (Member.model_validate(record.data), record.version) if record else None

    def put_member(self, member: Member, expect_version: int) -> int:
        """Write a member under its version (0: new); returns the new version; raises ConditionFailed."""
        return self.store.put(tenant_pk(member.tenant_id), MEMBER_PREFIX + member.member_id,
                              member.model_dump(mode="json"), expect_version=expect_version).version

    def delete_member(self, member: Member, expect_version: int) -> None:
        """Remove a member under its version; raises ConditionFailed."""
        self.store.delete(tenant_pk(member.tenant_id), MEMBER_PREFIX + member.member_id, expect_version=expect_version)

    def members(self, tenant_id: str, *, after: str | None, limit: int) -> list[Record]:
        """Member items in id (creation) order, strictly after the sort key `after`."""
        return self.store.query(tenant_pk(tenant_id), MEMBER_PREFIX, after=after, limit=limit)

    # -- address claims
    def claim_email(self, tenant_id: str, email: str, member_id: str) -> None:
        """Reserve an address for a member; raises ConditionFailed when it is taken."""
        self.store.put(tenant_pk(tenant_id), email_sk(email), {"member_id": member_id}, expect_version=0)

    def email_claim(self, tenant_id: str, email: str) -> Record | None:
        """Who holds an address (`data.member_id`), or None."""
        return self.store.get(tenant_pk(tenant_id), email_sk(email))

    def release_email(self, tenant_id: str, email: str, expect_version: int | None = None) -> None:
        """Free an address (absent is fine); raises ConditionFailed on a version mismatch."""
        self.store.delete(tenant_pk(tenant_id), email_sk(email), expect_version=expect_version)

    # -- invitations
    def add_invitation(self, token_hash: str, member: Member, expires_at: datetime) -> None:
        """Store an invitation under its token's hash, expiring with it; raises ConditionFailed."""
        self.store.put(invitation_pk(token_hash), "INVITATION",
                       {"token_hash": token_hash, "tenant_id": member.tenant_id, "member_id": member.member_id,
                        "expires_at": expires_at.isoformat()},
                       expect_version=0, expires_at=int(expires_at.timestamp()))

    def invitation(self, token_hash: str) -> Record | None:
        """The invitation item, or None (expired items may linger until the TTL sweep: check `expires_at`)."""
        return self.store.get(invitation_pk(token_hash), "INVITATION")

    def drop_invitation(self, token_hash: str, expect_version: int | None = None) -> None:
        """Remove an invitation (absent is fine); raises ConditionFailed on a version mismatch."""
        self.store.delete(invitation_pk(token_hash), "INVITATION", expect_version=expect_version)

    # -- the owner count
    def add_owner(self, tenant_id: str) -> None:
        """Count one more active owner; raises Conflict after repeated races."""
        self._change_owners(tenant_id, +1)

    def remove_owner(self, tenant_id: str) -> None:
        """Count one active owner fewer; raises LastOwner when none would remain, Conflict after repeated races."""
        self._change_owners(tenant_id, -1)

    def active_owners(self, tenant_id: str) -> int:
        """The recorded number of active owners."""
        return self._owners(tenant_id)[0]

    def _owners(self, tenant_id: str) -> tuple[int, int]:
        """(count, version); no item yet is (0, 0): members are new, so a tenant without one has no owner."""
        record = self.store.get(tenant_pk(tenant_id), OWNERS_SK)
        return (int(record.data.get("active_owners", 0)), record.version) if record else (0, 0)

    def _change_owners(self, tenant_id: str, delta: int) -> None:
        for _ in range(_ATTEMPTS):
            count, version = self._owners(tenant_id)
            if count + delta < 1 and delta < 0:
                raise LastOwner("The organization must keep at least one active owner: promote another first.")
            try:
                self.store.put(tenant_pk(tenant_id), OWNERS_SK, {"active_owners": max(count + delta, 0)},
                               expect_version=version)
                return
            except ConditionFailed:
                continue
        raise Conflict("The team changed concurrently; try again.", code="team-busy")
