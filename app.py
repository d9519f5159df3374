"""Perimeter's Chalice app: routes and Lambda entry points only; every body lives in chalicelib."""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice, Response

from chalicelib.api import download_routes, report_routes, routes, spec, webhook_routes
from chalicelib.api.http import chalice_errors_as_problems
from chalicelib.bootstrap import get_services
from chalicelib.core import observability

# configure_logs=False: Chalice would give the `perimeter` logger (and every `perimeter.*` one) its own
# text handler at ERROR; chalicelib.core.observability configures one JSON handler for every logger instead.
app = Chalice(app_name="perimeter", configure_logs=False)
app.api.binary_types = []
# JSON logs with the request id as a key, in every route and Lambda function (outermost: registered first).
app.register_middleware(observability.http_middleware, "http")
app.register_middleware(observability.lambda_middleware, "pure_lambda")
app.register_middleware(chalice_errors_as_problems, "http")  # chalice's own 405/415/500 as problem+json
JSON_TYPES = ["application/json"]


@app.route("/v1/health", methods=["GET"])
def health() -> Response:
    return routes.health(app.current_request)


@app.route("/v1/openapi.json", methods=["GET"])
def openapi() -> Response:
    return spec.openapi(app.current_request)


@app.route("/v1/scans", methods=["POST"], content_types=JSON_TYPES)
def create_scan() -> Response:
    return routes.create_scan(app.current_request)


@app.route("/v1/scans", methods=["GET"])
def list_scans() -> Response:
    return routes.list_scans(app.current_request)


@app.route("/v1/scans/{token}", methods=["GET"])
def get_scan(token: str) -> Response:
    return routes.get_scan(app.current_request)


@app.route("/v1/scans/{token}/cancel", methods=["POST"], content_types=JSON_TYPES)
def cancel_scan(token: str) -> Response:
    return routes.cancel_scan(app.current_request)


@app.route("/v1/scan-templates", methods=["POST"], content_types=JSON_TYPES)
def create_template() -> Response:
    return routes.create_template(app.current_request)


@app.route("/v1/scan-templates", methods=["GET"])
def list_templates() -> Response:
    return routes.list_templates(app.current_request)


@app.route("/v1/scan-templates/{template_id}", methods=["GET"])
def get_template(template_id: str) -> Response:
    return routes.get_template(app.current_request)


@app.route("/v1/scan-templates/{template_id}", methods=["DELETE"])
def delete_template(template_id: str) -> Response:
    return routes.delete_template(app.current_request)


@app.route("/v1/scan-templates/{template_id}/launch", methods=["POST"], content_types=JSON_TYPES)
def launch_template(template_id: str) -> Response:
    return routes.launch_template(app.current_request)


@app.route("/v1/usage/summary", methods=["GET"])
def usage_summary() -> Response:
    return routes.usage_summary(app.current_request)


@app.route("/v1/scans/{token}/findings", methods=["GET"])
def list_findings(token: str) -> Response:
    return routes.list_findings(app.current_request)


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


# -- reports and branding ---------------------------------------------------------------
@app.route("/v1/scans/{token}/report", methods=["GET"])
def get_report(token: str) -> Response:
    return report_routes.get_report(app.current_request)


# The embedded stack's report links: the link is the capability, verified before serving.
@app.route("/v1/downloads/{token}", methods=["GET"])
def download(token: str) -> Response:
    return download_routes.download(app.current_request)


@app.route("/v1/branding", methods=["PUT"], content_types=JSON_TYPES)
def put_branding() -> Response:
    return report_routes.put_branding(app.current_request)


@app.route("/v1/branding", methods=["GET"])
def get_branding() -> Response:
    return report_routes.get_branding(app.current_request)


# -- webhooks ------------------------------------------------------------------------------
@app.route("/v1/webhooks", methods=["POST"], content_types=JSON_TYPES)
def create_webhook() -> Response:
    return webhook_routes.create_webhook(app.current_request)


@app.route("/v1/webhooks", methods=["GET"])
def list_webhooks() -> Response:
    return webhook_routes.list_webhooks(app.current_request)


@app.route("/v1/webhooks/{webhook_id}", methods=["GET"])
def get_webhook(webhook_id: str) -> Response:
    return webhook_routes.get_webhook(app.current_request)


@app.route("/v1/webhooks/{webhook_id}", methods=["DELETE"])
def delete_webhook(webhook_id: str) -> Response:
    return webhook_routes.delete_webhook(app.current_request)


@app.route("/v1/webhooks/{webhook_id}/enable", methods=["POST"], content_types=JSON_TYPES)
def enable_webhook(webhook_id: str) -> Response:
    return webhook_routes.enable_webhook(app.current_request)


@app.route("/v1/webhooks/{webhook_id}/rotate-secret", methods=["POST"], content_types=JSON_TYPES)
def rotate_webhook_secret(webhook_id: str) -> Response:
    return webhook_routes.rotate_webhook_secret(app.current_request)


@app.route("/v1/webhooks/{webhook_id}/test", methods=["POST"], content_types=JSON_TYPES)
def send_webhook_test(webhook_id: str) -> Response:
    return webhook_routes.send_webhook_test(app.current_request)


@app.route("/v1/webhooks/{webhook_id}/deliveries", methods=["GET"])
def list_webhook_deliveries(webhook_id: str) -> Response:
    return webhook_routes.list_webhook_deliveries(app.current_request)


@app.route("/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", methods=["POST"],
           content_types=JSON_TYPES)
def redeliver_webhook_delivery(webhook_id: str, delivery_id: str) -> Response:
    return webhook_routes.redeliver_webhook_delivery(app.current_request)


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
