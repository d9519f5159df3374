"""The intel use cases the entry points call: load the intel a scan uses, refresh it from the live feeds."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
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
from chalicelib.scanners.intel.osv import OSV_URL, OsvData, OsvError, OsvRefresh, load_osv, refresh_osv
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

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "intel"
FEED_TIMEOUT_SECONDS = 30.0


def load_for_settings(settings: Settings, objects: Callable[[], ObjectStore] | None = None) -> Intel:
    """The intel a scan uses: the newest valid of the packaged copy, PERIMETER_INTEL_DIR and
    PERIMETER_INTEL_S3_PREFIX (in `objects()`, the reports bucket); cached per process."""
    return load_intel(settings.intel_dir, settings.intel_s3_prefix, objects)


def load_osv_for_settings(settings: Settings, objects: Callable[[], ObjectStore] | None = None) -> OsvData:
    """The OSV data a container scan matches against: the newest valid copy under PERIMETER_INTEL_DIR or
    PERIMETER_INTEL_S3_PREFIX (none is packaged: empty when never refreshed)."""
    return load_osv(settings.intel_dir, settings.intel_s3_prefix, objects)


def refresh_osv_data(settings: Settings, ecosystems: Sequence[str], *, out_dir: Path | None = None,
                     objects: ObjectStore | None = None, fetch: Fetch | None = None, today: date | None = None,
                     url: str = OSV_URL) -> OsvRefresh:
    """Fetch the OSV exports of `ecosystems` and write a new OSV data version beside the intel bundle.

    Raises ServiceUnavailable (`osv-feed-unreachable` / `osv-feed-invalid`) with nothing written.
    """
    try:
        return refresh_osv(fetch or settings_fetcher(settings), ecosystems, today or utcnow().date(),
                           out_dir=out_dir, objects=objects, prefix=settings.intel_s3_prefix or DEFAULT_PREFIX,
                           url=url)
    except RefreshFailed as exc:
        raise ServiceUnavailable(f"An OSV export is unreachable ({exc}); the OSV data in place stays.",
                                 code="osv-feed-unreachable") from None
    except OsvError as exc:
        raise ServiceUnavailable(f"An OSV export is invalid ({exc}); the OSV data in place stays.",
                                 code="osv-feed-invalid") from None


def feed_urls(settings: Settings) -> FeedUrls:
    """The three feed URLs of `settings`."""
    return FeedUrls(kev=settings.intel_kev_url, endoflife=settings.intel_eol_url, releases=settings.intel_releases_url)


def settings_fetcher(settings: Settings) -> Fetch:
    """The guarded feed fetcher: PERIMETER_DNS_SERVERS, the target guard's exemptions, a 30 s deadline per request."""
    resolver = DnsResolver(build_resolver(settings.dns_servers, settings.dns_timeout))
    return http_fetcher(resolver, Guard(settings.allow_private_targets, settings.self_endpoints), FEED_TIMEOUT_SECONDS)


def refresh_intel(settings: Settings, *, out_dir: Path | None = None, objects: ObjectStore | None = None,
                  fetch: Fetch | None = None, today: date | None = None, osv_ecosystems: Sequence[str] = (),
                  osv_url: str = OSV_URL) -> RefreshResult:
    """Rebuild the bundle from the feeds and write a new version to `out_dir` or to `objects` under
    PERIMETER_INTEL_S3_PREFIX (default `intel`); then, with `osv_ecosystems`, the OSV data too.

    Raises ServiceUnavailable (`intel-feed-unreachable` / `intel-feed-invalid`) with nothing written.
    An OSV refresh that fails leaves the previous OSV data and is reported in the result's `osv`.
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
        result = refresh(bundle, origin, current, out_dir=out_dir, objects=objects, prefix=prefix)
    except RefreshFailed as exc:
        raise ServiceUnavailable(f"An intel feed is unreachable ({exc}); intel {current.version} stays in place.",
                                 code="intel-feed-unreachable") from None
    except BundleError as exc:
        raise ServiceUnavailable(f"An intel feed is invalid ({exc}); intel {current.version} stays in place.",
                                 code="intel-feed-invalid") from None
    if not osv_ecosystems:
        return result
    try:
        osv: dict[str, object] = dict(refresh_osv_data(settings, osv_ecosystems, out_dir=out_dir, objects=objects,
                                                       fetch=fetch, today=today, url=osv_url).as_dict())
    except ServiceUnavailable as exc:
        log.warning("OSV refresh failed: %s", exc.detail)
        osv = {"error": exc.code, "detail": exc.detail}
    return dataclasses.replace(result, osv=osv)
