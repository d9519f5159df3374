"""Registering targets, verifying their challenges, and the gate active scans pass (DESIGN.md section 10).

Coverage: a DNS-verified domain covers itself and every subdomain (whoever edits the zone controls
them); an HTTP-verified one covers exactly its host. `require_verified` re-checks the challenge live
unless told not to: a proof that is definitely gone moves the target to `lapsed`; a check that could
not run (DNS or the site unreachable) refuses the scan but leaves the target as it was.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from chalicelib.core.addresses import IPNetwork
from chalicelib.core.clock import utcnow
from chalicelib.core.errors import (
    InvalidDomain,
    NotFound,
    ServiceUnavailable,
    TargetNotVerified,
    TargetVerificationFailed,
)
from chalicelib.core.ids import new_id
from chalicelib.core.pagination import decode_cursor, page_of
from chalicelib.core.versioned import TooManyConflicts, update_versioned
from chalicelib.net.guard import guard_addresses, normalise_domain
from chalicelib.net.ports import DomainNotFound, Resolver, ResolverUnavailable
from chalicelib.targets.challenge import CheckReport
from chalicelib.targets.models import Target, TargetStatus
from chalicelib.targets.ports import ChallengeCheck
from chalicelib.targets.repository import TARGET_PREFIX, TargetRepository

log = logging.getLogger(__name__)

TOKEN_BYTES = 32  # 256 bits, url-safe base64 (43 characters)
_ATTEMPTS = 5


class TargetService:
    """The target use cases the API calls, and `require_verified` for scan creation and the pipeline."""

    def __init__(self, repository: TargetRepository, resolver: Resolver, checker: ChallengeCheck, *,
                 allow_private: tuple[IPNetwork, ...] = (), verification_days: int = 30,
                 public_base_url: str = "", clock: Callable[[], datetime] = utcnow) -> None:
        self.repo = repository
        self._resolver = resolver
        self._checker = checker
        self._allow_private = allow_private
        self._lifetime = timedelta(days=verification_days)
        self._base_url = public_base_url
        self._now = clock

    # -- register, read, list, delete ----------------------------------------------------------
    def register(self, tenant_id: str, raw_domain: str) -> tuple[Target, bool]:
        """The tenant's target for a domain, created when new: `(target, created)`.

        Nothing is stored when the domain is refused. Raises InvalidDomain (malformed, an IP address,
        NXDOMAIN: `domain-not-found`) or TargetNotAllowed (it resolves to a non-public address).
        """
        domain = normalise_domain(raw_domain)
        self._guard(domain, strict=True)
        existing = self._existing(tenant_id, domain)
        if existing is not None:
            return existing, False
        now = self._now()
        target = Target(target_id=new_id("tgt"), tenant_id=tenant_id, domain=domain,
                        token=secrets.token_urlsafe(TOKEN_BYTES), created_at=now, updated_at=now)
        owner = self.repo.claim_domain(tenant_id, domain, target.target_id)
        if owner != target.target_id:  # registered concurrently: answer the winner
            return self.get(tenant_id, owner), False
        self.repo.save(target, 0)
        return target, True

    def _existing(self, tenant_id: str, domain: str) -> Target | None:
        owner = self.repo.domain_owner(tenant_id, domain)
        if owner is None:
            return None
        loaded = self.repo.get(tenant_id, owner)
        if loaded is None:  # the entry outlived a failed create: forget it
            self.repo.release_domain(tenant_id, domain, owner)
            return None
        return loaded[0]

    def get(self, tenant_id: str, target_id: str) -> Target:
        """One of the tenant's targets; raises NotFound (also for another tenant's id)."""
        loaded = self.repo.get(tenant_id, target_id)
        if loaded is None:
            raise NotFound(f"No target {target_id}.", code="target-not-found")
        return loaded[0]

    def list_targets(self, tenant_id: str, *, limit: int, cursor: str | None) -> tuple[list[Target], str | None]:
        """A page of the tenant's targets, newest first; raises BadRequest for a foreign cursor."""
        after = decode_cursor(cursor, TARGET_PREFIX) if cursor else None
        rows = self.repo.page(tenant_id, after, limit + 1)
        return page_of(rows, limit, lambda t: f"{TARGET_PREFIX}{t.target_id}")

    def delete(self, tenant_id: str, target_id: str) -> None:
        """Forget a target (its domain can be registered again, with a new token); raises NotFound."""
        target = self.get(tenant_id, target_id)
        self.repo.delete(tenant_id, target_id)
        self.repo.release_domain(tenant_id, target.domain, target_id)

    # -- verify -------------------------------------------------------------------------------
    def verify(self, tenant_id: str, target_id: str) -> Target:
        """Check the challenge now: TXT record first, then the well-known file.

        Success verifies the target for PERIMETER_TARGET_VERIFICATION_DAYS. Raises NotFound,
        TargetNotAllowed (the domain now resolves to a non-public address), TargetVerificationFailed
        (what each method saw and how to fix it; a verified target whose proof is definitely gone
        becomes `lapsed`), ServiceUnavailable (too many concurrent writes).
        """
        target = self.get(tenant_id, target_id)
        self._guard(target.domain, strict=False)
        report = self._checker.check(target.domain, target.token)
        updated = self._record(target, report)
        if report.method is None:
            raise self._failure(updated, report)
        return updated

    def _record(self, target: Target, report: CheckReport) -> Target:
        """Store what a check showed; raises NotFound when the target was deleted meanwhile."""
        now = self._now()

        def change(current: Target) -> Target:
            if report.method is not None:
                return current.model_copy(update={
                    "status": TargetStatus.VERIFIED, "method": report.method, "verified_at": now,
                    "expires_at": now + self._lifetime, "last_checked_at": now, "updated_at": now})
            lapsed = current.status is TargetStatus.VERIFIED and report.disproves(current.method)
            return current.model_copy(update={
                "status": TargetStatus.LAPSED if lapsed else current.status, "last_checked_at": now,
                "updated_at": now})

        try:
            written = update_versioned(lambda: self.repo.get(target.tenant_id, target.target_id), change,
                                       self.repo.save, attempts=_ATTEMPTS, what=f"target {target.target_id}")
        except TooManyConflicts as exc:
            raise ServiceUnavailable(str(exc)) from None
        if written is None:
            raise NotFound(f"No target {target.target_id}.", code="target-not-found")
        return written

    def _failure(self, target: Target, report: CheckReport) -> TargetVerificationFailed:
        how = (f"Publish a TXT record at {target.dns_name} with the value \"{target.txt_value}\" (covers "
               f"{target.domain} and its subdomains), or serve {target.http_url} over HTTPS with a valid "
               "certificate, answering 200 with the token as the whole body and no redirect to another host "
               "(covers that host only); then verify again. DNS changes can take the record's TTL to appear.")
        seen = [f"TXT at {report.dns.name}: " + (report.dns.error or (", ".join(repr(v) for v in report.dns.found)
                                                                     or "no record"))]
        if report.http is not None:
            seen.append(f"{report.http.url}: " + (report.http.error or f"status {report.http.status}"))
        return TargetVerificationFailed(f"The challenge for {target.domain} was not found ({'; '.join(seen)}). "
                                        + how, checks=report.as_dict(), how_to_fix=how,
                                        status_now=target.status.value, target_id=target.target_id)

    # -- the gate -----------------------------------------------------------------------------
    def require_verified(self, tenant_id: str, host: str, *, recheck: bool = True) -> Target:
        """The tenant's verified, unexpired target covering `host`; with `recheck`, proven again right now.

        A successful re-check renews the verification like a verify does. Raises TargetNotVerified
        (with `verify_url` and how to verify) when no target covers the host, it is pending, lapsed
        or expired, or the re-check did not find the challenge.
        """
        try:
            name = normalise_domain(host)
        except InvalidDomain:
            raise TargetNotVerified(f"{host!r} is not a domain name; active scans run only against a domain "
                                    "whose control was proven.", verify_url=self._url("/v1/targets")) from None
        now = self._now()
        candidates = self._candidates(tenant_id, name)
        valid = [t for t in candidates if t.is_valid(now) and t.covers(name)]
        if not valid:
            raise self._not_verified(name, candidates, now)
        if not recheck:
            return valid[0]
        problems, rechecked = [], {}
        for target in valid:
            report = self._checker.check(target.domain, target.token)
            updated = rechecked[target.target_id] = self._record(target, report)
            if report.method is not None and updated.covers(name):
                return updated
            if report.method is not None:
                problems.append(f"{target.domain} is now proven by its well-known file, which covers that host only")
            elif updated.status is TargetStatus.LAPSED:
                problems.append(f"the challenge of {target.domain} is gone, so the target lapsed")
            else:
                problems.append(f"the challenge of {target.domain} could not be checked now; try again")
        candidates = [rechecked.get(t.target_id, t) for t in candidates]
        raise self._not_verified(name, candidates, self._now(), "Re-checked before the scan: " + "; ".join(problems)
                                 + ".")

    def _candidates(self, tenant_id: str, name: str) -> list[Target]:
        """The tenant's targets for `name` and for each parent domain of it, most specific first."""
        labels = name.split(".")
        found: list[Target] = []
        for i in range(len(labels) - 1):
            domain = ".".join(labels[i:])
            owner = self.repo.domain_owner(tenant_id, domain)
            loaded = self.repo.get(tenant_id, owner) if owner else None
            if loaded is not None:
                found.append(loaded[0])
        return found

    def _not_verified(self, name: str, candidates: list[Target], now: datetime, why: str = "") -> TargetNotVerified:
        """The gate's refusal, saying how to verify (`verify_url`: the target's verify route, or /v1/targets)."""
        target = next((t for t in candidates if t.domain == name), candidates[0] if candidates else None)
        if target is None:
            return TargetNotVerified(
                " ".join(filter(None, (f"{name} is not a verified target of your organization.", why,
                                       f"Register it with POST /v1/targets {{\"domain\": \"{name}\"}}, publish the "
                                       "TXT record or the well-known file the answer gives, then POST "
                                       "/v1/targets/{target_id}/verify."))),
                verify_url=self._url("/v1/targets"), host=name)
        status = target.current_status(now)
        state = (f"target {target.target_id} for {target.domain} is verified by its well-known file, which covers "
                 f"{target.domain} only" if status is TargetStatus.VERIFIED and not target.covers(name)
                 else f"target {target.target_id} for {target.domain} is {status.value}")
        return TargetNotVerified(
            " ".join(filter(None, (f"{name} is not verified ({state}).", why,
                                   f"Publish a TXT record at {target.dns_name} with the value \"{target.txt_value}\" "
                                   f"(covers {target.domain} and its subdomains), or serve the token at "
                                   f"{target.http_url} (that host only), then POST the verify_url."))),
            verify_url=self._url(f"/v1/targets/{target.target_id}/verify"), host=name, target_id=target.target_id,
            target_status=status.value)

    def _url(self, path: str) -> str:
        return f"{self._base_url}{path}"

    def _guard(self, domain: str, *, strict: bool) -> None:
        """Refuse a domain resolving to a non-public address; `strict` also refuses NXDOMAIN.

        Raises InvalidDomain (`domain-not-found`, strict only) or TargetNotAllowed. An unanswered
        query passes: the checks resolve and guard again before connecting.
        """
        try:
            addresses = self._resolver.resolve(domain)
        except DomainNotFound:
            if strict:
                raise InvalidDomain(f"{domain} does not exist in DNS (NXDOMAIN).", code="domain-not-found") from None
            return
        except ResolverUnavailable as exc:
            log.warning("resolver unavailable for target %s: %s; the checks will guard again", domain, exc)
            return
        guard_addresses(domain, addresses, self._allow_private)
