"""Organization settings: what PATCH accepts, what it refuses, and that new scans see the threshold at once."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.api.http import validate
from chalicelib.core.errors import NotFound, Unprocessable
from chalicelib.organizations.models import UpdateOrganization
from tests.unit.organizations.harness import Harness, build


@pytest.fixture
def h() -> Harness:
    return build()


def _patch(h: Harness, data: dict[str, Any], tenant_id: str = "acme") -> Any:
    return h.orgs.update_organization(tenant_id, validate(UpdateOrganization, data))


def test_a_new_organization_shows_the_tenants_settings(h: Harness) -> None:
    org = h.orgs.get_organization("acme")
    assert (org.organization_id, org.name, org.default_ready_threshold) == ("acme", "Acme Insurance", 65)
    assert org.industry is None and org.branding_url is None and org.contact.model_dump() == {
        "name": None, "email": None, "phone": None}


def test_patch_changes_only_the_fields_given(h: Harness) -> None:
    _patch(h, {"industry": "insurance", "contact": {"name": "Ada", "email": "ada@acme.example"}})
    h.clock.advance(minutes=5)
    org = _patch(h, {"name": "  Acme Cyber  ", "branding_url": "https://acme.example/partners"})
    assert org.name == "Acme Cyber" and org.industry == "insurance" and org.contact.name == "Ada"
    assert org.branding_url == "https://acme.example/partners" and org.updated_at == h.clock.now
    assert h.orgs.get_organization("acme") == org


def test_null_clears_an_optional_field(h: Harness) -> None:
    _patch(h, {"industry": "retail", "contact": {"phone": "+61 2 9000 0000"}, "branding_url": "https://a.example"})
    org = _patch(h, {"industry": None, "contact": None, "branding_url": None})
    assert org.industry is None and org.branding_url is None and org.contact.phone is None


def test_the_threshold_is_the_tenants_and_is_seen_at_once_despite_the_tenant_cache(h: Harness) -> None:
    assert h.auth.get_tenant("acme").ready_threshold == 65  # now cached
    _patch(h, {"default_ready_threshold": 80})
    assert h.auth.get_tenant("acme").ready_threshold == 80
    assert h.orgs.get_organization("acme").default_ready_threshold == 80


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "Acme", "plan": "gold"}, "plan"),
    ({"contact": {"name": "Ada", "fax": "1"}}, "contact.fax"),
    ({"name": None}, "name"),
    ({"name": ""}, "name"),
    ({"name": "Acme\r\nBcc: x@evil.example"}, "name"),
    ({"industry": "x" * 81}, "industry"),
    ({"default_ready_threshold": 101}, "default_ready_threshold"),
    ({"default_ready_threshold": True}, "default_ready_threshold"),
    ({"default_ready_threshold": "70"}, "default_ready_threshold"),
    ({"default_ready_threshold": None}, "default_ready_threshold"),
    ({"branding_url": "http://acme.example"}, "branding_url"),
    ({"branding_url": "https://user:pw@acme.example"}, "branding_url"),
    ({"branding_url": "javascript:alert(1)"}, "branding_url"),
    ({"branding_url": "https:///nohost"}, "branding_url"),
    ({"contact": {"email": "not-an-address"}}, "contact.email"),
    ({"contact": {"phone": "call me"}}, "contact.phone"),
])
def test_bad_fields_are_refused_by_name_and_nothing_changes(h: Harness, body: dict[str, Any], field: str) -> None:
    before = h.snapshot()
    with pytest.raises(Unprocessable) as caught:
        _patch(h, body)
    assert field in [e["field"] for e in caught.value.extra["errors"]]
    assert h.snapshot() == before


def test_unknown_fields_are_all_listed(h: Harness) -> None:
    with pytest.raises(Unprocessable) as caught:
        validate(UpdateOrganization, {"plan": "gold", "seats": 3, "name": "Acme"})
    assert sorted(e["field"] for e in caught.value.extra["errors"]) == ["plan", "seats"]


def test_an_unknown_tenant_is_not_found_and_nothing_is_written(h: Harness) -> None:
    before = h.snapshot()
    with pytest.raises(NotFound):
        _patch(h, {"industry": "retail"}, tenant_id="ghost")
    assert h.snapshot() == before
