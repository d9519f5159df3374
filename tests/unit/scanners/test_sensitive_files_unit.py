"""Sensitive-file probes on canned replies (no network): signatures, soft-404, redaction, request bounds."""

from __future__ import annotations

import json
import threading
from typing import Any

import dns.resolver
import pytest

from chalicelib.scanners import sensitive_files as sf
from chalicelib.scanners.base import ScanContext
from chalicelib.scanners.fetch import FetchError
from chalicelib.scans.models import Finding, Severity

BASE = "https://site.test/"
CTX = ScanContext(resolver=dns.resolver.Resolver(configure=False))
HTML_404 = (b"<!DOCTYPE html><html><head><title>Not here</title></head>"
            b"<body>Sorry, nothing at this address.</body></html>")
SQL = (b"-- MySQL dump 10.13  Distrib 8.0.32\n--\nCREATE TABLE `users` (id int);\n"
       b"INSERT INTO `users` VALUES (1,'admin','s3cr3t-hash');\n")

# A minimal body each probe must recognise: a new probe needs its sample here.
SAMPLES: dict[str, bytes] = {
    "git-head": b"ref: refs/heads/main\n",
    "git-config": b"[core]\n\trepositoryformatversion = 0\n\tbare = false\n",
    "svn-entries": b"12\n",
    "svn-wc-db": b"SQLite format 3\x00\x10\x00\x01\x01",
    "hg-requires": b"dotencode\nfncache\ngeneraldelta\nrevlogv1\nstore\n",
    "dotenv": b"APP_ENV=production\nDB_HOST=db.internal\n",
    "aws-credentials": b"[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n",
    "backup-zip": b"PK\x03\x04\x14\x00\x00\x00\x08\x00",
    "backup-tar-gz": b"\x1f\x8b\x08\x00\x00\x00\x00\x00",
    "backup-sql": SQL, "dump-sql": SQL, "db-sql": SQL, "database-sql": SQL,
    "apache-server-status": (b"<html><head><title>Apache Status</title></head>"
                             b"<body><h1>Apache Server Status for site.test</h1></body></html>"),
    "phpinfo": b"<html><head><title>PHP 8.1.2 - phpinfo()</title></head><body>PHP Version 8.1.2</body></html>",
    "info-php": b"<html><head><title>phpinfo()</title></head></html>",
    "listing-root": b"<html><head><title>Index of /</title></head><body><h1>Index of /</h1><a href='a.zip'>a.zip</a>",
    "listing-backup": b"<html><head><title>Index of /backup</title></head></html>",
    "listing-uploads": b"<!DOCTYPE HTML><html><title>Directory listing for /uploads/</title></html>",
}
EXPECTED_SEVERITY = {
    "vcs-metadata-exposed": Severity.CRITICAL, "secrets-file-exposed": Severity.CRITICAL,
    "backup-file-exposed": Severity.HIGH, "server-status-exposed": Severity.MEDIUM,
    "phpinfo-exposed": Severity.MEDIUM, "directory-listing": Severity.LOW,
}


def reply(path: str, status: int = 200, body: bytes = b"", content_type: str = "text/plain") -> sf.Reply:
    return sf.Reply(BASE.rstrip("/") + path, status, (("Content-Type", content_type),), body)


class FakeHost:
    """Answers from a path table; anything else gets `default` (a 404 unless a soft-404 host)."""

    def __init__(self, table: dict[str, bytes], default: tuple[int, bytes] = (404, b"not found")) -> None:
        self.table, self.default = table, default
        self.asked: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, url: str) -> sf.Reply:
        path = "/" + url.removeprefix(BASE.rstrip("/")).lstrip("/")
        with self.lock:
            self.asked.append(path)
        if path in self.table:
            return reply(path, 200, self.table[path])
        return reply(path, *self.default)


def probe(probe_id: str) -> sf.Probe:
    return next(p for p in sf.load_rules().probes if p.id == probe_id)


