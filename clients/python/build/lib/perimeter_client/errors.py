"""Exceptions: every API error carries the HTTP status and the problem's stable kebab-case `code`."""

from __future__ import annotations

from typing import Any


class PerimeterError(Exception):
    """Base of everything this package raises on purpose."""


class ConfigurationError(PerimeterError):
    """No API key or base URL, from the arguments or the environment."""


class TransportError(PerimeterError):
    """The API could not be reached (connection refused, timeout) after every retry."""


class APIError(PerimeterError):
    """An application/problem+json answer (or any non-2xx one): status, code, detail and the whole problem."""

    def __init__(self, status: int, code: str, detail: str, problem: dict[str, Any] | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.problem: dict[str, Any] = dict(problem or {})
        self.retry_after = retry_after

    @property
    def errors(self) -> list[dict[str, str]]:
        """Field errors of a 422 (`field`, `message`, `type`), empty otherwise."""
        found = self.problem.get("errors")
        return list(found) if isinstance(found, list) else []


class BadRequestError(APIError):
    """400."""


class AuthenticationError(APIError):
    """401 or 403: a missing, unknown or revoked key (or a forbidden link)."""


class NotFoundError(APIError):
    """404: no such object for this tenant."""


class ConflictError(APIError):
    """409: e.g. `scan-not-complete`, `illegal-transition`, `idempotency-key-in-progress`."""


class ValidationError(APIError):
    """422: `validation-failed`, `invalid-domain`, `target-not-allowed`, ... (see `errors`)."""


class RateLimitError(APIError):
    """429 after every retry; `retry_after` says when to come back."""


class ServerError(APIError):
    """5xx after every retry."""


class ScanFailedError(PerimeterError):
    """`wait()` saw the scan end failed or cancelled; `scan` is its last state."""

    def __init__(self, scan: Any) -> None:
        error = getattr(scan, "error", None)
        why = f": {error.code}: {error.message}" if error is not None else ""
        super().__init__(f"scan {scan.scan_token} ended {scan.status}{why}")
        self.scan = scan


class WaitTimeoutError(PerimeterError):
    """`wait()` gave up before the scan ended; `scan` is the last state seen."""

    def __init__(self, scan: Any, seconds: float) -> None:
        super().__init__(f"scan {scan.scan_token} still {scan.status} after {seconds:.0f} s")
        self.scan = scan


class WebhookVerificationError(PerimeterError):
    """A webhook's signature, timestamp or headers did not verify."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError, 401: AuthenticationError, 403: AuthenticationError, 404: NotFoundError,
    409: ConflictError, 422: ValidationError, 429: RateLimitError,
}


def error_for(status: int, body: Any, retry_after: float | None = None) -> APIError:
    """The exception for a non-2xx answer; `body` is the decoded problem (or anything else)."""
    problem = body if isinstance(body, dict) else {}
    code = str(problem.get("code") or f"http-{status}")
    detail = str(problem.get("detail") or problem.get("error") or problem.get("title") or f"HTTP {status}")
    cls = ServerError if status >= 500 else _BY_STATUS.get(status, APIError)
    return cls(status, code, detail, problem, retry_after)
