"""HTTP plumbing shared by the carrier providers: one keep-alive session per process and base URL,
and the mapping of transport failures and error responses onto Transient/PermanentSendError.

Sends are never retried here (``max_retries=0``): providers take no idempotency key, so a retried
timed-out send can reach the phone twice. The pipeline retries from its own queue instead.
"""

import email.utils
import logging
import os
import threading
import time
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.cookiejar import DefaultCookiePolicy
from typing import Any, ClassVar

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError

from koinonia import metrics
from koinonia.logging import scrub_personal_data
from messaging.providers.base import (
    NumberError,
    PermanentSendError,
    SendError,
    SendResult,
    SmsProvider,
    TransientSendError,
)

logger = logging.getLogger(__name__)

# (connect, read) seconds. Connect is just over a TCP retransmit window; read covers a slow provider
# without letting one stuck request hold a send worker for long. Overridable as settings.SMS_HTTP_TIMEOUT.
DEFAULT_TIMEOUT = (3.05, 10.0)
# Connections kept per host: the send pipeline has many requests in flight from one process.
POOL_MAXSIZE = 64

_sessions: dict[str, requests.Session] = {}
_sessions_lock = threading.Lock()


def _forget_sessions_in_child() -> None:
    # A forked worker (Celery prefork) must not share the parent's sockets.
    global _sessions_lock
    _sessions.clear()
    _sessions_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_sessions_in_child)


