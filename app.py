"""Perimeter's Chalice app: routes and Lambda entry points only; every body lives in chalicelib."""

from __future__ import annotations

from chalice.app import Chalice, Response

from chalicelib.api import routes

app = Chalice(app_name="perimeter")
app.api.binary_types = []
JSON_TYPES = ["application/json"]


@app.route("/v1/health", methods=["GET"])
def health() -> Response:
    return routes.health(app.current_request)


@app.route("/v1/openapi.json", methods=["GET"])
def openapi() -> Response:
    return routes.openapi(app.current_request)


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
