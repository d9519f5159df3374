"""boto3 clients, built lazily (never at import) from Settings. The only place clients are made."""

from __future__ import annotations

import threading
from typing import Any

from chalicelib.core.settings import Settings

_lock = threading.Lock()
_session: Any = None


def make_client(service: str, settings: Settings, *, region: str | None = None) -> Any:
    """A boto3 client for `service` (in `region`, else the settings' one), pointed at `AWS_ENDPOINT_URL` on the
    embedded stack."""
    global _session
    import boto3  # deferred: ~150 ms that only the first request that needs AWS should pay
    from botocore.config import Config

    with _lock:
        if _session is None:
            _session = boto3.session.Session()
        session = _session
    # SigV4 for S3: presigned report links must work on buckets that refuse SigV2 (all since 2020).
    config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=20,
                    max_pool_connections=50, signature_version="s3v4" if service == "s3" else None)
    return session.client(service, region_name=region or settings.aws_region, endpoint_url=settings.aws_endpoint_url,
                          config=config)
