"""Perimeter's Chalice app: routes and Lambda entry points only; every body lives in chalicelib."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice.app import Chalice, Response

from chalicelib.api.http import chalice_errors_as_problems
from chalicelib.api.operations import Op
from chalicelib.api.table import ROUTED
from chalicelib.bootstrap import get_services
from chalicelib.core import observability

# configure_logs=False: Chalice would give the `perimeter` logger (and every `perimeter.*` one) its own
# text handler at ERROR; chalicelib.core.observability configures one JSON handler for every logger instead.
app = Chalice(app_name="perimeter", configure_logs=False)
# Only PDFs leave the API as bytes (the CertIQ dialect answers its report in the body): base64 to API Gateway,
# whose binary_media_types (infra/terraform/api.tf) must name the same types. Chalice then wants an Accept
# that matches (`*/*` does, as curl, requests and fetch send); nothing else is binary.
app.api.binary_types = ["application/pdf"]
# JSON logs with the request id as a key, in every route and Lambda function (outermost: registered first).
app.register_middleware(observability.http_middleware, "http")
app.register_middleware(observability.lambda_middleware, "pure_lambda")
app.register_middleware(chalice_errors_as_problems, "http")  # chalice's own 405/415/500 as problem+json


def _view(op: Op) -> Callable[..., Response]:
    """The Chalice view of one operation: its handler with the current request and Chalice's path parameters."""
    handler = op.handler
    assert handler is not None

    def view(**path_params: str) -> Response:
        return handler(app.current_request, **path_params)

    view.__name__ = op.name
    return view


# Every route of the operation table (chalicelib/api/table.py: /v1, which its OpenAPI document renders, and
# the vendor dialects of chalicelib/api/dialects, each with its own document).
for _op in ROUTED:
    _accepts = {"content_types": list(_op.content_types)} if _op.content_types else {}
    app.route(_op.path, methods=[_op.method], name=_op.name, **_accepts)(_view(_op))


# -- pipeline steps: Lambda tasks of chalicelib/pipeline/scan-pipeline.asl.json --------------------
# Handler strings and sizes: chalicelib/core/contract.py (Terraform and the embedded stack read it).
@app.lambda_function(name="mark_scanning")
def mark_scanning(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return get_services().pipeline.mark_scanning(event)


@app.lambda_function(name="score_scan")
def score_scan(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return get_services().pipeline.score_scan(event)


@app.lambda_function(name="render_report")
def render_report(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return get_services().pipeline.render_report(event)


@app.lambda_function(name="finalize_scan")
def finalize_scan(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return get_services().pipeline.finalize_scan(event)


@app.lambda_function(name="mark_failed")
def mark_failed(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return get_services().pipeline.mark_failed(event)


# -- webhooks and the schedules -------------------------------------------------------------------
@app.lambda_function(name="deliver_webhooks")
def deliver_webhooks(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The webhook queue's consumer (SQS event source mapping with ReportBatchItemFailures, in Terraform)."""
    return get_services().webhook_consumer.handle(event)


@app.lambda_function(name="sweep_webhook_outbox")
def sweep_webhook_outbox(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Re-queue webhook deliveries whose message was lost (EventBridge schedule, every minute, in Terraform)."""
    return {"resent": get_services().webhook_outbox.sweep()}


@app.lambda_function(name="sweep_overdue_scans")
def sweep_overdue_scans(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fail the scans whose execution ended without ending them (EventBridge schedule, every minute, in Terraform)."""
    return {"failed": get_services().scans.expire_overdue()}


@app.lambda_function(name="scanner_task_stopped")
def scanner_task_stopped(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fail the scan's task token when its scanner task stopped without answering (EventBridge, ECS task stopped)."""
    from chalicelib.pipeline.task_events import handle_task_state_change

    return handle_task_state_change(event, get_services().task_callbacks)


# -- exposure intelligence --------------------------------------------------------------------------
@app.lambda_function(name="refresh_intel")
def refresh_intel(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Rebuild the intel bundle from the live feeds into the reports bucket (EventBridge schedule, daily)."""
    return get_services().refresh_intel()
