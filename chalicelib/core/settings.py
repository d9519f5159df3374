"""The one Settings model: every knob Perimeter reads from its environment, validated once."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from chalicelib.core.addresses import SelfEndpoint, parse_self_endpoints

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Environment variable -> Settings field. One table, so docs, Terraform and tests can check it.
ENV_VARS: dict[str, str] = {
    "PERIMETER_STAGE": "stage",
    "AWS_REGION": "aws_region",
    "AWS_ENDPOINT_URL": "aws_endpoint_url",
    "PERIMETER_TABLE": "table_name",
    "PERIMETER_BUCKET": "bucket_name",
    "PERIMETER_WEBHOOK_QUEUE_URL": "webhook_queue_url",
    "PERIMETER_WEBHOOK_DLQ_URL": "webhook_dlq_url",
    "PERIMETER_STATE_MACHINE_ARN": "state_machine_arn",
    "PERIMETER_CLUSTER": "cluster_name",
    "PERIMETER_PUBLIC_BASE_URL": "public_base_url",
    "PERIMETER_PORT": "port",
    "PERIMETER_BOOTSTRAP_API_KEY": "bootstrap_api_key",
    "PERIMETER_KEY_PEPPER": "key_pepper",
    "PERIMETER_DNS_SERVERS": "dns_servers",
    "PERIMETER_DNS_TIMEOUT": "dns_timeout",
    "PERIMETER_ALLOW_PRIVATE_TARGETS": "allow_private_targets",
    "PERIMETER_SCAN_PORTS": "scan_ports",
    "PERIMETER_DNSBL_ZONES": "dnsbl_zones",
    "PERIMETER_BREACH_API_URL": "breach_api_url",
    "PERIMETER_BREACH_API_KEY": "breach_api_key",
    "PERIMETER_RATE_LIMIT": "rate_limit_per_minute",
    "PERIMETER_MAX_BODY_BYTES": "max_body_bytes",
    "PERIMETER_READY_THRESHOLD": "ready_threshold",
    "PERIMETER_SCANNER_HEARTBEAT_SECONDS": "scanner_heartbeat_seconds",
    # -- proof of control for active scans: how long a verified target stays verified
    "PERIMETER_TARGET_VERIFICATION_DAYS": "target_verification_days",
    # -- reports
    "PERIMETER_REPORT_SIGNING_KEY": "report_signing_key",
    "PERIMETER_REPORT_LINK_SECONDS": "report_link_seconds",
    # -- webhooks
    "PERIMETER_WEBHOOK_SECRET_KEY": "webhook_secret_key",
    "PERIMETER_REGISTRY_AUTH_KEY": "registry_auth_key",
    # -- the embedded stack's durable state
    "PERIMETER_DATA_DIR": "data_dir",
    # -- the guard: the system's own sockets, refused to every tenant whatever the exemptions
    "PERIMETER_SELF_ENDPOINTS": "self_endpoints",
    # -- observability: JSON log level and service key, where metrics go (chalicelib/core/observability.py)
    "PERIMETER_LOG_LEVEL": "log_level",
    "PERIMETER_SERVICE_NAME": "service_name",
    "PERIMETER_METRICS": "metrics",
    # -- exposure intelligence (chalicelib/scanners/intel): refreshed copies and the feeds refresh-intel reads
    "PERIMETER_INTEL_DIR": "intel_dir",
    "PERIMETER_INTEL_S3_PREFIX": "intel_s3_prefix",
    "PERIMETER_INTEL_KEV_URL": "intel_kev_url",
    "PERIMETER_INTEL_EOL_URL": "intel_eol_url",
    "PERIMETER_INTEL_RELEASES_URL": "intel_releases_url",
    # -- access: how long audit events are kept (chalicelib/access/audit.py)
    "PERIMETER_AUDIT_RETENTION_DAYS": "audit_retention_days",
    # -- organizations: invitation lifetime and the sender of outgoing mail
    "PERIMETER_INVITATION_DAYS": "invitation_days",
    "PERIMETER_MAIL_FROM": "mail_from",
    # -- the self-assessment: how long its link lives after the scan is created (scans themselves never expire)
    "PERIMETER_SA_LINK_DAYS": "sa_link_days",
}

_LIST_FIELDS = {"dns_servers", "allow_private_targets", "dnsbl_zones", "self_endpoints"}

LOCAL_MAIL_FROM = "no-reply@perimeter.invalid"
DEFAULT_DNSBL_ZONES = ("domain:dbl.spamhaus.org", "ip:zen.spamhaus.org")


class DnsServer(BaseModel):
    """One resolver address, `host[:port]`."""

    model_config = ConfigDict(frozen=True)
    host: str
    port: int = 53

    @classmethod
    def parse(cls, text: str) -> DnsServer:
        """Parse `host`, `host:port` or `[v6]:port`; raises ValueError."""
        text = text.strip()
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else 53
        elif text.count(":") == 1:
            host, port_text = text.split(":")
            port = int(port_text)
        else:
            host, port = text, 53
        ipaddress.ip_address(host)
        if not 0 < port < 65536:
            raise ValueError(f"port out of range in {text!r}")
        return cls(host=host, port=port)


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
_LEVEL_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL"}  # Lambda's log-level names


class LogSettings(BaseModel):
    """The logging knobs: readable on their own, before the rest of Settings can be (the embedded stack
    configures its logs before it has created its key pepper)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    # Perimeter's own loggers; third-party ones stay at WARNING or above (chalicelib/core/observability.py).
    log_level: LogLevel = "WARNING"
    # The `service` key of every JSON log line and the `service` dimension of every metric.
    service_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = "perimeter"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        if isinstance(value, str):
            upper = value.strip().upper()
            return _LEVEL_ALIASES.get(upper, upper)
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **defaults: object) -> LogSettings:
        """The logging knobs of `environ` (default `os.environ`) alone, over `defaults`; raises ValidationError."""
        env = os.environ if environ is None else environ
        own = LogSettings.model_fields
        return LogSettings.model_validate({**defaults, **{field: env[var] for var, field in ENV_VARS.items()
                                                          if field in own and env.get(var)}})


