"""Signal `mail` against the lab's authoritative DNS server and MTA-STS policy server."""

from __future__ import annotations

from typing import Any

from chalicelib.scanners import mail
from chalicelib.scans.models import Severity, SignalResult, SignalStatus
from tests.support.lab import Lab
from tests.support.services import SmtpServer
from tests.support.tlsserver import server_context


def run(lab: Lab, domain: str, **overrides: Any) -> SignalResult:
    return mail.run(domain, lab.context(domain, **overrides))


def codes(result: SignalResult) -> list[str]:
    return sorted(f.code for f in result.findings)


def test_a_well_configured_domain_has_only_the_summary(lab: Lab) -> None:
    # mx.good.test speaks SMTP with STARTTLS and a valid certificate (on a free port: smtp_port)
    smtp = SmtpServer(context=server_context(lab.ca.issue("mx.good.test")), host=lab.good).start()
    try:
        result = run(lab, "good.test", smtp_port=smtp.port)
    finally:
        smtp.stop()
    assert result.status is SignalStatus.COMPLETE
    assert codes(result) == ["mail-summary"]
    evidence = result.findings[-1].evidence
    assert evidence["spf"]["records"] == ["v=spf1 ip4:192.0.2.0/24 include:_spf.good.test -all"]
    assert evidence["spf"]["lookups"] == 1
    assert evidence["dmarc"]["tags"]["p"] == "reject"
    assert list(evidence["dkim"]["found"]) == ["s1"]
    assert evidence["mx"]["mx"] == ["10 mx.good.test"]
    assert "mode: enforce" in evidence["mta_sts"]["policy"]
    assert evidence["tls_rpt"]["records"] == ["v=TLSRPTv1; rua=mailto:tlsrpt@good.test"]
    assert evidence["smtp"]["mx.good.test"]["trusted"] is True


def test_the_mta_sts_policy_was_fetched_from_the_policy_host_over_https(lab: Lab) -> None:
    before = len(lab.good_https.requests)
    run(lab, "good.test")
    fetched = [r for r in lab.good_https.requests[before:] if r.path == "/.well-known/mta-sts.txt"]
    assert [r.headers["host"] for r in fetched] == [f"mta-sts.good.test:{lab.https_ports['good.test']}"]


def test_a_badly_configured_domain_gets_each_finding_it_deserves(lab: Lab) -> None:
    result = run(lab, "bad.test")
    assert codes(result) == sorted(["spf-plus-all", "dmarc-policy-none", "dmarc-no-rua", "dkim-not-found",
                                    "mx-unresolvable", "mta-sts-missing", "tlsrpt-missing", "mail-summary"])
    spf = next(f for f in result.findings if f.code == "spf-plus-all")
    assert spf.severity is Severity.HIGH and spf.evidence["records"] == ["v=spf1 +all"]
    mx = next(f for f in result.findings if f.code == "mx-unresolvable")
    assert mx.evidence["host"] == "mx.bad.test"


def test_spf_lookups_beyond_ten_through_real_includes_are_flagged(lab: Lab) -> None:
    result = run(lab, "many.test")
    [item] = [f for f in result.findings if f.code == "spf-too-many-lookups"]
    assert item.evidence["lookups"] > 10
    assert "inc0.many.test" in item.evidence["includes"]


def test_dkim_keys_under_default_and_extra_selectors_are_sized(lab: Lab) -> None:
    without = run(lab, "weakdkim.test")
    assert [f.evidence["selector"] for f in without.findings if f.code.startswith("dkim-")] == ["selector1"]
    result = run(lab, "weakdkim.test", dkim_selectors=("mydkim", "bad selector!"))
    found = {f.evidence["selector"]: f.code for f in result.findings if f.code.startswith("dkim-")}
    assert found == {"selector1": "dkim-weak-key", "mydkim": "dkim-short-key"}
    probed = result.findings[-1].evidence["dkim"]["probed"]
    assert "mydkim" in probed and "bad selector!" not in probed


def test_an_mx_host_missing_from_the_sts_policy_is_flagged(lab: Lab) -> None:
    result = run(lab, "stsmismatch.test")
    [item] = [f for f in result.findings if f.code == "mta-sts-mx-mismatch"]
    assert item.evidence["mx"] == "mx.other-provider.test"


def test_an_sts_policy_in_testing_mode_is_low(lab: Lab) -> None:
    result = run(lab, "ststesting.test")
    [item] = [f for f in result.findings if f.code == "mta-sts-testing"]
    assert item.severity is Severity.LOW


def test_an_unreachable_sts_policy_is_a_finding(lab: Lab) -> None:
    result = run(lab, "good.test", https_port=1)  # nothing listens on port 1
    [item] = [f for f in result.findings if f.code.startswith("mta-sts")]
    assert item.code == "mta-sts-policy-unreachable"


def test_without_the_private_exemption_the_sts_policy_is_not_fetched(lab: Lab) -> None:
    before = len(lab.good_https.requests)
    result = run(lab, "good.test", exempt=False)
    assert result.status is SignalStatus.COMPLETE  # DNS checks do not connect to the target
    [item] = [f for f in result.findings if f.code.startswith("mta-sts")]
    assert item.code == "mta-sts-policy-not-checked" and "target guard" in item.detail
    assert len(lab.good_https.requests) == before


def test_a_domain_that_does_not_exist_is_not_tested(lab: Lab) -> None:
    result = run(lab, "nowhere.test")
    assert result.status is SignalStatus.NOT_TESTED and "NXDOMAIN" in (result.error or "")


def test_a_resolver_failure_is_an_error_not_a_failure(lab: Lab) -> None:
    result = run(lab, "servfail.test")
    assert result.status is SignalStatus.ERROR and result.findings == []
