"""Roles: what a member (and each API key, which carries its member's role) may do.

owner > admin > member > viewer: a viewer reads; a member also scans; an admin also manages
webhooks, branding, templates, targets and keys; an owner also manages the team and the
organization's billing settings. Every operation names the least role it needs.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"

    @property
    def rank(self) -> int:
        """Higher is more powerful: viewer 0 ... owner 3."""
        return _RANK[self]

    def allows(self, required: Role) -> bool:
        """True when this role may do what `required` may."""
        return self.rank >= required.rank


_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}
# Keys issued before roles existed (no `role` in their record) are the organization's service keys
# with every right they had: owner (docs/decisions.md 2026-12-07).
LEGACY_KEY_ROLE = Role.OWNER


def role_named(value: str) -> Role:
    """The role called `value` (case-insensitive); raises ValueError for any other word."""
    return Role(value.strip().lower())