class Settings(LogSettings):
    """Validated configuration; build it with `Settings.from_env()`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: str = "local"
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    table_name: str = "perimeter"
    bucket_name: str = "perimeter-reports"
    webhook_queue_url: str = ""
    webhook_dlq_url: str = ""
    state_machine_arn: str = ""
    cluster_name: str = "perimeter-scanners"
    public_base_url: str = "http://127.0.0.1:8000"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    bootstrap_api_key: SecretStr | None = None
    key_pepper: SecretStr = Field(min_length=16)
    dns_servers: tuple[DnsServer, ...] = ()
    dns_timeout: Annotated[float, Field(gt=0, le=30)] = 3.0
    allow_private_targets: tuple[IPNetwork, ...] = ()
    scan_ports: str = "top-100"
    dnsbl_zones: tuple[str, ...] = DEFAULT_DNSBL_ZONES
    breach_api_url: str | None = None
    breach_api_key: SecretStr | None = None
    rate_limit_per_minute: Annotated[int, Field(ge=1, le=1_000_000)] = 600
    max_body_bytes: Annotated[int, Field(ge=1024, le=10 * 1024 * 1024)] = 64 * 1024
    ready_threshold: Annotated[int, Field(ge=0, le=100)] = 65
    # -- pipeline: a scanner task that stays silent this long is declared dead (States.HeartbeatTimeout).
    scanner_heartbeat_seconds: Annotated[int, Field(ge=2, le=900)] = 60
    # -- targets: a verification (TXT record or well-known file) holds this many days (DESIGN.md section 10).
    target_verification_days: Annotated[int, Field(ge=1, le=365)] = 30
    # -- reports: HMAC key sealing stored reports (unset: derived from key_pepper, see
    # report_signing_secret()); lifetime of presigned report/logo links, 15 minutes at most (DESIGN.md section 4).
    report_signing_key: SecretStr | None = Field(default=None, min_length=16)
    report_link_seconds: Annotated[int, Field(ge=60, le=900)] = 600
    # -- webhooks: the key wrapping stored webhook signing secrets (AES-GCM under an HKDF subkey).
    # Required outside the local stage; on the local stage an unset key falls back to the key pepper,
    # which the embedded stack generates (see webhook_secret_master()).
    webhook_secret_key: SecretStr | None = Field(default=None, min_length=32)
    # Wraps the registry passwords of container scans: the API seals, only the scanner task opens (its own key,
    # so the scanner never holds the webhook key). Local stage: a subkey of the pepper when unset.
    registry_auth_key: SecretStr | None = Field(default=None, min_length=32)
    # -- the durable state: set, the table is SQLite and the objects are files in this directory (the embedded
    # stack's durable state); unset, DynamoDB and S3 (chalicelib/storage/factory.py decides).
    data_dir: Path | None = None
    # -- the guard: the stack's own listening sockets (`host:port`, comma-separated), refused
    # at every guard on loopback, unspecified and the named address; host 0.0.0.0 or :: reserves the
    # port on every non-public address. The embedded stack sets it to its API and AWS endpoint sockets.
    self_endpoints: tuple[SelfEndpoint, ...] = ()
    # -- observability: where metrics go; unset, EMF on stdout outside the local stage, nowhere on it
    # (see metrics_sink()).
    metrics: Literal["emf", "log", "off"] | None = None
    # -- exposure intelligence: where refreshed bundles live (a directory, or a key prefix in the reports
    # bucket; the newest valid one beats the packaged copy), and the feeds `refresh-intel` rebuilds from
    # (`{product}` in the endoflife.date and release-data URLs is the catalogue's product name).
    intel_dir: Path | None = None
    intel_s3_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9!_.*'()/-]{1,200}$")] | None = None
    intel_kev_url: Annotated[str, Field(pattern=r"^https?://\S+$")] = (
        "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json")
    intel_eol_url: Annotated[str, Field(pattern=r"^https?://\S*\{product\}\S*$")] = (
        "https://endoflife.date/api/{product}.json")
    intel_releases_url: Annotated[str, Field(pattern=r"^https?://\S*\{product\}\S*$")] = (
        "https://raw.githubusercontent.com/endoflife-date/release-data/main/releases/{product}.json")
    # -- access: audit events expire this many days after they happened (the store's TTL).
    audit_retention_days: Annotated[int, Field(ge=1, le=3650)] = 365
    # -- organizations: how long a team invitation stays valid, and who outgoing mail is from (the SES
    # sender identity in AWS, where it must be set; `no-reply@perimeter.invalid` on the local stage).
    invitation_days: Annotated[int, Field(ge=1, le=30)] = 7
    mail_from: Annotated[str, Field(pattern=r"^[^\s@<>]{1,64}@[A-Za-z0-9.-]{1,253}$")] | None = None
    # -- self-assessment links (DESIGN.md section 9): scans are kept until deleted, so the link gets its own lifetime.
    sa_link_days: Annotated[int, Field(ge=1, le=3650)] = 90

    def metrics_sink(self) -> Literal["emf", "log", "off"]:
        """Where metrics go: PERIMETER_METRICS, else `emf` (CloudWatch EMF) outside the local stage, `off` on it."""
        if self.metrics is not None:
            return self.metrics
        return "off" if self.stage == "local" else "emf"

    def report_signing_secret(self) -> bytes:
        """The report signing key: PERIMETER_REPORT_SIGNING_KEY, else a subkey derived from the pepper."""
        if self.report_signing_key is not None:
            return self.report_signing_key.get_secret_value().encode()
        import hashlib
        import hmac

        return hmac.new(self.key_pepper.get_secret_value().encode(), b"perimeter/report-signing/v1",
                        hashlib.sha256).digest()

    def webhook_secret_master(self) -> bytes | None:
        """The webhook secret-wrapping master key; the pepper on the local stage when unset; None when missing."""
        if self.webhook_secret_key is not None:
            return self.webhook_secret_key.get_secret_value().encode()
        if self.stage == "local":
            return self.key_pepper.get_secret_value().encode()
        return None

    def registry_auth_master(self) -> bytes | None:
        """The key sealing container-registry passwords; a subkey of the pepper on the local stage, else None."""
        if self.registry_auth_key is not None:
            return self.registry_auth_key.get_secret_value().encode()
        if self.stage == "local":
            return hmac.new(self.key_pepper.get_secret_value().encode(), b"perimeter/registry-auth/v1",
                            hashlib.sha256).hexdigest().encode()
        return None

    def mail_sender(self) -> str | None:
        """PERIMETER_MAIL_FROM, else `no-reply@perimeter.invalid` on the local stage, else None (unset)."""
        if self.mail_from is not None:
            return self.mail_from
        return LOCAL_MAIL_FROM if self.stage == "local" else None

    def invitation_token_key(self) -> bytes:
        """The HMAC key under which team invitation tokens are stored: a subkey of the key pepper."""
        import hashlib
        import hmac

        return hmac.new(self.key_pepper.get_secret_value().encode(), b"perimeter/invitation-token/v1",
                        hashlib.sha256).digest()

    @field_validator("dns_servers", mode="before")
    @classmethod
    def _parse_dns(cls, value: object) -> object:
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(DnsServer.parse(v) for v in value)
        return value

    @field_validator("allow_private_targets", mode="before")
    @classmethod
    def _parse_networks(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return tuple(ipaddress.ip_network(v, strict=False) if isinstance(v, str) else v for v in value)
        return value

    @field_validator("self_endpoints", mode="before")
    @classmethod
    def _parse_self_endpoints(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return tuple(SelfEndpoint.parse(v) if isinstance(v, str) else v for v in value)
        return value

    @field_validator("dnsbl_zones")
    @classmethod
    def _check_zones(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for zone in value:
            kind, _, name = zone.partition(":")
            if kind not in ("domain", "ip") or not name:
                raise ValueError(f"DNSBL zone {zone!r} must be 'domain:<zone>' or 'ip:<zone>'")
        return value

    @field_validator("data_dir", "intel_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path | None) -> Path | None:
        return value.expanduser().absolute() if value is not None else None

    @field_validator("public_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read every known variable from `environ` (default `os.environ`); raises ValidationError."""
        env = os.environ if environ is None else environ
        data: dict[str, object] = {}
        for var, field in ENV_VARS.items():
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            data[field] = [p for p in (s.strip() for s in raw.split(",")) if p] if field in _LIST_FIELDS else raw
        data.update(overrides)
        return cls.model_validate(data)


def self_endpoints_from_env(environ: Mapping[str, str] | None = None) -> tuple[SelfEndpoint, ...]:
    """PERIMETER_SELF_ENDPOINTS of `environ` (default `os.environ`), parsed; raises ValueError."""
    env = os.environ if environ is None else environ
    return parse_self_endpoints(env.get("PERIMETER_SELF_ENDPOINTS", ""))
