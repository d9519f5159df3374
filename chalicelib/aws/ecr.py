"""ECR registry credentials: `ecr.get_authorization_token` turned into a user name and password for Basic auth.

The boto3 client is made lazily (per region) by the factory passed in, so a scan of another registry
never builds one. The token is a base64 `AWS:<password>`, valid 12 hours; it is never logged.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable
from typing import Any


class EcrAuthError(Exception):
    """ECR gave no usable authorization token."""


class EcrAuth:
    """`credentials(region) -> (username, password)` from ECR, one client per region, made on first use."""

    def __init__(self, client_for_region: Callable[[str], Any]) -> None:
        self._factory = client_for_region
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, region: str) -> Any:
        with self._lock:
            if region not in self._clients:
                self._clients[region] = self._factory(region)
            return self._clients[region]

    def credentials(self, region: str) -> tuple[str, str]:
        """The Basic auth user name and password for the account's registry in `region`; raises EcrAuthError."""
        try:
            answer = self._client(region).get_authorization_token()
            token = answer["authorizationData"][0]["authorizationToken"]
            user, sep, password = base64.b64decode(token).decode("utf-8").partition(":")
        except (KeyError, IndexError, TypeError, ValueError, binascii.Error) as exc:
            raise EcrAuthError(f"no ECR authorization token: {type(exc).__name__}") from None
        except Exception as exc:  # botocore ClientError and friends; the message names no secret
            raise EcrAuthError(f"ECR GetAuthorizationToken failed: {type(exc).__name__}: {exc}") from None
        if not sep or not user or not password:
            raise EcrAuthError("the ECR authorization token is not user:password")
        return user, password
