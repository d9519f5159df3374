"""The intel use cases the entry points call: load the intel a scan uses, refresh it from the live feeds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from chalicelib.core.clock import utcnow
from chalicelib.core.errors import ServiceUnavailable
from chalicelib.core.objects import ObjectStore
from chalicelib.core.settings import Settings
from chalicelib.net.dns import DnsResolver, build_resolver
from chalicelib.net.http import Guard
from chalicelib.scanners.intel.build import BundleError
from chalicelib.scanners.intel.model import Intel
from chalicelib.scanners.intel.refresh import (
    FeedUrls,
    Fetch,
    RefreshFailed,
    RefreshResult,
    fetch_bundle,
    http_fetcher,
    refresh,
)
from chalicelib.scanners.intel.store import forget_loaded, load_intel

DEFAULT_PREFIX = "intel"
FEED_TIMEOUT_SECONDS = 30.0


def load_for_settings(settings: Settings, objects: Callable[[], ObjectStore] | None = None) -> Intel:
    """The intel a scan uses: the newest valid of the packaged copy, PERIMETER_INTEL_DIR and
    PERIMETER_INTEL_S3_PREFIX (in `objects()`, the reports bucket); cached per process."""
    return load_intel(settings.intel_dir, settings.intel_s3_prefix, objects)


def feed_urls(settings: Settings) -> FeedUrls:
    """The three feed URLs of `settings`."""
    return FeedUrls(kev=settings.intel_kev_url, endoflife=settings.intel_eol_url, releases=settings.intel_releases_url)


def settings_fetcher(settings: Settings) -> Fetch:
    """The guarded feed fetcher: PERIMETER_DNS_SERVERS, the target guard's exemptions, a 30 s deadline per request."""
    resolver = DnsResolver(build_resolver(settings.dns_servers, settings.dns_timeout))
    return http_fetcher(resolver, Guard(settings.allow_private_targets, settings.self_endpoints), FEED_TIMEOUT_SECONDS)


def refresh_intel(settings: Settings, *, out_dir: Path | None = None, objects: ObjectStore | None = None,
                  fetch: Fetch | None = None, today: date | None = None) -> RefreshResult:
    """Rebuild the bundle from the feeds and write a new version to `out_dir` or to `objects` under
    PERIMETER_INTEL_S3_PREFIX (default `intel`).

    Raises ServiceUnavailable (`intel-feed-unreachable` / `intel-feed-invalid`) with nothing written.
    """
    prefix = settings.intel_s3_prefix or DEFAULT_PREFIX
    forget_loaded()
    if out_dir is not None:
        current = load_intel(out_dir)
    elif objects is not None:
        store = objects
        current = load_intel(None, prefix, lambda: store)
    else:
        raise ValueError("refresh_intel needs out_dir or objects")
    try:
        bundle, origin = fetch_bundle(fetch or settings_fetcher(settings), feed_urls(settings),
                                      today or utcnow().date())
        return refresh(bundle, origin, current, out_dir=out_dir, objects=objects, prefix=prefix)
    except RefreshFailed as exc:
        raise ServiceUnavailable(f"An intel feed is unreachable ({exc}); intel {current.version} stays in place.",
                                 code="intel-feed-unreachable") from None
    except BundleError as exc:
        raise ServiceUnavailable(f"An intel feed is invalid ({exc}); intel {current.version} stays in place.",
                                 code="intel-feed-invalid") from None
