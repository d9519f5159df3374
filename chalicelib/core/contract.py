"""The deployment contract shared by app.py, the ASL file, the embedded stack and Terraform.

One table of the Lambda functions (`Handler` strings, timeouts, memory), the placeholders the ASL
file carries and the scanner task's environment contract (the S3 key layout is `chalicelib.scans.keys`).
Terraform and the embedded stack read these names; contract tests check all of them agree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LambdaSpec:
    """One Lambda function: its name suffix, `Handler` string, timeout and memory."""

    name: str
    handler: str
    timeout: int
    memory: int
    asl_placeholder: str | None = None


API = LambdaSpec("api", "app.app", timeout=30, memory=512)
PIPELINE_LAMBDAS: tuple[LambdaSpec, ...] = (
    LambdaSpec("mark_scanning", "app.mark_scanning", timeout=30, memory=512, asl_placeholder="mark_scanning_arn"),
    LambdaSpec("score_scan", "app.score_scan", timeout=60, memory=512, asl_placeholder="score_scan_arn"),
    LambdaSpec("render_report", "app.render_report", timeout=120, memory=1024, asl_placeholder="render_report_arn"),
    LambdaSpec("finalize_scan", "app.finalize_scan", timeout=30, memory=512, asl_placeholder="finalize_scan_arn"),
    LambdaSpec("mark_failed", "app.mark_failed", timeout=30, memory=512, asl_placeholder="mark_failed_arn"),
)
WEBHOOK_CONSUMER = LambdaSpec("deliver_webhooks", "app.deliver_webhooks", timeout=60, memory=512)
# The webhook outbox sweeper (chalicelib/webhooks/outbox.py), run by an EventBridge schedule.
WEBHOOK_OUTBOX_SWEEPER = LambdaSpec("sweep_webhook_outbox", "app.sweep_webhook_outbox", timeout=60, memory=512)
# The overdue-scan sweeper (ScanService.expire_overdue): ends scans no execution ended; EventBridge schedule.
OVERDUE_SCAN_SWEEPER = LambdaSpec("sweep_overdue_scans", "app.sweep_overdue_scans", timeout=60, memory=512)
# Fails the task token of a scanner task that stopped without answering (chalicelib/pipeline/task_events.py);
# EventBridge rule on the scanner cluster's ECS "Task State Change" STOPPED events (scanner_events.tf).
SCANNER_TASK_STOPPED = LambdaSpec("scanner_task_stopped", "app.scanner_task_stopped", timeout=30, memory=256)
# Rebuilds the exposure-intelligence bundle from the live feeds into the reports bucket under `intel/`
# (chalicelib/scanners/intel/refresh.py); EventBridge schedule, daily.
INTEL_REFRESH = LambdaSpec("refresh_intel", "app.refresh_intel", timeout=300, memory=512)
# Lambda name -> EventBridge schedule (infra/terraform: local.schedules, sweepers.tf).
SCHEDULES: dict[str, str] = {WEBHOOK_OUTBOX_SWEEPER.name: "rate(1 minute)", OVERDUE_SCAN_SWEEPER.name: "rate(1 minute)",
                             INTEL_REFRESH.name: "rate(1 day)"}
ALL_LAMBDAS: tuple[LambdaSpec, ...] = (API, *PIPELINE_LAMBDAS, WEBHOOK_CONSUMER, WEBHOOK_OUTBOX_SWEEPER,
                                       OVERDUE_SCAN_SWEEPER, SCANNER_TASK_STOPPED, INTEL_REFRESH)

# `${name}` placeholders in scan-pipeline.asl.json besides the Lambda ARNs (Terraform templatefile vars).
# scanner_capacity_provider: FARGATE_SPOT or FARGATE, the scanner RunTasks' CapacityProviderStrategy.
ASL_INFRA_PLACEHOLDERS: tuple[str, ...] = (
    "cluster_arn", "scanner_task_definition_arn", "scanner_subnet_1", "scanner_subnet_2", "scanner_security_group",
    "scanner_capacity_provider",
)
ASL_PLACEHOLDERS: tuple[str, ...] = (
    *(spec.asl_placeholder for spec in PIPELINE_LAMBDAS if spec.asl_placeholder), *ASL_INFRA_PLACEHOLDERS,
)

SCANNER_CONTAINER = "scanner"
# Signal groups: one scanner task each, run side by side in the Parallel state.
SIGNAL_GROUPS: dict[str, tuple[str, ...]] = {
    "network": ("scan", "layer", "web", "webapp", "container"),  # connects to the target's hosts (or registry)
    "intel": ("mail", "reputation", "breach"),  # DNS and third-party lookups; never touches the hosts
}
# Set per task by the ASL (ECS container overrides).
SCANNER_TASK_ENV: tuple[str, ...] = (
    "TASK_TOKEN", "SCAN_ID", "TENANT_ID", "TARGET", "SIGNAL_GROUP", "SIGNALS", "SCAN_OPTIONS",
    "SCAN_DEADLINE", "HEARTBEAT_SECONDS",
)
# Set on the task definition (Terraform) or inherited from the stack (local runner).
SCANNER_STATIC_ENV: tuple[str, ...] = (
    "PERIMETER_BUCKET", "PERIMETER_DNS_SERVERS", "PERIMETER_SCAN_PORTS", "PERIMETER_DNSBL_ZONES",
    "PERIMETER_BREACH_API_URL", "PERIMETER_BREACH_API_KEY", "PERIMETER_ALLOW_PRIVATE_TARGETS", "AWS_REGION",
    "PERIMETER_INTEL_S3_PREFIX", "PERIMETER_REGISTRY_AUTH_KEY",
)
