"""Tenants and API keys: keys are shown once, stored as an HMAC keyed with a server-side pepper."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from chalicelib.access.keyseal import KeySeal
from chalicelib.access.roles import LEGACY_KEY_ROLE, Role
from chalicelib.core.clock import utcnow
from chalicelib.core.errors import AlreadyExists, Conflict, Forbidden, NotFound, Unauthorized, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.pagination import decode_cursor, page_of
from chalicelib.core.store import ConditionFailed, KeyValueStore

KEY_PREFIX = "pmk_"
_PRINTABLE = re.compile(r"^[\x21-\x7e]{20,200}$")
TENANT_CACHE_SECONDS = 30.0
_WRITE_ATTEMPTS = 5

# Who is an active member of a tenant, and with which role: (tenant_id, member_id) -> Role | None.
# chalicelib.organizations provides it (`is_active_member`); bootstrap injects it.
MemberRoles = Callable[[str, str], Role | None]


def no_members(tenant_id: str, member_id: str) -> Role | None:
    """The member lookup until organizations are wired: nobody is an active member."""
    return None


class Tenant(BaseModel):
    """A partner account; every object belongs to exactly one."""

    model_config = ConfigDict(extra="forbid")
    tenant_id: str
    name: str
    ready_threshold: int = 65
    rate_limit_per_minute: int | None = None
    created_at: datetime


class ApiKey(BaseModel):
    """What is stored about a key: never the key itself."""

    model_config = ConfigDict(extra="forbid")
    key_id: str
    tenant_id: str
    name: str = ""
    hint: str
    key_hash: str
    created_at: datetime
    revoked_at: datetime | None = None
    role: Role = LEGACY_KEY_ROLE  # the member's role, or the service key's own
    member_id: str | None = None  # None: a service key of the organization


class Principal(BaseModel):
    """The authenticated caller."""

    tenant: Tenant
    key_id: str
    role: Role = LEGACY_KEY_ROLE
    member_id: str | None = None


def generate_key() -> str:
    """A new API key: recognisable prefix + 256 random bits (base64url)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


