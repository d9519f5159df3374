"""Webhook route bodies: the same `handle()` pipeline as routes.py (auth, rate limit, Idempotency-Key, problem+json).

Secrets in responses: the create and rotate operations return the secret *sealed* (wrapped with
the server key) to `handle()`, which is what an Idempotency-Key record stores; the route unseals
it just before the response leaves. So a replay within 24 h gives the caller the same secret
again, and no plaintext secret is ever at rest in the idempotency records.
"""

from __future__ import annotations

import json
import logging

from chalice.app import Request, Response

from chalicelib.api import webhook_views as views
from chalicelib.api.http import Ctx, Result, handle, problem, respond
from chalicelib.bootstrap import get_services
from chalicelib.core.clock import utcnow
from chalicelib.core.errors import PerimeterError
from chalicelib.core.pagination import PageQuery
from chalicelib.webhooks.service import CreateWebhook

log = logging.getLogger(__name__)
SEALED_PREFIX = "sealed:"


def _seal(ctx: Ctx, webhook_id: str, secret: str) -> str:
    return SEALED_PREFIX + ctx.services.webhooks.seal_for_response(webhook_id, secret)


def _unseal(response: Response) -> Response:
    """Replace a sealed `secret` in a 2xx JSON body by the secret itself."""
    if not 200 <= response.status_code < 300 or not isinstance(response.body, str):
        return response
    if SEALED_PREFIX not in response.body:
        return response
    body = json.loads(response.body)
    sealed = body.get("secret")
    if not isinstance(sealed, str) or not sealed.startswith(SEALED_PREFIX):
        return response
    headers = {k: v for k, v in response.headers.items() if isinstance(v, str) and k.lower() != "content-length"}
    try:
        body["secret"] = get_services().webhooks.reveal_in_response(str(body.get("webhook_id")),
                                                                     sealed[len(SEALED_PREFIX):])
    except ValueError:
        log.exception("could not unseal a webhook secret for the response")
        error_body, extra = problem(PerimeterError("The secret could not be recovered; rotate it to get a new one."))
        return respond(500, error_body, {**headers, **extra})
    return Response(body=json.dumps(body, separators=(",", ":")), status_code=response.status_code,
                    headers=dict(headers))


def _location(ctx: Ctx, webhook_id: str) -> dict[str, str]:
    return {"Location": f"{ctx.services.settings.public_base_url}/v1/webhooks/{webhook_id}"}


def create_webhook(request: Request | None) -> Response:
    """POST /v1/webhooks."""
    def op(ctx: Ctx) -> Result:
        endpoint, secret = ctx.services.webhooks.create(ctx.tenant_id, ctx.body(CreateWebhook))
        created = views.webhook_created(endpoint, _seal(ctx, endpoint.webhook_id, secret), utcnow())
        return Result(201, created, _location(ctx, endpoint.webhook_id))
    return _unseal(handle(request, op))


def list_webhooks(request: Request | None) -> Response:
    """GET /v1/webhooks."""
    def op(ctx: Ctx) -> Result:
        q = ctx.query(PageQuery)
        items, cursor = ctx.services.webhooks.list_webhooks(ctx.tenant_id, limit=q.limit, cursor=q.cursor)
        now = utcnow()
        return Result(200, views.WebhookList(items=[views.webhook_view(e, now) for e in items], next_cursor=cursor))
    return handle(request, op)


def get_webhook(request: Request | None) -> Response:
    """GET /v1/webhooks/{webhook_id}."""
    def op(ctx: Ctx) -> Result:
        endpoint = ctx.services.webhooks.get(ctx.tenant_id, ctx.path_id("webhook_id"))
        return Result(200, views.webhook_view(endpoint, utcnow()))
    return handle(request, op)


def delete_webhook(request: Request | None) -> Response:
    """DELETE /v1/webhooks/{webhook_id}."""
    def op(ctx: Ctx) -> Result:
        ctx.services.webhooks.delete(ctx.tenant_id, ctx.path_id("webhook_id"))
        return Result(204, None)
    return handle(request, op)


def rotate_webhook_secret(request: Request | None) -> Response:
    """POST /v1/webhooks/{webhook_id}/rotate-secret."""
    def op(ctx: Ctx) -> Result:
        endpoint, secret = ctx.services.webhooks.rotate_secret(ctx.tenant_id, ctx.path_id("webhook_id"))
        return Result(200, views.WebhookSecret(
            webhook_id=endpoint.webhook_id, secret=_seal(ctx, endpoint.webhook_id, secret),
            previous_secret_expires_at=endpoint.previous_secret_expires_at(utcnow())))
    return _unseal(handle(request, op))


def enable_webhook(request: Request | None) -> Response:
    """POST /v1/webhooks/{webhook_id}/enable."""
    def op(ctx: Ctx) -> Result:
        endpoint = ctx.services.webhooks.enable(ctx.tenant_id, ctx.path_id("webhook_id"))
        return Result(200, views.webhook_view(endpoint, utcnow()))
    return handle(request, op)


def send_webhook_test(request: Request | None) -> Response:
    """POST /v1/webhooks/{webhook_id}/test."""
    def op(ctx: Ctx) -> Result:
        delivery = ctx.services.webhooks.send_test(ctx.tenant_id, ctx.path_id("webhook_id"))
        return Result(202, views.delivery_queued(delivery))
    return handle(request, op)


def list_webhook_deliveries(request: Request | None) -> Response:
    """GET /v1/webhooks/{webhook_id}/deliveries."""
    def op(ctx: Ctx) -> Result:
        q = ctx.query(PageQuery)
        items, cursor = ctx.services.webhooks.list_deliveries(ctx.tenant_id, ctx.path_id("webhook_id"),
                                                              limit=q.limit, cursor=q.cursor)
        return Result(200, views.DeliveryList(items=[views.delivery_view(d) for d in items], next_cursor=cursor))
    return handle(request, op)


def redeliver_webhook_delivery(request: Request | None) -> Response:
    """POST /v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver."""
    def op(ctx: Ctx) -> Result:
        delivery = ctx.services.webhooks.redeliver(ctx.tenant_id, ctx.path_id("webhook_id"),
                                                   ctx.path_id("delivery_id"))
        return Result(202, views.delivery_queued(delivery))
    return handle(request, op)
