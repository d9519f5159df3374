"""Appliance and login-panel rules on hand-made HttpFacts, and the per-service check with a fake fetcher."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import dns.resolver
import pytest

from chalicelib.scanners.base import ScanContext
from chalicelib.scanners.identify import appliances as ap
from chalicelib.scanners.identify.model import HttpFacts, Service
from chalicelib.scans.models import Severity, SignalKey

ADDRESS = "192.0.2.10"
CTX = ScanContext(resolver=dns.resolver.Resolver(configure=False),
                  allowed_networks=(ipaddress.ip_network("192.0.2.0/24"),))


def facts(url: str = f"https://{ADDRESS}/", status: int = 200, headers: dict[str, str] | None = None,
          **kw: Any) -> HttpFacts:
    return HttpFacts(url=url, status=status, headers=headers or {}, **kw)


# The least each rule must recognise: one page per rule (a new rule needs its sample here).
SAMPLES: dict[str, HttpFacts] = {
    "fortinet-fortigate": facts(body='<html><script>top.location="/remote/login";</script></html>'),
    "cisco-asa-anyconnect": facts(headers={"set-cookie": "webvpnlogin=1; path=/; secure"}),
    "citrix-netscaler-gateway": facts(body='<script src="/logon/LogonPoint/receiver/js/ctxs.core.min.js"></script>'),
    "ivanti-connect-secure": facts(body='<form action="/dana-na/auth/url_default/login.cgi" method="POST">'),
    "paloalto-globalprotect": facts(title="GlobalProtect Portal"),
    "sonicwall-sma": facts(headers={"server": "SonicWALL SSL-VPN Web Server"}),
    "sonicwall-sonicos": facts(headers={"server": "SonicWALL"}),
    "microsoft-rd-web": facts(title="RD Web Access"),
    "vmware-horizon": facts(title="VMware Horizon"),
    "microsoft-exchange-owa": facts(headers={"x-owa-version": "15.2.1118.7"}, title="Outlook"),
    "vmware-vcenter": facts(title="ID_VC_Welcome"),
    "vmware-esxi": facts(body='<html ng-app="esxUiApp">'),
    "apache-tomcat-manager": facts(status=401,
                                   headers={"www-authenticate": 'Basic realm="Tomcat Manager Application"'}),
    "jenkins": facts(status=403, headers={"x-jenkins": "2.426.1", "x-hudson": "1.395"}),
    "grafana": facts(body='<script>window.grafanaBootData = {"settings":{"buildInfo":{"hideVersion":false,'
                          '"version":"10.2.3","commit":"1e84fede54"}}};</script>'),
    "kibana": facts(headers={"kbn-name": "kibana", "kbn-license-sig": "abc"}),
    "phpmyadmin": facts(title="phpMyAdmin"),
    "cpanel-whm": facts(title="WHM Login"),
    "webmin": facts(headers={"server": "MiniServ/2.105"}),
    "wordpress-login": facts(body='<a href="https://blog.test/wp-login.php?action=lostpassword">Lost password?</a>'),
}

CLEAN_PAGES = [
    facts(title="Welcome to nginx!", body="<h1>Welcome to nginx!</h1>", headers={"server": "nginx/1.24.0"}),
    facts(title="Apache2 Ubuntu Default Page: It works", headers={"server": "Apache/2.4.57 (Ubuntu)"}),
    facts(title="How we patched our FortiGate and GlobalProtect", headers={"set-cookie": "session=abc; Secure"},
          body="<p>Fortinet FortiGate, Cisco ASA, Citrix NetScaler, Pulse Secure, Jenkins and Grafana: a review.</p>"),
    facts(title="Login", body='<form action="/login" method="post"><input name="password"></form>',
          headers={"set-cookie": "JSESSIONID=1; Path=/, NSC_lbvserver_web=ffff; Path=/"}),
    facts(status=404, body="Not Found", cert_subject="CN=www.example.test,O=Example Ltd,C=GB",
          cert_issuer="CN=R11,O=Let's Encrypt,C=US", cert_names=("www.example.test",)),
]


def service(http: HttpFacts | None = None, name: str = "https", port: int = 443, address: str = ADDRESS) -> Service:
    return Service(address=address, port=port, name=name, http=http)


class FakeFetcher:
    """Answers a URL from a table (None for anything else, as a fetcher does for no answer)."""

    def __init__(self, pages: dict[str, HttpFacts | None] | None = None, default: HttpFacts | None = None) -> None:
        self.pages, self.default = pages or {}, default
        self.asked: list[str] = []

    def __call__(self, url: str) -> HttpFacts | None:
        self.asked.append(url)
        return self.pages.get(url, self.default)


def test_the_rules_validate_and_request_at_most_thirteen_paths() -> None:
    rules = ap.load_rules()
    assert {r.id for r in rules.rules} == set(SAMPLES)
    assert len(ap.APPLIANCE_PATHS) <= 13 and len(set(ap.APPLIANCE_PATHS)) == len(ap.APPLIANCE_PATHS)
    assert ap.APPLIANCE_PATHS[0] == "/remote/login" and "/+CSCOE+/logon.html" in ap.APPLIANCE_PATHS
    assert {r.kind for r in rules.rules} == {"appliance", "panel"}
    assert all(r.cpe.count(":") == 3 for r in rules.rules)


@pytest.mark.parametrize(("where", "change", "message"), [
    ("rule", {"kind": "router"}, "kind must be"),
    ("rule", {"cpe": "fortinet:fortios"}, "CPE 2.2"),
    ("rule", {"match": [{"titel": "x"}]}, "unknown keys"),
    ("rule", {"match": [{"body": "(open"}]}, "bad pattern"),
    ("rule", {"version": [{"from": "body", "pattern": "no group"}]}, "exactly one group"),
    ("rule", {"version": [{"from": "cookie", "pattern": "(x)"}]}, "version source"),
    ("rule", {"paths": ["remote/login"]}, "start with /"),
    ("top", {"max_paths": 3}, "more than max_paths"),
])
def test_an_invalid_rule_table_is_refused(where: str, change: dict[str, Any], message: str) -> None:
    data = json.loads(ap.RULES_FILE.read_text())
    (data["rules"][0] if where == "rule" else data).update(change)
    with pytest.raises(ValueError, match=message):
        ap.parse_rules(data)


@pytest.mark.parametrize("rule_id", sorted(SAMPLES))
def test_each_rule_recognises_its_minimal_page(rule_id: str) -> None:
    match = ap.match_appliance(SAMPLES[rule_id])
    assert match is not None and match.rule.id == rule_id and match.markers


@pytest.mark.parametrize("page", CLEAN_PAGES, ids=["nginx", "apache", "blog", "generic-login", "plain-404"])
def test_no_rule_matches_an_ordinary_page(page: HttpFacts) -> None:
    assert ap.match_appliance(page) is None


def test_the_fortigate_default_certificate_alone_names_the_appliance() -> None:
    page = facts(cert_subject="1.2.840.113549.1.9.1=support@fortinet.com,CN=FGT60FTK2009ABCD,OU=FortiGate,"
                              "O=Fortinet,L=Sunnyvale,ST=California,C=US", cert_issuer="CN=FGT60FTK2009ABCD,O=Fortinet")
    match = ap.match_appliance(page)
    assert match is not None and match.rule.id == "fortinet-fortigate"
    assert match.markers[0].startswith("cert: ") and "FGT60FTK2009ABCD" in match.markers[0]


def test_a_netscaler_load_balancing_cookie_is_not_a_gateway_portal() -> None:
    assert ap.match_appliance(facts(headers={"set-cookie": "NSC_web-lb=ffffffff0914; path=/"})) is None
    gateway = ap.match_appliance(facts(headers={"set-cookie": "NSC_TMAS=abc; path=/, NSC_AAAC=x; path=/"}))
    assert gateway is not None and gateway.rule.id == "citrix-netscaler-gateway"


@pytest.mark.parametrize(("rule_id", "version"), [
    ("jenkins", "2.426.1"), ("microsoft-exchange-owa", "15.2.1118.7"), ("webmin", "2.105"), ("grafana", "10.2.3"),
])
def test_the_version_is_read_where_the_page_reveals_it(rule_id: str, version: str) -> None:
    match = ap.match_appliance(SAMPLES[rule_id])
    assert match is not None and match.version == version and match.cpe == f"{match.rule.cpe}:{version}"


def test_tomcat_version_comes_from_its_error_page() -> None:
    page = facts(status=401, body="<h3>Apache Tomcat/9.0.83</h3> edit conf/tomcat-users.xml")
    match = ap.match_appliance(page)
    assert match is not None and match.rule.id == "apache-tomcat-manager" and match.version == "9.0.83"
    assert "status: 401" in match.markers


def test_a_tomcat_users_hint_on_a_200_page_is_not_the_manager() -> None:
    assert ap.match_appliance(facts(body="How to edit conf/tomcat-users.xml")) is None


def test_a_recognised_root_page_is_a_high_finding_naming_the_product_without_any_request() -> None:
    fetcher = FakeFetcher()
    [finding] = ap.appliance_findings(service(SAMPLES["fortinet-fortigate"]), CTX, fetcher)
    assert fetcher.asked == []
    assert (finding.signal, finding.code, finding.severity) == (SignalKey.SCAN, "appliance-portal-exposed",
                                                                Severity.HIGH)
    assert finding.product == "Fortinet FortiGate (FortiOS SSL-VPN)" and finding.cpe == "cpe:/o:fortinet:fortios"
    assert finding.kev is True and "Fortinet|FortiOS" in finding.evidence["kev_families"]
    assert finding.evidence["rule"] == "fortinet-fortigate" and finding.evidence["port"] == 443
    assert finding.evidence["markers"] == ['body: top.location="/remote/login']


def test_a_panel_is_a_medium_login_panel_finding_with_its_version() -> None:
    [finding] = ap.appliance_findings(service(SAMPLES["jenkins"], name="http", port=8080), CTX)
    assert (finding.code, finding.severity) == ("login-panel-exposed", Severity.MEDIUM)
    assert (finding.product, finding.version, finding.cpe) == ("Jenkins", "2.426.1", "cpe:/a:jenkins:jenkins:2.426.1")


def test_portal_paths_are_requested_in_order_until_one_matches() -> None:
    root = f"https://{ADDRESS}"
    plain = facts(title="Welcome", body="<p>hi</p>")
    fetcher = FakeFetcher({f"{root}/dana-na/auth/url_default/welcome.cgi": SAMPLES["ivanti-connect-secure"]},
                          default=facts(status=404))
    [finding] = ap.appliance_findings(service(plain), CTX, fetcher)
    assert fetcher.asked == [root + p for p in ap.APPLIANCE_PATHS[:4]]
    assert finding.evidence["rule"] == "ivanti-connect-secure" and finding.cpe == "cpe:/a:ivanti:connect_secure"


def test_a_port_with_nothing_recognisable_costs_at_most_the_portal_paths() -> None:
    fetcher = FakeFetcher(default=facts(status=404, body="Not Found"))
    assert ap.appliance_findings(service(facts(title="Welcome")), CTX, fetcher) == []
    assert len(fetcher.asked) == len(ap.APPLIANCE_PATHS) <= 13


def test_a_port_that_stops_answering_is_left_after_a_few_misses() -> None:
    fetcher = FakeFetcher()  # None for everything
    assert ap.appliance_findings(service(facts(title="Welcome")), CTX, fetcher) == []
    assert len(fetcher.asked) == ap.MAX_MISSES


def test_an_http_port_without_root_facts_is_probed_by_its_name_and_number() -> None:
    fetcher = FakeFetcher({f"http://{ADDRESS}:8080/login": SAMPLES["grafana"]}, default=facts(status=404))
    [finding] = ap.appliance_findings(service(None, name="http-proxy", port=8080), CTX, fetcher)
    assert finding.product == "Grafana" and fetcher.asked[-1] == f"http://{ADDRESS}:8080/login"


def test_services_that_do_not_speak_http_are_left_alone() -> None:
    fetcher = FakeFetcher(default=SAMPLES["jenkins"])
    assert ap.appliance_findings(service(None, name="ssh", port=22), CTX, fetcher) == []
    assert fetcher.asked == []


def test_an_address_the_target_guard_refuses_is_never_requested() -> None:
    fetcher = FakeFetcher(default=SAMPLES["jenkins"])
    assert ap.appliance_findings(service(facts(title="x"), address="10.1.2.3"), CTX, fetcher) == []
    assert fetcher.asked == []


def test_without_a_fetcher_only_the_root_page_is_judged() -> None:
    assert ap.appliance_findings(service(facts(title="Welcome")), CTX) == []
    assert len(ap.appliance_findings(service(SAMPLES["kibana"]), CTX)) == 1


@pytest.mark.parametrize("location", ["https://192.0.2.10/remote/login", "/remote/login"])
def test_a_redirector_echoing_the_requested_portal_path_is_not_an_appliance(location: str) -> None:
    # `return 301 https://$host$request_uri` answers /remote/login with /remote/login: that is our own path.
    echoed = facts(url="http://192.0.2.10/remote/login", status=301, headers={"location": location})
    assert ap.match_appliance(echoed) is None


def test_a_root_page_redirecting_to_the_portal_path_still_names_the_appliance() -> None:
    hit = ap.match_appliance(facts(url="https://192.0.2.10/", status=302, headers={"location": "/remote/login"}))
    assert hit is not None and hit.rule.id == "fortinet-fortigate"