class AuthService:
    """Creates tenants and keys, and authenticates requests."""

    def __init__(self, store: KeyValueStore, pepper: bytes, members: MemberRoles = no_members) -> None:
        self._store = store
        self._pepper = pepper
        self._members = members
        self.response_seal = KeySeal(pepper)  # a new key's trip through the Idempotency-Key record
        self._tenant_cache: dict[str, tuple[float, Tenant]] = {}
        self._lock = threading.Lock()

    def hash_key(self, key: str) -> str:
        """The keyed hash under which a key is stored."""
        return hmac.new(self._pepper, key.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

    def create_tenant(self, tenant_id: str, name: str, *, ready_threshold: int = 65,
                      rate_limit_per_minute: int | None = None) -> Tenant:
        """Create a tenant; raises AlreadyExists."""
        tenant = Tenant(tenant_id=tenant_id, name=name, ready_threshold=ready_threshold,
                        rate_limit_per_minute=rate_limit_per_minute, created_at=utcnow())
        try:
            self._store.put(f"TENANT#{tenant_id}", "TENANT", tenant.model_dump(mode="json"), expect_version=0)
        except ConditionFailed:
            raise AlreadyExists(f"Tenant {tenant_id} already exists.") from None
        return tenant

    def get_tenant(self, tenant_id: str) -> Tenant:
        """The tenant (cached for a few seconds); raises NotFound."""
        now = time.monotonic()
        with self._lock:
            cached = self._tenant_cache.get(tenant_id)
        if cached and now - cached[0] < TENANT_CACHE_SECONDS:
            return cached[1]
        record = self._store.get(f"TENANT#{tenant_id}", "TENANT")
        if record is None:
            raise NotFound(f"Tenant {tenant_id} does not exist.", code="tenant-not-found")
        tenant = Tenant.model_validate(record.data)
        with self._lock:
            self._tenant_cache[tenant_id] = (now, tenant)
        return tenant

    def update_tenant(self, tenant_id: str, *, name: str | None = None,
                      ready_threshold: int | None = None) -> Tenant:
        """Change a tenant's name and/or ready threshold (optimistic lock; this process's cache forgets it
        at once, other processes' within TENANT_CACHE_SECONDS); raises NotFound, ConditionFailed."""
        record = self._store.get(f"TENANT#{tenant_id}", "TENANT")
        if record is None:
            raise NotFound(f"Tenant {tenant_id} does not exist.", code="tenant-not-found")
        tenant = Tenant.model_validate(record.data)
        changes = {k: v for k, v in (("name", name), ("ready_threshold", ready_threshold)) if v is not None}
        if changes:
            tenant = tenant.model_copy(update=changes)
            self._store.put(f"TENANT#{tenant_id}", "TENANT", tenant.model_dump(mode="json"),
                            expect_version=record.version)
        with self._lock:
            self._tenant_cache.pop(tenant_id, None)
        return tenant

    def issue_key(self, tenant_id: str, *, name: str = "", key: str | None = None, role: Role = LEGACY_KEY_ROLE,
                  member_id: str | None = None) -> tuple[ApiKey, str]:
        """Create a key for a tenant and return (record, plaintext key). The plaintext is not stored.

        `key` registers a given string (the local stack's bootstrap key); `role` and `member_id` say
        whose key it is (no member: a service key). Raises AlreadyExists.
        """
        self.get_tenant(tenant_id)
        plaintext = key or generate_key()
        record = ApiKey(key_id=new_id("key"), tenant_id=tenant_id, name=name, hint=plaintext[:8] + "...",
                        key_hash=self.hash_key(plaintext), created_at=utcnow(), role=role, member_id=member_id)
        try:
            self._store.put(f"APIKEY#{record.key_hash}", "APIKEY", record.model_dump(mode="json"), expect_version=0)
        except ConditionFailed:
            raise AlreadyExists("That key is already registered.") from None
        self._store.put(f"TENANT#{tenant_id}", f"KEY#{record.key_id}", record.model_dump(mode="json"))
        return record, plaintext

    def list_keys(self, tenant_id: str) -> list[ApiKey]:
        """Every key of a tenant, revoked ones included."""
        return [ApiKey.model_validate(r.data) for r in self._store.query(f"TENANT#{tenant_id}", "KEY#", limit=1000)]

    def page_keys(self, tenant_id: str, *, limit: int, cursor: str | None = None) -> tuple[list[ApiKey], str | None]:
        """A tenant's keys, newest first, revoked ones included; (keys, next cursor or None). Raises BadRequest."""
        after = decode_cursor(cursor, "KEY#") if cursor else None
        records = self._store.query(f"TENANT#{tenant_id}", "KEY#", forward=False, after=after, limit=limit + 1)
        page, next_cursor = page_of(records, limit, lambda r: r.sk)
        return [ApiKey.model_validate(r.data) for r in page], next_cursor

    def _every_key(self, tenant_id: str) -> Iterator[ApiKey]:
        after: str | None = None
        while True:
            batch = self._store.query(f"TENANT#{tenant_id}", "KEY#", after=after, limit=500)
            yield from (ApiKey.model_validate(r.data) for r in batch)
            if len(batch) < 500:
                return
            after = batch[-1].sk

    def keys_of_member(self, tenant_id: str, member_id: str) -> list[ApiKey]:
        """Every key of one member of a tenant, oldest first, revoked ones included."""
        return [k for k in self._every_key(tenant_id) if k.member_id == member_id]

    def set_member_role(self, tenant_id: str, member_id: str, role: Role) -> int:
        """Give every live key of a member the member's new role (both stored copies); returns how many changed.

        Raises Conflict when a key keeps changing under the update.
        """
        changed = 0
        for key in self.keys_of_member(tenant_id, member_id):
            if key.revoked_at is None and key.role != role:
                changed += self._update_live(key, {"role": role})
        return changed

    def revoke_member_keys(self, tenant_id: str, member_id: str) -> int:
        """Revoke every live key of a member (who left or was removed); returns how many were revoked."""
        revoked = 0
        for key in self.keys_of_member(tenant_id, member_id):
            if key.revoked_at is None:
                revoked += self._update_live(key, {"revoked_at": utcnow()})
        return revoked

    def _update_live(self, key: ApiKey, change: dict[str, object]) -> int:
        """Apply `change` to a live key: the lookup item first (what authenticates), then the tenant's listing.

        Returns 1, or 0 when the key was revoked meanwhile. Raises Conflict after repeated races.
        """
        lookup = f"APIKEY#{key.key_hash}"
        for _ in range(_WRITE_ATTEMPTS):
            record = self._store.get(lookup, "APIKEY")
            if record is None or record.data.get("revoked_at"):
                return 0
            updated = ApiKey.model_validate(record.data).model_copy(update=change)
            try:
                self._store.put(lookup, "APIKEY", updated.model_dump(mode="json"), expect_version=record.version)
            except ConditionFailed:
                continue
            self._store.put(f"TENANT#{key.tenant_id}", f"KEY#{key.key_id}", updated.model_dump(mode="json"))
            return 1
        raise Conflict(f"Key {key.key_id} kept changing; try again.", code="key-busy")

    def mint_key(self, caller: Principal, *, name: str, role: Role | None,
                 member_id: str | None = None) -> tuple[ApiKey, str]:
        """Issue a key of the caller's tenant on the caller's behalf; returns (record, plaintext key).

        A member's key carries the member's role (`role`, when given, must be it); a service key
        (no member) needs `role`. Raises Forbidden (a role above the caller's), Unprocessable
        (`member-not-found`: no such active member; `role-mismatch`; `role-required`).
        """
        tenant_id = caller.tenant.tenant_id
        if member_id is not None:
            member_role = self._members(tenant_id, member_id)
            if member_role is None:
                raise Unprocessable(f"{member_id} is not an active member of this organization.",
                                    code="member-not-found")
            if role is not None and role != member_role:
                raise Unprocessable(f"A member's key carries the member's role ({member_role}), not {role}.",
                                    code="role-mismatch")
            role = member_role
        if role is None:
            raise Unprocessable("A service key (no member_id) needs a role.", code="role-required")
        if not caller.role.allows(role):
            raise Forbidden(f"Your key's role ({caller.role}) cannot create a key with the {role} role.")
        return self.issue_key(tenant_id, name=name, role=role, member_id=member_id)

    def revoke_key_as(self, caller: Principal, key_id: str) -> ApiKey:
        """Revoke a key of the caller's tenant; raises NotFound, Forbidden (a key whose role is above the caller's)."""
        listing = self._store.get(f"TENANT#{caller.tenant.tenant_id}", f"KEY#{key_id}")
        if listing is None:
            raise NotFound(f"Key {key_id} does not exist.", code="key-not-found")
        target = ApiKey.model_validate(listing.data)
        if not caller.role.allows(target.role):
            raise Forbidden(f"Your key's role ({caller.role}) cannot revoke a key with the {target.role} role.")
        return self.revoke_key(caller.tenant.tenant_id, key_id)

    def revoke_key(self, tenant_id: str, key_id: str) -> ApiKey:
        """Revoke a key at once; raises NotFound (also for another tenant's key), Conflict."""
        listing = self._store.get(f"TENANT#{tenant_id}", f"KEY#{key_id}")
        if listing is None:
            raise NotFound(f"Key {key_id} does not exist.", code="key-not-found")
        key = ApiKey.model_validate(listing.data)
        if key.revoked_at is None and not self._update_live(key, {"revoked_at": utcnow()}):
            lookup = self._store.get(f"APIKEY#{key.key_hash}", "APIKEY")  # revoked meanwhile: the listing follows
            if lookup is not None:
                self._store.put(f"TENANT#{tenant_id}", f"KEY#{key_id}", lookup.data)
        stored = self._store.get(f"TENANT#{tenant_id}", f"KEY#{key_id}")
        return ApiKey.model_validate(stored.data) if stored is not None else key

    def authenticate(self, authorization: str | None, x_api_key: str | None) -> Principal:
        """Resolve the caller from `Authorization: Bearer` or `X-API-Key`; raises Unauthorized.

        Missing, malformed, unknown and revoked keys all raise the same error, and every path
        computes the keyed hash and compares digests in constant time.
        """
        presented = _extract_key(authorization, x_api_key)
        well_formed = presented is not None and bool(_PRINTABLE.match(presented))
        candidate = presented if (presented is not None and well_formed) else "\x00" * 32
        digest = self.hash_key(candidate)
        record = self._store.get(f"APIKEY#{digest}", "APIKEY") if well_formed else None
        stored = record.data.get("key_hash", "") if record else "0" * 64
        matches = hmac.compare_digest(str(stored), digest)
        if not (well_formed and record is not None and matches) or record.data.get("revoked_at"):
            raise Unauthorized()
        key = ApiKey.model_validate(record.data)
        try:
            tenant = self.get_tenant(key.tenant_id)
        except NotFound:
            raise Unauthorized() from None
        return Principal(tenant=tenant, key_id=key.key_id, role=key.role, member_id=key.member_id)


def _extract_key(authorization: str | None, x_api_key: str | None) -> str | None:
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None
    if x_api_key:
        return x_api_key.strip()
    return None
