"""TargetService on the memory store, a fake resolver, a scripted challenge check and a manual clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.core.errors import (
    BadRequest,
    InvalidDomain,
    NotFound,
    TargetNotAllowed,
    TargetNotVerified,
    TargetVerificationFailed,
)
from chalicelib.targets.models import TargetStatus, VerificationMethod
from chalicelib.targets.repository import TargetRepository
from chalicelib.targets.service import TargetService
from tests.conftest import PUBLIC_DOMAINS
from tests.support.fakes import FakeResolver, ManualClock
from tests.support.memory import MemoryStore
from tests.unit.targets.scripted import ScriptedCheck

DAY = 86400.0
BASE = "https://api.perimeter.test"


class World:
    def __init__(self) -> None:
        self.store = MemoryStore()
        self.clock = ManualClock()
        self.check = ScriptedCheck()
        answers = {**PUBLIC_DOMAINS, "www.example.com": ["93.184.216.34"], "shop.example.com": ["93.184.216.40"]}
        self.resolver = FakeResolver(answers)
        self.service = TargetService(TargetRepository(self.store), self.resolver, self.check, verification_days=30,
                                     public_base_url=BASE, clock=self.clock.now)

    def stored(self) -> int:
        return len(self.store._items)

    def verified(self, tenant: str, domain: str) -> str:
        target, _ = self.service.register(tenant, domain)
        self.check.publish_txt(domain, target.token)
        return self.service.verify(tenant, target.target_id).target_id


@pytest.fixture
def world() -> World:
    return World()


# -- register ---------------------------------------------------------------------------------

def test_registering_answers_a_pending_target_with_a_fresh_256_bit_token(world: World) -> None:
    target, created = world.service.register("acme", "example.com")
    assert created and target.status is TargetStatus.PENDING and target.domain == "example.com"
    assert len(target.token) >= 43 and target.verified_at is None and target.expires_at is None
    assert target.txt_value == f"perimeter-challenge={target.token}"


def test_registering_the_same_domain_again_in_any_spelling_answers_the_same_target(world: World) -> None:
    first, _ = world.service.register("acme", "example.com")
    for spelling in ("EXAMPLE.com.", "https://example.com:8443/login?x=1", "user@Example.COM"):
        again, created = world.service.register("acme", spelling)
        assert (again.target_id, again.token, created) == (first.target_id, first.token, False)
    items, _ = world.service.list_targets("acme", limit=10, cursor=None)
    assert [t.target_id for t in items] == [first.target_id]


def test_another_organization_gets_its_own_challenge_for_the_same_domain(world: World) -> None:
    ours, _ = world.service.register("acme", "example.com")
    theirs, created = world.service.register("rival", "example.com")
    assert created and theirs.target_id != ours.target_id and theirs.token != ours.token


def test_an_idn_is_stored_as_its_a_label(world: World) -> None:
    target, _ = world.service.register("acme", "bücher.example")
    assert target.domain == "xn--bcher-kva.example"


@pytest.mark.parametrize(("raw", "error", "code"), [
    ("93.184.216.34", InvalidDomain, "invalid-domain"),
    ("[2606:4700::1111]", InvalidDomain, "invalid-domain"),
    ("not a domain", InvalidDomain, "invalid-domain"),
    ("localhost", InvalidDomain, "invalid-domain"),
    ("", InvalidDomain, "invalid-domain"),
    ("nowhere.example", InvalidDomain, "domain-not-found"),
    ("internal.example", TargetNotAllowed, "target-not-allowed"),
    ("metadata.example", TargetNotAllowed, "target-not-allowed"),
    ("mixed.example", TargetNotAllowed, "target-not-allowed"),
    ("mapped.example", TargetNotAllowed, "target-not-allowed"),
])
def test_refused_domains_store_nothing(world: World, raw: str, error: type[Exception], code: str) -> None:
    with pytest.raises(error) as refused:
        world.service.register("acme", raw)
    assert refused.value.code == code  # type: ignore[attr-defined]
    assert world.stored() == 0


def test_a_private_address_inside_the_allow_list_is_accepted(world: World) -> None:
    import ipaddress
    service = TargetService(TargetRepository(world.store), world.resolver, world.check,
                            allow_private=(ipaddress.ip_network("10.0.0.0/8"),), clock=world.clock.now)
    assert service.register("acme", "internal.example")[1]


# -- verify -----------------------------------------------------------------------------------

def test_dns_proof_verifies_for_the_configured_days(world: World) -> None:
    target, _ = world.service.register("acme", "example.com")
    world.check.publish_txt("example.com", target.token)
    verified = world.service.verify("acme", target.target_id)
    now = world.clock.now()
    assert (verified.status, verified.method) == (TargetStatus.VERIFIED, VerificationMethod.DNS)
    assert verified.verified_at == now and verified.last_checked_at == now
    assert verified.expires_at == now + timedelta(days=30)
    assert world.service.get("acme", target.target_id) == verified


def test_http_proof_is_tried_when_the_txt_record_is_absent(world: World) -> None:
    target, _ = world.service.register("acme", "www.example.com")
    world.check.site("www.example.com").body = target.token
    assert world.service.verify("acme", target.target_id).method is VerificationMethod.HTTP


def test_a_failed_verify_says_what_was_seen_and_how_to_fix_it(world: World) -> None:
    target, _ = world.service.register("acme", "example.com")
    world.check.site("example.com").txt.append("perimeter-challenge=someone-elses")
    with pytest.raises(TargetVerificationFailed) as failed:
        world.service.verify("acme", target.target_id)
    extra = failed.value.extra
    assert extra["checks"]["dns"]["found"] == ["perimeter-challenge=someone-elses"]
    assert extra["checks"]["http"]["status"] == 404
    assert target.dns_name in extra["how_to_fix"] and target.txt_value in extra["how_to_fix"]
    stored = world.service.get("acme", target.target_id)
    assert stored.status is TargetStatus.PENDING and stored.last_checked_at == world.clock.now()


def test_a_verify_that_finds_the_proof_gone_lapses_a_verified_target(world: World) -> None:
    target_id = world.verified("acme", "example.com")
    world.check.site("example.com").txt.clear()
    with pytest.raises(TargetVerificationFailed):
        world.service.verify("acme", target_id)
    assert world.service.get("acme", target_id).status is TargetStatus.LAPSED


def test_verify_guards_the_domain_again(world: World) -> None:
    target, _ = world.service.register("acme", "example.com")
    world.resolver.answers["example.com"] = ["10.1.2.3"]  # re-pointed to a private address since
    world.check.publish_txt("example.com", target.token)
    with pytest.raises(TargetNotAllowed):
        world.service.verify("acme", target.target_id)
    assert world.check.calls == [] and world.service.get("acme", target.target_id).status is TargetStatus.PENDING


# -- tenants, delete, list --------------------------------------------------------------------

def test_another_tenants_target_is_not_found(world: World) -> None:
    target_id = world.verified("acme", "example.com")
    for action in (world.service.get, world.service.verify, world.service.delete):
        with pytest.raises(NotFound):
            action("rival", target_id)
    assert world.service.get("acme", target_id).status is TargetStatus.VERIFIED
    with pytest.raises(TargetNotVerified):
        world.service.require_verified("rival", "example.com")


def test_deleting_forgets_the_proof_and_a_new_registration_gets_a_new_token(world: World) -> None:
    target_id = world.verified("acme", "example.com")
    token = world.service.get("acme", target_id).token
    world.service.delete("acme", target_id)
    with pytest.raises(NotFound):
        world.service.get("acme", target_id)
    with pytest.raises(TargetNotVerified):
        world.service.require_verified("acme", "example.com")
    again, created = world.service.register("acme", "example.com")
    assert created and again.token != token and again.status is TargetStatus.PENDING


def test_listing_pages_newest_first_and_refuses_a_foreign_cursor(world: World) -> None:
    ids = [world.service.register("acme", d)[0].target_id
           for d in ("example.com", "www.example.com", "shop.example.com")]
    first, cursor = world.service.list_targets("acme", limit=2, cursor=None)
    second, end = world.service.list_targets("acme", limit=2, cursor=cursor)
    assert [t.target_id for t in first + second] == ids[::-1] and end is None
    with pytest.raises(BadRequest):
        world.service.list_targets("acme", limit=2, cursor="eyJhZnRlciI6ICJTQ0FOIzEifQ")  # {"after": "SCAN#1"}


# -- the gate -----------------------------------------------------------------------------------

def test_the_gate_refuses_an_unregistered_host_and_says_where_to_start(world: World) -> None:
    with pytest.raises(TargetNotVerified) as refused:
        world.service.require_verified("acme", "example.com")
    assert refused.value.code == "target-not-verified" and refused.value.status == 403
    assert refused.value.extra["verify_url"] == f"{BASE}/v1/targets"
    assert "POST /v1/targets" in refused.value.detail


def test_the_gate_points_a_pending_target_at_its_verify_url(world: World) -> None:
    target, _ = world.service.register("acme", "example.com")
    with pytest.raises(TargetNotVerified) as refused:
        world.service.require_verified("acme", "example.com")
    assert refused.value.extra["verify_url"] == f"{BASE}/v1/targets/{target.target_id}/verify"
    assert target.txt_value in refused.value.detail and "pending" in refused.value.detail


def test_the_gate_rechecks_live_and_renews_the_verification(world: World) -> None:
    target_id = world.verified("acme", "example.com")
    world.clock.advance(10 * DAY)
    passed = world.service.require_verified("acme", "https://www.example.com/app")
    assert passed.target_id == target_id and world.check.calls == ["example.com", "example.com"]
    assert passed.expires_at == world.clock.now() + timedelta(days=30)


def test_without_recheck_the_gate_reads_the_stored_proof_only(world: World) -> None:
    target_id = world.verified("acme", "example.com")
    world.check.site("example.com").txt.clear()
    assert world.service.require_verified("acme", "example.com", recheck=False).target_id == target_id
    assert world.check.calls == ["example.com"]  # the verify only


def test_a_record_removed_after_verification_lapses_the_target_at_the_recheck(world: World) -> None:
    target_id = world.verified("acme", "example.com")
    world.check.site("example.com").txt.clear()
    with pytest.raises(TargetNotVerified) as refused:
        world.service.require_verified("acme", "example.com")
    assert "gone" in refused.value.detail and refused.value.extra["target_status"] == "lapsed"
    assert world.service.get("acme", target_id).status is TargetStatus.LAPSED
    with pytest.raises(TargetNotVerified):
        world.service.require_verified("acme", "example.com", recheck=False)


def test_an_outage_at_the_recheck_refuses_the_scan_but_keeps_the_proof(world: World) -> None:
    target_id = world.verified("acme", "example.com")
    world.check.site("example.com").dns_down = True
    world.check.site("example.com").web_down = True
    with pytest.raises(TargetNotVerified) as refused:
        world.service.require_verified("acme", "example.com")
    assert "try again" in refused.value.detail
    assert world.service.get("acme", target_id).status is TargetStatus.VERIFIED


def test_an_expired_verification_is_refused_without_a_check(world: World) -> None:
    target_id = world.verified("acme", "example.com")
    world.clock.advance(30 * DAY)
    with pytest.raises(TargetNotVerified) as refused:
        world.service.require_verified("acme", "example.com")
    assert refused.value.extra["target_status"] == "expired"
    assert refused.value.extra["verify_url"].endswith(f"/v1/targets/{target_id}/verify")
    assert world.check.calls == ["example.com"]
    world.service.verify("acme", target_id)  # verifying again renews it
    assert world.service.require_verified("acme", "example.com").target_id == target_id


def test_http_proof_covers_exactly_its_host(world: World) -> None:
    target, _ = world.service.register("acme", "example.com")
    world.check.site("example.com").body = target.token
    world.service.verify("acme", target.target_id)
    assert world.service.require_verified("acme", "example.com").method is VerificationMethod.HTTP
    with pytest.raises(TargetNotVerified) as refused:
        world.service.require_verified("acme", "www.example.com")
    assert "covers example.com only" in refused.value.detail


def test_a_parent_whose_proof_moved_from_dns_to_http_no_longer_covers_subdomains(world: World) -> None:
    target_id = world.verified("acme", "example.com")
    world.check.site("example.com").txt.clear()
    world.check.site("example.com").body = world.service.get("acme", target_id).token
    with pytest.raises(TargetNotVerified) as refused:
        world.service.require_verified("acme", "www.example.com")
    assert "covers that host only" in refused.value.detail
    assert world.service.require_verified("acme", "example.com").method is VerificationMethod.HTTP


def test_the_most_specific_verified_target_is_used(world: World) -> None:
    world.verified("acme", "example.com")
    www = world.verified("acme", "www.example.com")
    assert world.service.require_verified("acme", "www.example.com").target_id == www


def test_an_ip_address_can_never_pass_the_gate(world: World) -> None:
    with pytest.raises(TargetNotVerified) as refused:
        world.service.require_verified("acme", "93.184.216.34")
    assert "not a domain" in refused.value.detail
