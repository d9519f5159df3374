"""An OCI distribution (v2) client over the guarded HTTP client: auth, manifests, blobs, nothing else.

Every request goes through `chalicelib.net.http.send` (resolve once, target guard, pinned address).
https unless every address of the registry is inside PERIMETER_ALLOW_PRIVATE_TARGETS (test
registries on loopback speak plain http). Auth: anonymous, Basic, or the Bearer token flow, whose
realm must be on the registry host itself (else refused). Redirects are followed only to the same
host and port, and for an ECR registry to its regional layer bucket (where ECR sends every blob);
credentials are never sent on a redirect. Every blob is checked against its digest by the caller.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

from chalicelib.aws.ecr import EcrAuth
from chalicelib.core.addresses import IPAddress
from chalicelib.net import http as guarded_http
from chalicelib.net.dns import DnsResolver
from chalicelib.net.guard import is_exempt, parse_ip
from chalicelib.net.http import AddressRefused, Destination, Guard, HttpFailure, HttpResponse
from chalicelib.net.ports import DomainNotFound, ResolverUnavailable
from chalicelib.scanners.base import GuardRefused, ScanContext, resolution_failure
from chalicelib.scanners.container.image import (
    ACCEPT,
    MAX_MANIFEST_BYTES,
    Image,
    ImageError,
    Limits,
    check_digest,
    resolve_image,
    sha256_digest,
)
from chalicelib.scanners.container.options import RegistryCredentials
from chalicelib.scanners.container.reference import ImageReference

USER_AGENT = "Perimeter-ContainerScanner/1"
MAX_REDIRECTS = 3
MAX_TOKEN_BYTES = 64 * 1024
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PARAM = re.compile(r'([A-Za-z_]+)="([^"]*)"')
_ECR_BUCKET = re.compile(r"^prod-([a-z0-9-]+)-starport-layer-bucket\.s3\.([a-z0-9-]+\.)?amazonaws\.com$")

EcrCredentials = Callable[[str], RegistryCredentials]
"""`credentials(region) -> RegistryCredentials` for an ECR registry (chalicelib/aws/ecr.py)."""


def ecr_credentials(auth: EcrAuth) -> EcrCredentials:
    """The `ecr` argument of RegistryClient (ScanContext.ecr_credentials) from an EcrAuth adapter."""
    return lambda region: RegistryCredentials(*auth.credentials(region))


class RegistryError(ImageError):
    """The registry refused or failed: authentication, a missing image, an answer out of protocol."""


@dataclass
class RegistryClient:
    """Pulls one image reference from its registry; counts the bytes it read."""

    ref: ImageReference
    ctx: ScanContext
    credentials: RegistryCredentials | None = field(default=None, repr=False)
    ecr: EcrCredentials | None = field(default=None, repr=False)
    limits: Limits = field(default_factory=Limits)
    timeout: float = 30.0
    _auth: str | None = field(default=None, init=False, repr=False)
    _scheme: str = field(default="https", init=False)

    def pull(self, platform: str = "linux/amd64") -> Image:
        """Manifest (an index followed to `platform`), config and layers, all verified.

        Raises GuardRefused/CheckSkipped (guard, NXDOMAIN), CheckFailed (resolver) or RegistryError/ImageError.
        """
        self._scheme = self._pick_scheme()
        self._authenticate()
        manifest, digest, content_type = self._manifest()
        return resolve_image(str(self.ref), manifest, digest, content_type, self._blob, platform, self.limits)

    # -- transport ------------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return f"{self._scheme}://{self.ref.registry}{path}"

    def _pick_scheme(self) -> str:
        literal = parse_ip(self.ref.host)
        try:
            addresses: list[IPAddress] = ([literal] if literal is not None
                                          else list(DnsResolver(self.ctx.resolver).resolve(self.ref.host)))
        except (DomainNotFound, ResolverUnavailable) as exc:
            raise resolution_failure(self.ref.host, exc) from None
        exempt = bool(addresses) and all(is_exempt(a, self.ctx.allowed_networks) for a in addresses)
        return "http" if exempt else "https"

    def _redirect_allowed(self, url: str) -> bool:
        parts = urllib.parse.urlsplit(url)
        host = (parts.hostname or "").lower()
        if host == self.ref.host and (parts.port or guarded_http.DEFAULT_PORTS.get(parts.scheme)) == (
                self.ref.port or guarded_http.DEFAULT_PORTS[self._scheme]):
            return parts.scheme in ("http", "https")
        bucket = _ECR_BUCKET.match(host)
        return parts.scheme == "https" and bucket is not None and bucket.group(1) == self.ref.ecr_region

    def _send(self, url: str, *, max_body: int, headers: dict[str, str] | None = None,
              authorize: bool = True, timeout: float | None = None) -> HttpResponse:
        """GET `url` (guarded), following allowed redirects without credentials; raises RegistryError/GuardRefused."""
        current = url
        sent_headers = dict(headers or {})
        if authorize and self._auth:
            sent_headers["Authorization"] = self._auth
        for _ in range(MAX_REDIRECTS + 1):
            response = self._one(current, sent_headers, max_body, timeout or self.timeout)
            location = response.header("location")
            if response.status not in REDIRECTS or not location:
                return response
            target = urllib.parse.urljoin(current, location)
            if not self._redirect_allowed(target):
                host = urllib.parse.urlsplit(target).hostname
                raise RegistryError(f"the registry redirected to another host ({host}); only {self.ref.registry} "
                                    "is contacted")
            current = target
            sent_headers.pop("Authorization", None)
        raise RegistryError("too many redirects")

    def _one(self, url: str, headers: dict[str, str], max_body: int, timeout: float) -> HttpResponse:
        destination = Destination.from_url(url)
        guard = Guard(self.ctx.allowed_networks, self.ctx.self_endpoints)
        try:
            response = guarded_http.send(destination, resolver=DnsResolver(self.ctx.resolver), guard=guard,
                                         timeout=timeout, max_body=max_body, user_agent=USER_AGENT, headers=headers)
        except (DomainNotFound, ResolverUnavailable) as exc:
            raise resolution_failure(destination.host, exc) from None
        except AddressRefused as exc:
            raise GuardRefused(f"target guard: registry {destination.host}: {exc}") from None
        except HttpFailure as exc:
            raise RegistryError(f"{destination.host}: {exc}") from None
        if response.truncated:
            raise RegistryError(f"{destination.target}: answer larger than the cap of {max_body} bytes")
        if response.body_error:
            raise RegistryError(f"{destination.target}: {response.body_error}")
        return response

    # -- authentication ----------------------------------------------------------------------------
    def _basic(self, creds: RegistryCredentials) -> str:
        raw = f"{creds.username}:{creds.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def _authenticate(self) -> None:
        """Probe `/v2/` and set the Authorization this pull uses; raises RegistryError."""
        creds = self.credentials
        if creds is None and self.ref.ecr_region and self.ecr is not None:
            try:
                creds = self.ecr(self.ref.ecr_region)
            except Exception as exc:  # EcrAuthError or the SDK's: the pull cannot authenticate
                raise RegistryError(f"ECR credentials unavailable: {exc}") from None
        probe = self._send(self._url("/v2/"), max_body=MAX_TOKEN_BYTES, authorize=False)
        if probe.status == 200:
            self._auth = self._basic(creds) if creds and self.ref.ecr_region else None
            return
        if probe.status != 401:
            raise RegistryError(f"{self.ref.registry} does not answer as an OCI registry (/v2/: HTTP {probe.status})")
        challenge = probe.header("www-authenticate") or ""
        scheme, _, rest = challenge.strip().partition(" ")
        if scheme.lower() == "basic":
            if creds is None:
                raise RegistryError(f"{self.ref.registry} requires credentials (Basic) and none were given")
            self._auth = self._basic(creds)
            return
        if scheme.lower() != "bearer":
            raise RegistryError(f"{self.ref.registry}: unsupported authentication scheme {scheme or '(none)'!r}")
        self._auth = "Bearer " + self._token(dict(_PARAM.findall(rest)), creds)

    def _token(self, params: dict[str, str], creds: RegistryCredentials | None) -> str:
        realm = params.get("realm", "")
        parts = urllib.parse.urlsplit(realm)
        if (parts.hostname or "").lower() != self.ref.host or parts.scheme not in ("http", "https") or (
                parts.scheme == "http" and self._scheme == "https"):
            raise RegistryError(f"the token realm is not on {self.ref.host}; refused")
        query = {"scope": f"repository:{self.ref.repository}:pull"}
        if params.get("service"):
            query["service"] = params["service"]
        separator = "&" if parts.query else "?"
        url = realm + separator + urllib.parse.urlencode(query)
        headers = {"Authorization": self._basic(creds)} if creds else {}
        answer = self._send(url, max_body=MAX_TOKEN_BYTES, headers=headers, authorize=False)
        if answer.status in (401, 403):
            raise RegistryError(f"{self.ref.registry} refused the credentials (token HTTP {answer.status})")
        if answer.status != 200:
            raise RegistryError(f"{self.ref.registry}: token endpoint answered HTTP {answer.status}")
        try:
            doc = json.loads(answer.body)
            token = str(doc.get("token") or doc.get("access_token") or "")
        except (ValueError, AttributeError):
            token = ""
        if not token:
            raise RegistryError(f"{self.ref.registry}: the token endpoint gave no token")
        return token

    # -- content ----------------------------------------------------------------------------------
    def _path(self, kind: str, name: str) -> str:
        return f"/v2/{self.ref.repository}/{kind}/{urllib.parse.quote(name, safe=':')}"

    def _manifest(self) -> tuple[bytes, str, str | None]:
        response = self._send(self._url(self._path("manifests", self.ref.selector)), max_body=MAX_MANIFEST_BYTES,
                              headers={"Accept": ACCEPT})
        if response.status in (401, 403):
            raise RegistryError(f"{self.ref.registry} denied access to {self.ref.repository} (HTTP {response.status})")
        if response.status == 404:
            raise RegistryError(f"{self.ref} was not found in the registry")
        if response.status != 200:
            raise RegistryError(f"manifest of {self.ref}: HTTP {response.status}")
        body = response.body
        if self.ref.digest:
            check_digest(self.ref.digest, body, "manifest")
            return body, self.ref.digest, response.header("content-type")
        announced = response.header("docker-content-digest")
        if announced and announced.startswith("sha256:"):
            check_digest(announced, body, "manifest")
        return body, sha256_digest(body), response.header("content-type")

    def _blob(self, digest: str, max_bytes: int) -> bytes:
        if not digest.startswith("sha256:"):
            raise RegistryError(f"unsupported blob digest {digest!r}")
        timeout = max(self.timeout, 60.0 + max_bytes / (4 * 1024 * 1024))
        response = self._send(self._url(self._path("blobs", digest)), max_body=max_bytes, timeout=timeout)
        if response.status != 200:
            raise RegistryError(f"blob {digest}: HTTP {response.status}")
        return response.body
