"""The exception tree. Every error has a stable kebab-case code and an HTTP status."""

from __future__ import annotations

from typing import Any, ClassVar


class PerimeterError(Exception):
    """Base of every error Perimeter raises on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str | None = None, *, code: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.headers = dict(headers or {})
        self.extra = extra


class BadRequest(PerimeterError):
    status, code, title = 400, "bad-request", "Bad request"


class JsonTooDeep(BadRequest):
    """A JSON body nests arrays and objects deeper than the API ever needs (refused before decoding)."""

    code, title = "json-too-deep", "JSON nested too deeply"


class Unauthorized(PerimeterError):
    status, code, title = 401, "unauthorized", "Missing, malformed, unknown or revoked API key"


class Forbidden(PerimeterError):
    """The caller is known but may not do this (its role is below the operation's, DESIGN.md section 4)."""

    status, code, title = 403, "insufficient-role", "Your role does not allow this"


class TargetNotVerified(Forbidden):
    """An active scan type on a target whose owner has not proven control (DESIGN.md section 10)."""

    code, title = "target-not-verified", "The target's owner has not proven control"


class NotFound(PerimeterError):
    status, code, title = 404, "not-found", "Not found"


class MethodNotAllowed(PerimeterError):
    status, code, title = 405, "method-not-allowed", "Method not allowed"


class RequestTimeout(PerimeterError):
    status, code, title = 408, "request-timeout", "The request was not received in time"


class Conflict(PerimeterError):
    status, code, title = 409, "conflict", "Conflict"


class LengthRequired(PerimeterError):
    status, code, title = 411, "length-required", "A Content-Length is required"


class PayloadTooLarge(PerimeterError):
    status, code, title = 413, "payload-too-large", "Request body too large"


class UriTooLong(PerimeterError):
    status, code, title = 414, "uri-too-long", "Request URI too long"


class UnsupportedMediaType(PerimeterError):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


class Unprocessable(PerimeterError):
    status, code, title = 422, "validation-failed", "The request failed validation"


class InvalidDomain(Unprocessable):
    code, title = "invalid-domain", "Invalid domain"


class TargetNotAllowed(Unprocessable):
    code, title = "target-not-allowed", "Target is not allowed"


class TargetVerificationFailed(Unprocessable):
    """A proof-of-control check found neither the TXT record nor the well-known file (DESIGN.md section 10).

    Raised with `checks=` (what each method saw) and `how_to_fix=`.
    """

    code, title = "target-verification-failed", "The challenge was not found"


class Unsupported(Unprocessable):
    """A value a vendor dialect documents (a scan type, an option, an event) that Perimeter cannot do yet.

    Raised with the field and the value (`field=`, `value=` extras) so every dialect can name them.
    """

    code, title = "unsupported-value", "Not supported by Perimeter"


class IdempotencyKeyReused(Unprocessable):
    code, title = "idempotency-key-reused", "Idempotency-Key was used with another request"


class RateLimited(PerimeterError):
    status, code, title = 429, "rate-limited", "Rate limit exceeded"


class HeaderFieldsTooLarge(PerimeterError):
    status, code, title = 431, "request-header-fields-too-large", "Request header fields too large"


class ServiceUnavailable(PerimeterError):
    status, code, title = 503, "service-unavailable", "Service temporarily unavailable"


class HttpVersionNotSupported(PerimeterError):
    status, code, title = 505, "http-version-not-supported", "HTTP version not supported"


class IllegalTransition(Conflict):
    """A scan state change that the state machine of DESIGN.md section 5 forbids."""

    code, title = "illegal-transition", "Illegal scan state transition"


class AlreadyExists(Conflict):
    """A conditional create found the item already there."""

    code, title = "already-exists", "Already exists"


# -- reports and branding ---------------------------------------------------------------


class ScanNotComplete(Conflict):
    """A report was asked for before the scan completed."""

    code, title = "scan-not-complete", "The scan is not complete yet"


class ReportNotRenderable(Conflict):
    """The render step found the scan in a state that cannot have a report (unscored, failed, cancelled)."""

    code, title = "report-not-renderable", "The scan cannot have a report"


class InvalidReportFormat(Unprocessable):
    code, title = "invalid-report-format", "Unknown report format"


class InvalidBranding(Unprocessable):
    code, title = "invalid-branding", "Invalid branding"


class InvalidLogo(Unprocessable):
    """The logo is not a PNG or JPEG we accept (signature, structure, size or dimensions)."""

    code, title = "invalid-logo", "Invalid logo image"


# -- webhooks (docs/decisions.md) ---------------------------------------------------------

class WebhookDisabled(Conflict):
    """A test or redelivery asked of an endpoint that no longer receives (410 or 5 days of failures)."""

    code, title = "webhook-disabled", "The webhook endpoint is disabled"


class WebhookLimitReached(Conflict):
    """The tenant already has the most endpoints allowed."""

    code, title = "webhook-limit-reached", "Too many webhook endpoints"


class QueueUnavailable(ServiceUnavailable):
    """The webhook queue refused or did not answer; the detail never names the queue."""

    code, title = "queue-unavailable", "The webhook queue is unavailable"
    aws_code: str = ""  # the SQS error code, for logs and the consumer; never in the problem body


class ConfigurationError(PerimeterError):
    """A required setting is missing or unusable (for example PERIMETER_WEBHOOK_SECRET_KEY outside local)."""

    code, title = "configuration-error", "Server configuration error"


# -- download links of the embedded stack --------------------------------------------------

class LinkInvalid(PerimeterError):
    """A download link whose shape, signature or key does not verify (forged, altered or truncated)."""

    status, code, title = 403, "link-invalid", "Invalid download link"


class LinkExpired(LinkInvalid):
    """A genuine download link past its expiry."""

    code, title = "link-expired", "Expired download link"


# -- organizations and team members (docs/decisions.md 2026-12-07) ------------------------

class MemberNotFound(NotFound):
    """A member id that is not one of the caller's organization (another tenant's answers the same)."""

    code, title = "member-not-found", "No such team member"


class InvitationNotFound(NotFound):
    """An invitation token that is unknown, expired, already used or revoked: all answer alike."""

    code, title = "invitation-not-found", "No such invitation"


class MemberExists(Conflict):
    """An invitation for an email address already active or invited in the organization."""

    code, title = "member-exists", "That address is already a member or invited"


class LastOwner(Conflict):
    """A change that would leave the organization without an active owner."""

    code, title = "last-owner", "The last active owner can be neither removed nor demoted"


class MailUnavailable(ServiceUnavailable):
    """The mail service refused or did not answer; nothing was changed."""

    code, title = "mail-unavailable", "The mail service is unavailable"
