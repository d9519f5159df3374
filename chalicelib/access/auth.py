"""Tenants and API keys: keys are shown once, stored as an HMAC keyed with a server-side pepper."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from chalicelib.access.roles import LEGACY_KEY_ROLE, Role
from chalicelib.core.clock import utcnow
from chalicelib.core.errors import AlreadyExists, NotFound, Unauthorized
from chalicelib.core.ids import new_id
from chalicelib.core.store import ConditionFailed, KeyValueStore

KEY_PREFIX = "pmk_"
_PRINTABLE = re.compile(r"^[\x21-\x7e]{20,200}$")
TENANT_CACHE_SECONDS = 30.0


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

    def __init__(self, store: KeyValueStore, pepper: bytes) -> None:
        self._store = store
        self._pepper = pepper
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

    def revoke_key(self, tenant_id: str, key_id: str) -> ApiKey:
        """Revoke a key at once; raises NotFound (also for another tenant's key)."""
        listing = self._store.get(f"TENANT#{tenant_id}", f"KEY#{key_id}")
        if listing is None:
            raise NotFound(f"Key {key_id} does not exist.", code="key-not-found")
        key = ApiKey.model_validate(listing.data)
        if key.revoked_at is None:
            key = key.model_copy(update={"revoked_at": utcnow()})
            # The lookup item first: once it says revoked, the key no longer authenticates.
            self._store.put(f"APIKEY#{key.key_hash}", "APIKEY", key.model_dump(mode="json"))
            self._store.put(f"TENANT#{tenant_id}", f"KEY#{key_id}", key.model_dump(mode="json"))
        return key

    def set_member_role(self, tenant_id: str, member_id: str, role: Role) -> int:
        """Give every live key of a member `role` (effective on the next request); returns how many changed.

        Each lookup item is rewritten under its version, so a revocation racing this never comes undone.
        """
        changed = 0
        for listed in self.list_keys(tenant_id):
            if listed.member_id != member_id:
                continue
            for _ in range(5):
                record = self._store.get(f"APIKEY#{listed.key_hash}", "APIKEY")
                key = ApiKey.model_validate(record.data) if record else None
                if record is None or key is None or key.revoked_at is not None or key.role == role:
                    break
                key = key.model_copy(update={"role": role})
                try:
                    self._store.put(f"APIKEY#{key.key_hash}", "APIKEY", key.model_dump(mode="json"),
                                    expect_version=record.version)
                except ConditionFailed:
                    continue
                self._store.put(f"TENANT#{tenant_id}", f"KEY#{key.key_id}", key.model_dump(mode="json"))
                changed += 1
                break
        return changed

    def revoke_member_keys(self, tenant_id: str, member_id: str) -> int:
        """Revoke every live key of a member at once; returns how many were revoked."""
        live = [k for k in self.list_keys(tenant_id) if k.member_id == member_id and k.revoked_at is None]
        for key in live:
            self.revoke_key(tenant_id, key.key_id)
        return len(live)

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