def session_for(base_url: str) -> requests.Session:
    """The process-wide keep-alive session for ``base_url``, created on first use."""
    session = _sessions.get(base_url)
    if session is not None:
        return session
    with _sessions_lock:
        session = _sessions.get(base_url)
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_MAXSIZE, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            # Shared across threads: keep it stateless (providers authenticate per request).
            session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
            # Read the proxy and CA-bundle environment once, not on every request: with trust_env requests
            # re-reads it per send, a fifth of the send pipeline's CPU.
            session.proxies = requests.utils.get_environ_proxies(base_url)
            session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            session.trust_env = False
            _sessions[base_url] = session
        return session


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The provider's back-off hint: ``Retry-After`` (seconds or an HTTP date), else Telnyx's
    ``x-ratelimit-reset`` (seconds until the window resets)."""
    for name in ("Retry-After", "x-ratelimit-reset"):
        value = headers.get(name)
        if not value:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            continue
        return max(0.0, when.timestamp() - time.time())
    return None


def _never_connected(exc: requests.ConnectionError) -> bool:
    """True when the request cannot have reached the provider (refused, DNS, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    cause = exc.args[0] if exc.args else None
    return isinstance(cause, MaxRetryError) and isinstance(cause.reason, NewConnectionError)


@dataclass(frozen=True)
class ProviderRequest:
    """One request (a send, or a number call), before it goes over the shared session."""

    base_url: str
    path: str
    method: str = "POST"
    params: Mapping[str, str] | None = None  # query string (searches, lookups by number)
    headers: Mapping[str, str] = field(default_factory=dict)
    auth: tuple[str, str] | None = None
    json: dict[str, Any] | None = None
    form: list[tuple[str, str]] | None = None  # a list, so repeated keys (Twilio MediaUrl) survive


class HttpSmsProvider(SmsProvider):
    """A provider reached over HTTP. Subclasses build the request and read the provider's error body;
    the classification of failures lives here, once."""

    label: ClassVar[str]  # the provider's name as staff read it in reasons

    def send(
        self,
        *,
        from_number: str,
        to_number: str,
        body: str,
        media_urls: Sequence[str] = (),
        webhook_url: str | None = None,
    ) -> SendResult:
        request = self._build_request(
            from_number=from_number, to_number=to_number, body=body, media_urls=media_urls, webhook_url=webhook_url
        )
        answer = self._post(request)
        try:
            return self._parse_result(answer)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise self._unreadable_answer() from exc

    @abstractmethod
    def _build_request(
        self, *, from_number: str, to_number: str, body: str, media_urls: Sequence[str], webhook_url: str | None
    ) -> ProviderRequest:
        """The provider-shaped send request (reads settings now, so tests and key rotation take effect)."""

    @abstractmethod
    def _parse_result(self, answer: dict[str, Any]) -> SendResult:
        """The SendResult from the provider's 2xx JSON; may raise KeyError/TypeError/ValueError if malformed."""

    @abstractmethod
    def _error_code_and_message(self, body: Any) -> tuple[str, str]:
        """The provider's error code (as a string, ``""`` if none) and message from an error body."""

    def _required_setting(self, name: str) -> str:
        """A credential the provider cannot work without; its absence stops the whole broadcast."""
        value = getattr(settings, name, "")
        if not value:
            raise PermanentSendError(
                "not_configured", f"{self.label} is not configured: {name} is empty.", sender_level=True
            )
        return value

    def _unreadable_answer(self) -> PermanentSendError:
        # Accepted but unreadable: retrying could double-send, so stop and let a human look.
        return PermanentSendError(
            "unreadable_response",
            f"{self.label} accepted the message but its reply could not be read; check the provider's logs "
            "before resending.",
        )

    def _exchange(self, request: ProviderRequest) -> requests.Response:
        """Send ``request`` over the shared session; transport failures become TransientSendError."""
        timeout = getattr(settings, "SMS_HTTP_TIMEOUT", DEFAULT_TIMEOUT)
        try:
            return session_for(request.base_url).request(
                request.method,
                f"{request.base_url}{request.path}",
                timeout=timeout,
                headers=dict(request.headers),
                auth=request.auth,
                params=request.params,
                json=request.json,
                data=request.form,
            )
        except requests.ConnectionError as exc:
            if _never_connected(exc):
                raise TransientSendError(f"Could not connect to {self.label}.") from exc
            raise TransientSendError(f"The connection to {self.label} dropped mid-request.", maybe_sent=True) from exc
        except requests.Timeout as exc:  # read timeout: the provider may have accepted the message
            raise TransientSendError(f"{self.label} did not answer in time.", maybe_sent=True) from exc
        except requests.RequestException as exc:
            raise TransientSendError(f"Request to {self.label} failed: {exc}.") from exc

    def _post(self, request: ProviderRequest) -> dict[str, Any]:
        """POST and return the decoded JSON of a 2xx answer, or raise the matching SendError."""
        response = self._exchange(request)
        body = _json_or_none(response)
        if response.ok:
            if not isinstance(body, dict):
                raise self._unreadable_answer()
            return body
        raise self._error_for(response, body)

    def _call(self, request: ProviderRequest, *, doing: str) -> dict[str, Any]:
        """A number API call (search, order, inspect, repair): the decoded 2xx JSON, or a NumberError
        whose reason says what we were ``doing`` ("ordering +1…") and why it failed."""
        try:
            response = self._exchange(request)
        except TransientSendError as exc:
            raise NumberError(f"{exc.reason} (while {doing})", transient=True) from exc
        body = _json_or_none(response)
        if response.ok:
            if not isinstance(body, dict):
                raise NumberError(f"{self.label}'s answer could not be read (while {doing}).")
            return body
        code, message = self._error_code_and_message(body) if body is not None else ("", "")
        status = response.status_code
        info = self.error_codes.get(code)
        if info is not None and (info.sender_level or info.retryable):  # credentials, rate limits
            raise NumberError(info.reason, code=code, transient=info.retryable, status=status)
        detail = message or response.reason or "no details"
        if status == 429 or status == 408 or status >= 500:
            raise NumberError(
                f"{self.label} had a temporary problem (HTTP {status}: {detail}) while {doing}.",
                code=code,
                transient=True,
                status=status,
            )
        raise NumberError(f"{self.label} refused {doing}: {detail}", code=code, status=status)

    def _error_for(self, response: requests.Response, body: Any) -> SendError:
        """Classify by the provider's error code first (its HTTP status is not reliable), then by status."""
        code, message = self._error_code_and_message(body) if body is not None else ("", "")
        info = self.error_codes.get(code)
        retry_after = retry_after_seconds(response.headers)
        metrics.count_provider_error(provider=getattr(self, "name", self.label.lower()), status=response.status_code)
        if info is not None:
            if info.retryable:
                return TransientSendError(info.reason, retry_after)
            return PermanentSendError(code, info.reason, sender_level=info.sender_level)
        status = response.status_code
        # Kept as the recipient's error_reason: a provider's words may quote the member's number.
        detail = scrub_personal_data(message or response.reason or "no details")
        if status == 429:
            return TransientSendError(f"{self.label} is rate limiting us ({detail}).", retry_after)
        if status >= 500 or status == 408:
            return TransientSendError(f"{self.label} had a temporary problem (HTTP {status}: {detail}).", retry_after)
        logger.warning("Unclassified %s error", self.label, extra={"status": status, "code": code, "detail": detail})
        return PermanentSendError(code or f"http_{status}", f"{self.label} refused the message: {detail}")


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