def scan(host: FakeHost) -> list[Finding]:
    return sf.sensitive_file_findings(BASE, CTX, get=host)


def test_the_probe_table_validates_and_stays_within_twenty_requests() -> None:
    rules = sf.load_rules()
    assert 1 <= len(rules.probes) <= sf.MAX_PROBES and sf.MAX_PROBES + 1 <= 20
    assert len({p.path for p in rules.probes}) == len(rules.probes)
    assert {p.code for p in rules.probes} == set(sf.CATALOG.specs)
    assert set(SAMPLES) == {p.id for p in rules.probes}


@pytest.mark.parametrize("change", [
    {"code": "no-such-code"}, {"path": "relative"}, {"require": ["(unclosed"]}, {"excerpt": "all"}, {"require": []},
])
def test_an_invalid_probe_is_refused(change: dict[str, Any]) -> None:
    data = json.loads(sf.RULES_FILE.read_text())
    data["probes"][0].update(change)
    with pytest.raises(ValueError, match="probe git-head"):
        sf.parse_rules(data)


def test_more_probes_than_the_request_budget_is_refused() -> None:
    data = json.loads(sf.RULES_FILE.read_text())
    data["probes"].append({**data["probes"][0], "id": "extra", "path": "/extra"})
    with pytest.raises(ValueError, match="between 1 and 19"):
        sf.parse_rules(data)


@pytest.mark.parametrize("probe_id", sorted(SAMPLES))
def test_each_probe_recognises_its_file_type(probe_id: str) -> None:
    p = probe(probe_id)
    found = sf.assess(p, reply(p.path, body=SAMPLES[probe_id]), reply("/x", 404), sf.load_rules())
    assert found is not None and found.code == p.code and found.severity is EXPECTED_SEVERITY[p.code]
    assert found.evidence["signature"].startswith(probe_id)


@pytest.mark.parametrize("probe_id", sorted(SAMPLES))
def test_no_probe_matches_an_ordinary_page_or_another_file_type(probe_id: str) -> None:
    p = probe(probe_id)
    others = [body for other, body in SAMPLES.items() if probe(other).code != p.code]
    for body in [HTML_404, b"", b"hello world\n", *others]:
        assert sf.assess(p, reply(p.path, body=body), None, sf.load_rules()) is None, body[:40]


def test_a_signature_served_with_an_error_status_is_not_a_finding() -> None:
    p = probe("dotenv")
    assert sf.assess(p, reply(p.path, 403, SAMPLES["dotenv"]), None, sf.load_rules()) is None


def test_exposed_git_env_and_backup_are_found_with_evidence() -> None:
    host = FakeHost({"/.git/HEAD": SAMPLES["git-head"], "/.env": SAMPLES["dotenv"], "/backup.sql": SQL})
    found = {f.evidence["url"]: f for f in scan(host)}
    assert set(found) == {"https://site.test/.git/HEAD", "https://site.test/.env", "https://site.test/backup.sql"}
    head = found["https://site.test/.git/HEAD"]
    assert (head.code, head.severity) == ("vcs-metadata-exposed", Severity.CRITICAL)
    assert head.evidence | {"rules_version": None} == {
        "url": "https://site.test/.git/HEAD", "status": 200, "size": len(SAMPLES["git-head"]),
        "content_type": "text/plain", "signature": "git-head: Git HEAD reference",
        "excerpt": "ref: refs/heads/main", "soft_404": False, "rules_version": None,
    }
    assert found["https://site.test/backup.sql"].evidence["excerpt"] == "-- MySQL dump 10.13  Distrib 8.0.32"


def test_a_soft_404_host_that_answers_200_to_everything_yields_nothing() -> None:
    host = FakeHost({}, default=(200, HTML_404))
    assert scan(host) == []
    assert host.asked[0].startswith("/perimeter-") and len(host.asked) == 1 + len(sf.load_rules().probes)


