"""The HTTP layer: auth header, retries with jittered exponential backoff, Retry-After, Idempotency-Key.

Retried: 429 (always: the request was refused before it ran), 5xx and connection errors (for GET,
DELETE and for POSTs that carry an Idempotency-Key, which makes a replay safe), and 409
`idempotency-key-in-progress` (the first attempt of the same keyed POST is still running).
"""

from __future__ import annotations

import email.utils
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import requests

from perimeter_client.errors import APIError, TransportError, error_for

Sleep = Callable[[float], None]
Jitter = Callable[[float], float]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT"})


class Session(Protocol):
    """What the transport needs of a `requests.Session` (tests pass a fake)."""

    def request(self, method: str, url: str, *, params: Any = ..., json: Any = ..., headers: Any = ...,
                timeout: Any = ..., allow_redirects: bool = ..., stream: Any = ...) -> requests.Response: ...


def equal_jitter(delay: float) -> float:
    """A random delay in [delay/2, delay]: spreads clients apart yet keeps the backoff growing."""
    return delay / 2 + random.uniform(0, delay / 2)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None when absent or invalid."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, moment.timestamp() - current)


@dataclass
class RetryPolicy:
    """How often and how long to retry: attempt n (from 0) waits jitter(min(cap, base * 2**n))."""

    max_retries: int = 4
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_retry_after: float = 120.0  # a longer Retry-After is not slept through: the error is raised
    sleep: Sleep = field(default=time.sleep, repr=False)
    jitter: Jitter = field(default=equal_jitter, repr=False)

    def backoff(self, attempt: int) -> float:
        """The jittered delay before retry number `attempt` + 1."""
        return self.jitter(min(self.backoff_cap, self.backoff_base * (2 ** attempt)))


class Transport:
    """Sends requests to one API with one key; decodes JSON; raises APIError or TransportError."""

    def __init__(self, base_url: str, api_key: str, *, session: Session | None = None,
                 retry: RetryPolicy | None = None, timeout: float = 30.0, idempotency: bool = True,
                 user_agent: str = "perimeter-client") -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.session: Session = session if session is not None else requests.Session()
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.idempotency = idempotency
        self.user_agent = user_agent

    def __repr__(self) -> str:  # never the key
        return f"Transport({self.base_url!r})"

    def url(self, path: str) -> str:
        """An absolute URL for an API path (absolute URLs pass through)."""
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
                headers: Mapping[str, str] | None = None, idempotency_key: str | None = None,
                allow_redirects: bool = True, stream: bool = False, auth: bool = True) -> requests.Response:
        """One API call with retries; returns the 2xx/3xx response. Raises APIError or TransportError.

        `auth=False` leaves the key out (a signed download link is its own credential).
        """
        method = method.upper()
        sent = {"Accept": "application/json", "User-Agent": self.user_agent, **(headers or {})}
        if auth:
            sent["Authorization"] = f"Bearer {self._api_key}"
        if method == "POST" and idempotency_key is None and self.idempotency:
            idempotency_key = str(uuid.uuid4())
        if idempotency_key is not None:
            sent["Idempotency-Key"] = idempotency_key  # the same key on every retry: the server replays
        replay_safe = method in SAFE_METHODS or idempotency_key is not None
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            try:
                response = self.session.request(method, self.url(path), params=clean or None, json=json,
                                                headers=sent, timeout=self.timeout, allow_redirects=allow_redirects,
                                                stream=stream)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if not replay_safe or attempt >= self.retry.max_retries:
                    raise TransportError(f"{method} {self.url(path)}: {type(exc).__name__}") from None
                self.retry.sleep(self.retry.backoff(attempt))
                attempt += 1
                continue
            if response.ok:  # any status below 400
                return response
            error = error_for(response.status_code, _problem(response),
                              parse_retry_after(response.headers.get("Retry-After")))
            delay = self._delay(error, attempt, replay_safe)
            if delay is None:
                raise error
            response.close()
            self.retry.sleep(delay)
            attempt += 1

    def _delay(self, error: APIError, attempt: int, replay_safe: bool) -> float | None:
        """How long to wait before retrying this error, or None to raise it."""
        if attempt >= self.retry.max_retries:
            return None
        retryable = error.status == 429 or (replay_safe and (
            error.status >= 500 or error.code == "idempotency-key-in-progress"))
        if not retryable:
            return None
        if error.retry_after is not None:
            return None if error.retry_after > self.retry.max_retry_after else error.retry_after
        return self.retry.backoff(attempt)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """`request()` and the decoded JSON body (None for an empty one)."""
        response = self.request(method, path, **kwargs)
        return response.json() if response.content else None


def _problem(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
