"""SPF, DMARC, DKIM, MTA-STS and TLS-RPT analysis on given records (no DNS)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from chalicelib.scanners.mail import (
    SpfSyntaxError,
    dkim_findings,
    dkim_key_bits,
    dmarc_findings,
    mx_covered,
    parse_spf,
    parse_sts_policy,
    parse_tags,
    spf_findings,
    tlsrpt_findings,
)
from chalicelib.scans.models import Finding, Severity
from tests.support.lab import dkim_record


def no_includes(name: str) -> list[str]:
    raise AssertionError(f"unexpected lookup of {name}")


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def spf_codes(record: str, zone: dict[str, list[str]] | None = None) -> list[str]:
    found, _ = spf_findings("example.test", [record], (lambda n: (zone or {}).get(n, [])))
    return codes(found)


def test_spf_with_plus_all_is_a_high_finding() -> None:
    found, _ = spf_findings("example.test", ["v=spf1 +all"], no_includes)
    [item] = found
    assert (item.code, item.severity, item.cwe) == ("spf-plus-all", Severity.HIGH, "CWE-290")
    assert item.evidence["records"] == ["v=spf1 +all"]


def test_spf_with_bare_all_counts_as_plus_all() -> None:
    assert spf_codes("v=spf1 ip4:192.0.2.1 all") == ["spf-plus-all"]


def test_spf_with_question_all_is_a_medium_finding() -> None:
    found, _ = spf_findings("example.test", ["v=spf1 mx ?all"], lambda n: [])
    assert [(f.code, f.severity) for f in found] == [("spf-neutral-all", Severity.MEDIUM)]


def test_spf_with_dash_all_has_no_finding() -> None:
    assert spf_codes("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all") == []


def test_spf_softfail_is_low() -> None:
    assert spf_codes("v=spf1 ip4:192.0.2.1 ~all") == ["spf-softfail-all"]


def test_spf_without_all_or_redirect_is_flagged() -> None:
    assert spf_codes("v=spf1 ip4:192.0.2.1") == ["spf-no-all"]


def test_spf_redirect_takes_the_all_of_its_target() -> None:
    zone = {"_spf.example.test": ["v=spf1 ip4:192.0.2.1 ?all"]}
    assert spf_codes("v=spf1 redirect=_spf.example.test", zone) == ["spf-neutral-all"]


def test_missing_spf_is_high() -> None:
    found, _ = spf_findings("example.test", ["google-site-verification=x"], no_includes)
    assert [(f.code, f.severity) for f in found] == [("spf-missing", Severity.HIGH)]


def test_two_spf_records_are_a_permerror_finding() -> None:
    found, _ = spf_findings("example.test", ["v=spf1 -all", "v=spf1 mx -all"], no_includes)
    assert codes(found) == ["spf-multiple"]


@pytest.mark.parametrize("record", [
    "v=spf1 ip4:300.1.1.1 -all", "v=spf1 ip4:2001:db8::1 -all", "v=spf1 include -all", "v=spf1 foo:bar -all",
    "v=spf1 all:x", "v=spf1 redirect= -all",
])
def test_malformed_spf_is_a_syntax_error(record: str) -> None:
    with pytest.raises(SpfSyntaxError):
        parse_spf(record)
    assert spf_codes(record) == ["spf-syntax-error"]


def test_spf_lookups_are_counted_recursively_through_includes() -> None:
    zone = {f"inc{i}.example.test": ["v=spf1 a mx -all"] for i in range(4)}
    record = "v=spf1 " + " ".join(f"include:inc{i}.example.test" for i in range(4)) + " -all"
    found, evidence = spf_findings("example.test", [record], lambda n: zone.get(n, []))
    assert evidence["lookups"] > 10  # 4 includes + 4 x (a + mx) = 12; the walk stops once past the limit
    assert codes(found) == ["spf-too-many-lookups"]


def test_ten_spf_lookups_are_still_within_the_limit() -> None:
    zone = {"inc.example.test": ["v=spf1 a a a a a a a a -all"]}
    found, evidence = spf_findings("example.test", ["v=spf1 include:inc.example.test mx -all"],
                                   lambda n: zone.get(n, []))
    assert evidence["lookups"] == 10
    assert codes(found) == []


def test_spf_include_loop_terminates() -> None:
    zone = {"a.test": ["v=spf1 include:b.test -all"], "b.test": ["v=spf1 include:a.test -all"]}
    _, evidence = spf_findings("example.test", ["v=spf1 include:a.test -all"], lambda n: zone.get(n, []))
    assert evidence["lookups"] <= 11


def test_spf_include_without_record_is_broken() -> None:
    found, _ = spf_findings("example.test", ["v=spf1 include:gone.test -all"], lambda n: [])
    [item] = found
    assert item.code == "spf-include-broken" and item.evidence["broken"] == ["gone.test"]


def test_spf_ptr_is_discouraged() -> None:
    assert spf_codes("v=spf1 ptr -all") == ["spf-ptr"]


def test_dmarc_reject_with_rua_is_clean() -> None:
    found, evidence = dmarc_findings(["v=DMARC1; p=reject; rua=mailto:d@example.test"])
    assert found == [] and evidence["tags"]["p"] == "reject"


def test_missing_dmarc_is_high() -> None:
    found, _ = dmarc_findings([])
    assert [(f.code, f.severity) for f in found] == [("dmarc-missing", Severity.HIGH)]


def test_dmarc_p_none_without_rua_gives_two_findings() -> None:
    found, _ = dmarc_findings(["v=DMARC1; p=none"])
    assert codes(found) == ["dmarc-policy-none", "dmarc-no-rua"]


def test_dmarc_partial_pct_is_flagged() -> None:
    found, _ = dmarc_findings(["v=DMARC1; p=quarantine; pct=25; rua=mailto:d@example.test"])
    assert codes(found) == ["dmarc-partial-pct"]


@pytest.mark.parametrize("record", ["v=DMARC1; rua=mailto:x@y", "v=DMARC1; p=block", "v=dmarc1; p=reject"])
def test_invalid_dmarc_is_flagged(record: str) -> None:
    found, _ = dmarc_findings([record])
    assert codes(found) == ["dmarc-invalid"]


def test_two_dmarc_records_are_flagged() -> None:
    found, _ = dmarc_findings(["v=DMARC1; p=reject", "v=DMARC1; p=none"])
    assert codes(found) == ["dmarc-multiple"]


def test_dkim_key_size_is_read_from_the_record() -> None:
    assert dkim_key_bits(parse_tags(dkim_record(2048))) == ("rsa", 2048)
    raw = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert dkim_key_bits({"k": "ed25519", "p": base64.b64encode(raw).decode()}) == ("ed25519", 256)
    assert dkim_key_bits({"p": "not base64!"}) == ("rsa", None)


def test_dkim_512_bit_key_is_high_and_1024_is_low() -> None:
    found, _ = dkim_findings({"weak": dkim_record(512), "old": dkim_record(1024), "ok": dkim_record(2048)},
                             ["weak", "old", "ok"], [])
    assert sorted((f.code, f.severity, f.evidence["selector"]) for f in found) == [
        ("dkim-short-key", Severity.LOW, "old"), ("dkim-weak-key", Severity.HIGH, "weak")]


def test_no_dkim_under_any_probed_selector_is_reported_with_the_list() -> None:
    found, _ = dkim_findings({}, ["default", "s1"], [])
    [item] = found
    assert item.code == "dkim-not-found" and item.evidence["probed"] == ["default", "s1"]


def test_dkim_not_found_is_not_claimed_when_every_lookup_failed() -> None:
    found, evidence = dkim_findings({}, ["default", "s1"], ["default", "s1"])
    assert found == [] and evidence["lookup_errors"] == ["default", "s1"]


def test_revoked_dkim_key_is_info() -> None:
    found, _ = dkim_findings({"old": "v=DKIM1; p="}, ["old"], [])
    assert [(f.code, f.severity) for f in found] == [("dkim-key-revoked", Severity.INFO)]


def test_sts_policy_parses_and_validates() -> None:
    policy = parse_sts_policy("version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmx: *.example.test\r\n"
                              "max_age: 86400\r\n")
    assert policy["mode"] == "enforce" and policy["mx"] == ["mx1.example.test", "*.example.test"]


@pytest.mark.parametrize("body", [
    "version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1",
    "version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1",
    "version: STSv1\nmode: enforce\nmax_age: 1",
    "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: forever",
    "<html>not a policy</html>",
])
def test_invalid_sts_policies_are_refused(body: str) -> None:
    with pytest.raises(ValueError):
        parse_sts_policy(body)


def test_sts_wildcard_covers_exactly_one_label() -> None:
    assert mx_covered("mx1.example.test", ["*.example.test"])
    assert not mx_covered("a.b.example.test", ["*.example.test"])
    assert not mx_covered("example.test", ["*.example.test"])
    assert mx_covered("MX.Example.Test.", ["mx.example.test"])


def test_tlsrpt_missing_only_matters_for_domains_that_receive_mail() -> None:
    assert codes(tlsrpt_findings([], True)[0]) == ["tlsrpt-missing"]
    assert tlsrpt_findings([], False)[0] == []


@pytest.mark.parametrize("record", ["v=TLSRPTv1;", "v=TLSRPTv1; rua=ftp://x", "v=TLSRPTv1; rua=mailto:a@b,nope"])
def test_tlsrpt_without_a_valid_rua_is_invalid(record: str) -> None:
    assert codes(tlsrpt_findings([record], True)[0]) == ["tlsrpt-invalid"]


def test_tlsrpt_with_mailto_and_https_is_clean() -> None:
    assert tlsrpt_findings(["v=TLSRPTv1; rua=mailto:a@b.test,https://r.test/x"], True)[0] == []