def test_a_catch_all_that_looks_like_a_file_is_not_mistaken_for_one() -> None:
    host = FakeHost({}, default=(200, b"KEY=1\nOTHER=2\n"))  # the same 'dotenv' for every path
    assert scan(host) == []


def test_on_a_soft_404_host_a_real_file_still_counts_and_says_so() -> None:
    host = FakeHost({"/.git/config": SAMPLES["git-config"]}, default=(200, HTML_404))
    [finding] = scan(host)
    assert finding.code == "vcs-metadata-exposed" and finding.evidence["soft_404"] is True


def test_an_html_page_at_a_file_path_is_not_a_file() -> None:
    page = b"<html><body>KEY=1\nOTHER=2\n[core]\nref: refs/heads/x</body></html>"
    host = FakeHost({"/.env": page, "/.git/config": page})
    assert scan(host) == []


SECRETS = ("hunter2-Passw0rd", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AKIAIOSFODNN7EXAMPLE",
           "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "sk_live_51HxYzAbCdEf", "s3cr3t-hash")


def test_no_secret_from_an_exposed_file_reaches_a_finding() -> None:
    host = FakeHost({
        "/.env": f"DB_PASSWORD={SECRETS[0]}\nexport AWS_SECRET_ACCESS_KEY={SECRETS[1]}\nSTRIPE={SECRETS[4]}\n".encode(),
        "/.aws/credentials": f"[default]\naws_access_key_id = {SECRETS[2]}\naws_secret_access_key={SECRETS[1]}\n"
                             .encode(),
        "/.git/config": f"[core]\n\tbare = false\n[remote \"origin\"]\n\turl = https://bot:{SECRETS[3]}@github.com/a/b\n"
                        .encode(),
        "/dump.sql": f"INSERT INTO users VALUES (1,'{SECRETS[5]}');\n".encode(),
    })
    findings = scan(host)
    assert {f.evidence["url"].rsplit("/", 1)[1] for f in findings} == {".env", "credentials", "config", "dump.sql"}
    text = json.dumps([f.model_dump(mode="json") for f in findings])
    for secret in SECRETS:
        assert secret not in text
    env = next(f for f in findings if f.evidence["url"].endswith("/.env"))
    assert env.evidence["excerpt"].splitlines()[0] == "DB_PASSWORD=[redacted]"


@pytest.mark.parametrize(("raw", "clean"), [
    ("API_KEY=abc123", "API_KEY=[redacted]"),
    ("url = https://user:pw@git.example/repo", "url = [redacted]"),
    ("remote: https://user:pw@git.example/repo", "remote: https://[redacted]@git.example/repo"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "[redacted private key]"),
    ("INSERT INTO t VALUES (1, 'x')", "INSERT INTO t VALUES [redacted]"),
    ("token: abc", "token: [redacted]"),
    ("ref: refs/heads/main", "ref: refs/heads/main"),
])
def test_redaction_replaces_values_and_credentials(raw: str, clean: str) -> None:
    assert sf.redact(raw) == clean


def test_a_host_that_stops_answering_is_left_after_a_few_failures() -> None:
    calls: list[str] = []
    lock = threading.Lock()

    def broken(url: str) -> sf.Reply:
        with lock:
            calls.append(url)
        raise FetchError("connection reset")

    assert sf.sensitive_file_findings(BASE, CTX, get=broken) == []
    assert len(calls) <= sf.MAX_FAILURES + sf.WORKERS < 1 + len(sf.load_rules().probes)


def test_the_size_is_the_declared_length_when_the_body_was_capped() -> None:
    p = probe("backup-zip")
    capped = sf.Reply("https://site.test/backup.zip", 200, (("Content-Length", "73400320"),), SAMPLES["backup-zip"])
    found = sf.assess(p, capped, None, sf.load_rules())
    assert found is not None and found.evidence["size"] == 73400320 and found.evidence["excerpt"] is None
