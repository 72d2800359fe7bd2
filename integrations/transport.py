"""One POST to an integrator's endpoint, SSRF-safe (``koinonia.netguard``): the URL's host is resolved
and every address checked at delivery time, the connection goes to the checked address (TLS still
verifies the host name), redirects are never followed (a 3xx is a failed attempt), the answer is read
up to ``READ_LIMIT`` bytes and only ``EXCERPT_LIMIT`` of it kept.

urllib3 (requests' own transport) rather than requests: requests connects to the host name itself,
so a second DNS lookup could hand it a different, private address than the one checked."""

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.conf import settings

from koinonia import netguard

TIMEOUT = urllib3.Timeout(connect=3.05, read=10.0)
TOTAL_SECONDS = 15.0  # a receiver dribbling its answer is cut off after this long
READ_LIMIT = 64 * 1024
EXCERPT_LIMIT = 1024
USER_AGENT = "Koinonia-Webhooks/1.0"


@dataclass
class AttemptResult:
    status_code: int | None = None
    duration_ms: int = 0
    excerpt: str = ""
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class TargetRefused(ValueError):
    """The URL may not be posted to (scheme, host, private address)."""


def allow_private_targets() -> bool:
    return bool(getattr(settings, "WEBHOOKS_ALLOW_PRIVATE_TARGETS", False))


def check_url_shape(url: str, *, allow_private: bool) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL we may post to, without resolving it. Plain http only where
    private targets are allowed (development, tests); literal private addresses are refused here."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused("The URL is not valid.") from exc
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise TargetRefused("The URL must start with https://." if not allow_private else "Use an http(s) URL.")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host or "@" in parts.netloc:
        raise TargetRefused("The URL needs a host name, without a user name or password.")
    literal = netguard.literal_address(host)
    if literal is not None and not netguard.address_allowed(literal, allow_private=allow_private):
        raise TargetRefused("The URL points at a private or reserved address; use a public one.")
    if not allow_private and (host == "localhost" or host.endswith(".localhost")):
        raise TargetRefused("The URL points at a private or reserved address; use a public one.")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


def post(url: str, *, body: bytes, headers: dict[str, str]) -> AttemptResult:
    allow_private = allow_private_targets()
    started = time.monotonic()

    def result(**fields) -> AttemptResult:
        return AttemptResult(duration_ms=int((time.monotonic() - started) * 1000), **fields)

    try:
        scheme, host, port = check_url_shape(url, allow_private=allow_private)
        address = netguard.resolve_checked(host, port, allow_private=allow_private, what="endpoint's host")
    except (TargetRefused, netguard.AddressRefused) as exc:
        return result(error=f"Refused: {exc}"[:300])
    except netguard.ResolutionFailed as exc:
        return result(error=str(exc)[:300])
    parts = urlsplit(url)
    default_port = port == (443 if scheme == "https" else 80)
    request_headers = {
        "Host": host if default_port else f"{host}:{port}",
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **headers,
    }
    pool = netguard.pinned_pool(scheme=scheme, address=address, host=host, port=port, timeout=TIMEOUT)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        response = pool.urlopen(
            "POST",
            path,
            body=body,
            headers=request_headers,
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            chunks, size = [], 0
            for chunk in response.stream(8192):
                chunks.append(chunk)
                size += len(chunk)
                if size >= READ_LIMIT or time.monotonic() - started > TOTAL_SECONDS:
                    break  # enough to judge the answer; the rest is not ours to hold
            text = b"".join(chunks)[:EXCERPT_LIMIT].decode("utf-8", errors="replace")
            error = "Redirects are not followed." if 300 <= response.status < 400 else ""
            return result(status_code=response.status, excerpt=text, error=error)
        finally:
            response.release_conn()
    except urllib3.exceptions.TimeoutError:
        return result(error="Timed out.")
    except urllib3.exceptions.HTTPError as exc:
        return result(error=f"Connection failed: {exc.__class__.__name__}"[:300])
    finally:
        pool.close()
