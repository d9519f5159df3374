"""The composition root: builds adapters and services from one validated Settings, lazily."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.access.audit import AuditService
from chalicelib.access.auth import AuthService, MemberRoles
from chalicelib.access.idempotency import IdempotencyService
from chalicelib.access.ratelimit import RateLimiter
from chalicelib.core.objects import ObjectStore
from chalicelib.core.observability import Metrics, build_metrics
from chalicelib.core.settings import Settings
from chalicelib.core.store import KeyValueStore
from chalicelib.net.ports import Resolver
from chalicelib.reports.service import ReportService
from chalicelib.scans.ports import Workflow
from chalicelib.scans.service import ScanService
from chalicelib.scans.usage import UsageService
from chalicelib.templates.service import TemplateService

if TYPE_CHECKING:
    from chalicelib.aws.stepfunctions import TaskCallbacks
    from chalicelib.core.mail import Mailer
    from chalicelib.core.queue import MessageQueue
    from chalicelib.organizations.service import OrganizationService
    from chalicelib.pipeline.steps import Pipeline
    from chalicelib.scans.ports import EventPublisher  # this and below: webhooks
    from chalicelib.selfassessment.models import PageBranding
    from chalicelib.selfassessment.service import SelfAssessmentService
    from chalicelib.targets.service import TargetService
    from chalicelib.webhooks.consumer import WebhookConsumer
    from chalicelib.webhooks.outbox import WebhookOutbox
    from chalicelib.webhooks.repository import WebhookRepository
    from chalicelib.webhooks.service import WebhookService


class Services:
    """Every service, built on first use from the adapters given (or the real ones)."""

    def __init__(self, settings: Settings, *, store: KeyValueStore | None = None,
                 workflow: Workflow | None = None, resolver: Resolver | None = None,
                 objects: ObjectStore | None = None) -> None:
        self.settings = settings
        self._store = store
        self._workflow = workflow
        self._resolver = resolver
        self._objects = objects

    def aws(self, service: str) -> Any:
        """A boto3 client (adapters only)."""
        from chalicelib.aws.clients import make_client

        return make_client(service, self.settings)

    @cached_property
    def store(self) -> KeyValueStore:
        """The table: SQLite in PERIMETER_DATA_DIR, else DynamoDB (unless injected); raises ConfigurationError."""
        if self._store is not None:
            return self._store
        from chalicelib.storage.factory import make_store

        return make_store(self.settings, lambda: self.aws("dynamodb"))

    @cached_property
    def workflow(self) -> Workflow:
        """The pipeline starter (Step Functions unless injected)."""
        if self._workflow is not None:
            return self._workflow
        from chalicelib.aws.ecs import EcsScannerTasks
        from chalicelib.aws.stepfunctions import StepFunctionsWorkflow

        tasks = EcsScannerTasks(self.settings.cluster_name, self.aws("ecs"))
        return StepFunctionsWorkflow(self.settings.state_machine_arn, self.aws("stepfunctions"), tasks)

    @cached_property
    def objects(self) -> ObjectStore:
        """The reports bucket: files in PERIMETER_DATA_DIR, else S3 (unless injected); raises ConfigurationError."""
        if self._objects is not None:
            return self._objects
        from chalicelib.storage.factory import make_object_store

        return make_object_store(self.settings, lambda: self.aws("s3"))

    @cached_property
    def resolver(self) -> Resolver:
        """DNS for target checks (dnspython over PERIMETER_DNS_SERVERS unless injected)."""
        if self._resolver is not None:
            return self._resolver
        from chalicelib.net.dns import DnsResolver, build_resolver

        return DnsResolver(build_resolver(self.settings.dns_servers, self.settings.dns_timeout))

    @cached_property
    def metrics(self) -> Metrics:
        """Where metrics go (PERIMETER_METRICS: EMF in Lambda, nowhere on the embedded stack unless set)."""
        return build_metrics(self.settings.metrics_sink(), self.settings.service_name)

    @cached_property
    def auth(self) -> AuthService:
        """Tenants and API keys (a member's key is checked against `member_roles` when it is minted)."""
        return AuthService(self.store, self.settings.key_pepper.get_secret_value().encode(),
                           members=lambda tenant_id, member_id: self.member_roles(tenant_id, member_id))

    @cached_property
    def member_roles(self) -> MemberRoles:
        """(tenant_id, member_id) -> the active member's Role or None (the organization's team; tests may assign
        a fake, e.g. `no_members`, before use)."""
        return lambda tenant_id, member_id: self.organizations.is_active_member(tenant_id, member_id)

    @cached_property
    def audit(self) -> AuditService:
        """Audit events (kept PERIMETER_AUDIT_RETENTION_DAYS days); every feature records its own actions here."""
        return AuditService(self.store, self.settings.audit_retention_days)

    @cached_property
    def usage(self) -> UsageService:
        """Usage counters."""
        return UsageService(self.store)

    @cached_property
    def scans(self) -> ScanService:
        """Scan use cases."""
        return ScanService(self.store, self.workflow, self.resolver, self.usage,
                           self.settings.allow_private_targets, events=lambda: self.events,
                           public_base_url=self.settings.public_base_url, metrics=self.metrics,
                           objects=lambda: self.objects, seal=self.seal_secret,
                           verify_active=lambda tenant_id, host: self.targets.require_verified(tenant_id, host))

    def seal_secret(self, secret: str, context: str) -> str:
        """Wrap a write-only secret (registry passwords) with the SecretBox; raises ConfigurationError."""
        from chalicelib.core.errors import ConfigurationError
        from chalicelib.core.secretbox import SecretBox

        master = self.settings.registry_auth_master()
        if master is None:
            raise ConfigurationError("PERIMETER_REGISTRY_AUTH_KEY must be set outside the local stage.")
        return SecretBox(master).wrap(secret, context)

    @cached_property
    def templates(self) -> TemplateService:
        """Scan templates."""
        return TemplateService(self.store, self.scans)

    @cached_property
    def idempotency(self) -> IdempotencyService:
        """Idempotency-Key handling."""
        return IdempotencyService(self.store)

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        """Per-key rate limits."""
        return RateLimiter(self.store)

    # -- reports and branding
    @cached_property
    def reports(self) -> ReportService:
        """Report rendering (RenderReport step), download links and tenant branding."""
        return ReportService(self.store, self.objects, self.scans, self.settings.report_signing_secret(),
                             self.settings.report_link_seconds)

    @cached_property
    def pipeline(self) -> Pipeline:
        """The pipeline's Lambda steps."""
        from chalicelib.pipeline.steps import Pipeline

        return Pipeline(self.scans, self.objects, self.events, self.reports,
                        heartbeat_seconds=self.settings.scanner_heartbeat_seconds,
                        public_base_url=self.settings.public_base_url, metrics=self.metrics)

    @cached_property
    def task_callbacks(self) -> TaskCallbacks:
        """Step Functions task-token answers (the `scanner_task_stopped` Lambda fails a dead task's token)."""
        from chalicelib.aws.stepfunctions import TaskCallbacks

        return TaskCallbacks(self.aws("stepfunctions"))

    # -- webhooks: queue adapters, the webhook service (the EventPublisher) and the SQS consumer.
    # Tests may assign `webhook_queue` / `webhook_dlq` (e.g. MemoryQueue) before first use.
    @cached_property
    def webhook_sqs_client(self) -> Any:
        """The SQS client both webhook queues share (built on first use)."""
        return self.aws("sqs")

    @cached_property
    def webhook_queue(self) -> MessageQueue:
        """The webhook-events queue (SQS)."""
        from chalicelib.aws.sqs import SqsQueue

        return SqsQueue(self.settings.webhook_queue_url, client_factory=lambda: self.webhook_sqs_client)

    @cached_property
    def webhook_dlq(self) -> MessageQueue:
        """The webhook-events dead-letter queue (SQS)."""
        from chalicelib.aws.sqs import SqsQueue

        return SqsQueue(self.settings.webhook_dlq_url, client_factory=lambda: self.webhook_sqs_client)

    @cached_property
    def webhook_repository(self) -> WebhookRepository:
        """Webhook endpoints and deliveries in the table."""
        from chalicelib.webhooks.repository import WebhookRepository

        return WebhookRepository(self.store)

    @cached_property
    def webhooks(self) -> WebhookService:
        """Webhook endpoints and event publishing; raises ConfigurationError without a secret-wrapping key."""
        from chalicelib.core.errors import ConfigurationError
        from chalicelib.core.secretbox import SecretBox
        from chalicelib.webhooks.service import WebhookService

        master = self.settings.webhook_secret_master()
        if master is None:
            raise ConfigurationError("PERIMETER_WEBHOOK_SECRET_KEY must be set outside the local stage.")
        return WebhookService(self.webhook_repository, self.webhook_queue, SecretBox(master), self.resolver,
                              self.settings.allow_private_targets)

    @property
    def events(self) -> EventPublisher:
        """The EventPublisher the pipeline uses: the webhook service itself."""
        return self.webhooks

    @cached_property
    def webhook_consumer(self) -> WebhookConsumer:
        """The SQS consumer behind `app.deliver_webhooks` (and the local poller); 10 s per attempt."""
        from chalicelib.webhooks.consumer import WebhookConsumer

        return WebhookConsumer(self.webhooks, self.webhook_queue, self.webhook_dlq, self.resolver,
                               self.settings.allow_private_targets, metrics=self.metrics)

    @cached_property
    def webhook_outbox(self) -> WebhookOutbox:
        """Re-queues deliveries whose message was lost (`.sweep()`: `app.sweep_webhook_outbox`, the local poller).

        On the local stage the queue lives in memory and starts empty with the process, so the
        first sweep re-sends every pending delivery.
        """
        from chalicelib.webhooks.outbox import WebhookOutbox

        return WebhookOutbox(self.webhook_repository, self.webhook_queue, self.webhook_dlq,
                             fresh_queue=self.settings.stage == "local", metrics=self.metrics)

    # -- proof of control for active scans
    @cached_property
    def targets(self) -> TargetService:
        """Targets, their challenges (TXT first, then the HTTPS well-known file) and the active-scan gate."""
        from chalicelib.net.dns import build_resolver
        from chalicelib.net.http import Guard
        from chalicelib.targets.challenge import ChallengeChecker
        from chalicelib.targets.dnstxt import DnsTxtLookup
        from chalicelib.targets.repository import TargetRepository
        from chalicelib.targets.service import TargetService

        txt = DnsTxtLookup(build_resolver(self.settings.dns_servers, self.settings.dns_timeout))
        guard = Guard(allowed=self.settings.allow_private_targets, reserved=self.settings.self_endpoints)
        checker = ChallengeChecker(txt, self.resolver, guard)
        return TargetService(TargetRepository(self.store), self.resolver, checker,
                             allow_private=self.settings.allow_private_targets,
                             verification_days=self.settings.target_verification_days,
                             public_base_url=self.settings.public_base_url)

    # -- organizations and team (tests may assign `mailer`, e.g. MemoryMailer, before first use)
    @cached_property
    def mailer(self) -> Mailer:
        """Outgoing mail: JSON files in PERIMETER_DATA_DIR/outbox (the embedded stack), else SES from
        PERIMETER_MAIL_FROM; raises ConfigurationError when neither is usable."""
        from chalicelib.core.errors import ConfigurationError
        from chalicelib.core.settings import LOCAL_MAIL_FROM
        from chalicelib.storage.factory import data_directory

        sender = self.settings.mail_sender()
        directory = data_directory(self.settings)
        if directory is not None:
            from chalicelib.organizations.mail import LocalOutbox

            return LocalOutbox(directory / "outbox", sender or LOCAL_MAIL_FROM)
        if sender is None:
            raise ConfigurationError("PERIMETER_MAIL_FROM must be set to send invitations outside the local stage.")
        from chalicelib.aws.ses import SesMailer

        return SesMailer(sender, client_factory=lambda: self.aws("ses"))

    @cached_property
    def organizations(self) -> OrganizationService:
        """Organization settings, team members and invitations (mail built only when an invitation is sent)."""
        from chalicelib.organizations.service import OrganizationService

        return OrganizationService(self.store, self.auth, lambda: self.mailer,
                                   token_key=self.settings.invitation_token_key(),
                                   invitation_days=self.settings.invitation_days,
                                   accept_url=f"{self.settings.public_base_url}/v1/team/invitations/accept")

    # -- the self-assessment (DESIGN.md section 9)
    @cached_property
    def self_assessment(self) -> SelfAssessmentService:
        """Self-assessment links, the public page's port, and submissions onto their scans."""
        from chalicelib.selfassessment.service import SelfAssessmentService

        return SelfAssessmentService(self.store, self.scans, self.settings.key_pepper.get_secret_value().encode(),
                                     public_base_url=self.settings.public_base_url,
                                     link_days=self.settings.sa_link_days, branding=self.page_branding,
                                     events=lambda: self.events,
                                     renderer=lambda tenant_id, scan_id: self.reports.render_and_store(tenant_id,
                                                                                                      scan_id),
                                     audit=self._audit_self_assessment)

    def _audit_self_assessment(self, tenant_id: str, action: str, *, target: str, details: Mapping[str, Any]) -> None:
        """The self-assessment's audit hook: the insured acts through a capability link, with no key or member."""
        self.audit.record(tenant_id, action=action, actor_key_id=None, actor_member_id=None,
                          target={"scan_id": target}, status=200,
                          detail=", ".join(f"{k}={v}" for k, v in sorted(details.items())))

    def page_branding(self, tenant_id: str) -> PageBranding:
        """The partner's name, logo and colour as the public self-assessment page shows them."""
        import base64

        from chalicelib.selfassessment.models import PageBranding

        branding = self.reports.branding.for_report(tenant_id)
        if branding is None:
            return PageBranding(partner_name=self.auth.get_tenant(tenant_id).name)
        info = branding.logo_info
        logo = (f"data:{info.mime_type};base64,{base64.b64encode(branding.logo).decode()}"
                if branding.logo is not None and info is not None else None)
        return PageBranding(partner_name=branding.partner_name, logo_data_uri=logo,
                            primary_color=branding.primary_color)

    # -- exposure intelligence
    def refresh_intel(self, out_dir: Path | None = None) -> dict[str, object]:
        """Rebuild the intel from the live feeds into `out_dir`, else into the reports bucket under
        PERIMETER_INTEL_S3_PREFIX (`intel`); raises ServiceUnavailable with nothing written."""
        from chalicelib.scanners.intel.service import refresh_intel

        if out_dir is not None:
            return refresh_intel(self.settings, out_dir=out_dir).as_dict()
        return refresh_intel(self.settings, objects=self.objects).as_dict()


_lock = threading.Lock()
_current: Services | None = None


def get_services() -> Services:
    """The process-wide Services, built from the environment on first call; raises ValidationError."""
    global _current
    with _lock:
        if _current is None:
            _current = Services(Settings.from_env())
        return _current


def set_services(services: Services | None) -> None:
    """Replace the process-wide Services (tests, the embedded stack); None forgets them."""
    global _current
    with _lock:
        _current = services
