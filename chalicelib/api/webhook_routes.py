"""Webhook routes, each declared once in the operation table; the same `handle()` pipeline as routes.py.

Secrets in responses: the create and rotate operations return the secret *sealed* (wrapped with
the server key) to `handle()`, which is what an Idempotency-Key record stores; `handle()` reveals
it (`_reveal`, its `finish` step) just before the response leaves. So a replay within 24 h gives
the caller the same secret again, and no plaintext secret is ever at rest in the idempotency records.
"""

from __future__ import annotations

import logging
from typing import Any

from chalice.app import Request, Response

from chalicelib.access.roles import Role
from chalicelib.api import webhook_views as views
from chalicelib.api.http import Ctx, Result, handle, path_id
from chalicelib.api.operations import Routes
from chalicelib.bootstrap import Services
from chalicelib.core.clock import utcnow
from chalicelib.core.errors import PerimeterError
from chalicelib.core.pagination import PageQuery
from chalicelib.webhooks.service import CreateWebhook

log = logging.getLogger(__name__)
SEALED_PREFIX = "sealed:"
_WEBHOOK = "/v1/webhooks/{webhook_id}"

route = Routes()


def _seal(ctx: Ctx, webhook_id: str, secret: str) -> str:
    return SEALED_PREFIX + ctx.services.webhooks.seal_for_response(webhook_id, secret)


def _reveal(services: Services, body: Any) -> Any:
    """Replace a sealed `secret` in a JSON body by the secret itself; raises PerimeterError when it cannot."""
    sealed = body.get("secret") if isinstance(body, dict) else None
    if not isinstance(sealed, str) or not sealed.startswith(SEALED_PREFIX):
        return body
    try:
        secret = services.webhooks.reveal_in_response(str(body.get("webhook_id")), sealed[len(SEALED_PREFIX):])
    except ValueError:
        log.exception("could not unseal a webhook secret for the response")
        raise PerimeterError("The secret could not be recovered; rotate it to get a new one.") from None
    return {**body, "secret": secret}


def _location(ctx: Ctx, webhook_id: str) -> dict[str, str]:
    return {"Location": f"{ctx.services.settings.public_base_url}/v1/webhooks/{webhook_id}"}


@route("POST", "/v1/webhooks", "createWebhook", "Register a webhook endpoint (its secret is shown once)", 201,
       views.WebhookCreated, request=CreateWebhook, errors=(400, 409, 413, 422, 503), tags=("webhooks",))
def create_webhook(request: Request | None) -> Response:
    """POST /v1/webhooks."""
    def op(ctx: Ctx) -> Result:
        endpoint, secret = ctx.services.webhooks.create(ctx.tenant_id, ctx.body(CreateWebhook))
        created = views.webhook_created(endpoint, _seal(ctx, endpoint.webhook_id, secret), utcnow())
        return Result(201, created, _location(ctx, endpoint.webhook_id))
    return handle(request, op, finish=_reveal)


@route("GET", "/v1/webhooks", "listWebhooks", "List webhook endpoints, newest first", 200, views.WebhookList,
       query=PageQuery, errors=(400, 422), tags=("webhooks",), role=Role.ADMIN)
def list_webhooks(request: Request | None) -> Response:
    """GET /v1/webhooks."""
    def op(ctx: Ctx) -> Result:
        q = ctx.query(PageQuery)
        items, cursor = ctx.services.webhooks.list_webhooks(ctx.tenant_id, limit=q.limit, cursor=q.cursor)
        now = utcnow()
        return Result(200, views.WebhookList(items=[views.webhook_view(e, now) for e in items], next_cursor=cursor))
    return handle(request, op)


@route("GET", _WEBHOOK, "getWebhook", "Read a webhook endpoint", 200, views.WebhookView, errors=(404,),
       tags=("webhooks",), role=Role.ADMIN)
def get_webhook(request: Request | None, webhook_id: str) -> Response:
    """GET /v1/webhooks/{webhook_id}."""
    def op(ctx: Ctx) -> Result:
        endpoint = ctx.services.webhooks.get(ctx.tenant_id, path_id("webhook_id", webhook_id))
        return Result(200, views.webhook_view(endpoint, utcnow()))
    return handle(request, op)


@route("DELETE", _WEBHOOK, "deleteWebhook", "Delete a webhook endpoint", 204, None, errors=(404,),
       tags=("webhooks",))
def delete_webhook(request: Request | None, webhook_id: str) -> Response:
    """DELETE /v1/webhooks/{webhook_id}."""
    def op(ctx: Ctx) -> Result:
        ctx.services.webhooks.delete(ctx.tenant_id, path_id("webhook_id", webhook_id))
        return Result(204, None)
    return handle(request, op)


@route("POST", f"{_WEBHOOK}/rotate-secret", "rotateWebhookSecret",
       "New signing secret (shown once); the previous one keeps signing for 24 h", 200, views.WebhookSecret,
       errors=(404,), tags=("webhooks",))
def rotate_webhook_secret(request: Request | None, webhook_id: str) -> Response:
    """POST /v1/webhooks/{webhook_id}/rotate-secret."""
    def op(ctx: Ctx) -> Result:
        endpoint, secret = ctx.services.webhooks.rotate_secret(ctx.tenant_id, path_id("webhook_id", webhook_id))
        return Result(200, views.WebhookSecret(
            webhook_id=endpoint.webhook_id, secret=_seal(ctx, endpoint.webhook_id, secret),
            previous_secret_expires_at=endpoint.previous_secret_expires_at(utcnow())))
    return handle(request, op, finish=_reveal)


@route("POST", f"{_WEBHOOK}/enable", "enableWebhook",
       "Re-activate an endpoint disabled after a 410 or 5 days of failures", 200, views.WebhookView,
       errors=(404,), tags=("webhooks",))
def enable_webhook(request: Request | None, webhook_id: str) -> Response:
    """POST /v1/webhooks/{webhook_id}/enable."""
    def op(ctx: Ctx) -> Result:
        endpoint = ctx.services.webhooks.enable(ctx.tenant_id, path_id("webhook_id", webhook_id))
        return Result(200, views.webhook_view(endpoint, utcnow()))
    return handle(request, op)


@route("POST", f"{_WEBHOOK}/test", "sendWebhookTest", "Queue a webhook.test event to this endpoint", 202,
       views.DeliveryQueued, errors=(404, 409, 503), tags=("webhooks",))
def send_webhook_test(request: Request | None, webhook_id: str) -> Response:
    """POST /v1/webhooks/{webhook_id}/test."""
    def op(ctx: Ctx) -> Result:
        delivery = ctx.services.webhooks.send_test(ctx.tenant_id, path_id("webhook_id", webhook_id))
        return Result(202, views.delivery_queued(delivery))
    return handle(request, op)


@route("GET", f"{_WEBHOOK}/deliveries", "listWebhookDeliveries", "Deliveries with every attempt, newest first",
       200, views.DeliveryList, query=PageQuery, errors=(400, 404, 422), tags=("webhooks",), role=Role.ADMIN)
def list_webhook_deliveries(request: Request | None, webhook_id: str) -> Response:
    """GET /v1/webhooks/{webhook_id}/deliveries."""
    def op(ctx: Ctx) -> Result:
        q = ctx.query(PageQuery)
        items, cursor = ctx.services.webhooks.list_deliveries(ctx.tenant_id, path_id("webhook_id", webhook_id),
                                                              limit=q.limit, cursor=q.cursor)
        return Result(200, views.DeliveryList(items=[views.delivery_view(d) for d in items], next_cursor=cursor))
    return handle(request, op)


@route("POST", f"{_WEBHOOK}/deliveries/{{delivery_id}}/redeliver", "redeliverWebhookDelivery",
       "Send the same event (same id) again, with a new attempt budget", 202, views.DeliveryQueued,
       errors=(404, 409, 503), tags=("webhooks",))
def redeliver_webhook_delivery(request: Request | None, webhook_id: str, delivery_id: str) -> Response:
    """POST /v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver."""
    def op(ctx: Ctx) -> Result:
        delivery = ctx.services.webhooks.redeliver(ctx.tenant_id, path_id("webhook_id", webhook_id),
                                                   path_id("delivery_id", delivery_id))
        return Result(202, views.delivery_queued(delivery))
    return handle(request, op)
