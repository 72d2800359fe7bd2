"""Machinery shared by the local provider fakes (Telnyx, Twilio): a real HTTP server on loopback, latency,
per-key token-bucket rate limits, injected failures, a signed-webhook sender with retries, and the common
life of an outbound message (validate → accept → ``sent`` → final status callbacks).

A fake is a test double of the outside world, so it speaks the provider's wire format over real sockets;
the provider-specific parts (paths, auth, bodies, signatures) live in ``telnyx.py`` / ``twilio.py``.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
import re
import socket
import struct
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import HTTPAdapter

from messaging.segments import SegmentInfo, segment_info

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
SHORT_CODE = re.compile(r"^\d{3,6}$")
MAX_MEDIA = 10

# Built once per webhook: attempt number (1, 2, ...) → (body, headers). Rebuilt per attempt so the
# signature timestamp is fresh and attempt counters (Telnyx meta.attempt) can increase.
WebhookBuilder = Callable[[int], tuple[bytes, dict[str, str]]]


# --- HTTP server -------------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    target: str  # path and query string, as requested
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode(), keep_blank_values=True)


@dataclass
class FakeResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: Any, headers: dict[str, str] | None = None) -> FakeResponse:
        return cls(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})


class _Reset:
    """Returned by ``handle`` to drop the connection with a TCP reset instead of answering."""


RESET_CONNECTION = _Reset()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs, so client connection pools are exercised
    # Headers and body go out as separate writes; without TCP_NODELAY every keep-alive request waits
    # ~40 ms for Nagle's algorithm and delayed ACKs, which no real provider adds.
    disable_nagle_algorithm = True
    owner: LocalHttpServer

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            target=self.path,
            path=url.path,
            query=parse_qs(url.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        response = self.owner.handle(request)
        try:
            if isinstance(response, _Reset):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
                return
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. its read timeout)
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the send pipeline opens many connections at once
    daemon_threads = True


class LocalHttpServer(ABC):
    """An HTTP server on ``127.0.0.1:<free port>`` in a background thread; use as a context manager."""

    def __init__(self) -> None:
        handler = type("Handler", (_Handler,), {"owner": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name=type(self).__name__, daemon=True
        )  # a short poll interval keeps stop() (and each test's teardown) quick
        self._thread.start()

    @abstractmethod
    def handle(self, request: RecordedRequest) -> FakeResponse | _Reset:
        """Answer one request (runs on the server's per-connection thread)."""

    def url(self, path: str = "/") -> str:
        return f"{self.base_url}{path}"

    def stop(self) -> None:
        self._stopping.set()  # wakes requests held by latency or a hang
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class RecordingReceiver(LocalHttpServer):
    """Stands in for our webhook endpoint in tests of the fakes: records each POST and answers with the
    next queued status (200 once the queue is empty)."""

    def __init__(self, statuses: Iterable[int] = ()) -> None:
        self.received: list[RecordedRequest] = []
        self._statuses = deque(statuses)
        self._changed = threading.Condition()
        super().__init__()

    def handle(self, request: RecordedRequest) -> FakeResponse:
        with self._changed:
            self.received.append(request)
            status = self._statuses.popleft() if self._statuses else 200
            self._changed.notify_all()
        return FakeResponse(status)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """At least ``count`` requests, waiting up to ``timeout``; fails the test otherwise."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"expected {count} webhooks, got {len(self.received)}")
            return list(self.received)


# --- Rate limits and failures ------------------------------------------------------------------------


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``: the usual API rate limit shape."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self._tokens = self.capacity
        self._updated = time.monotonic()

    def take(self) -> tuple[bool, int, float]:
        """(allowed, tokens remaining, seconds until the next token); not thread-safe on its own."""
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True, int(self._tokens), 0.0
        return False, 0, (1 - self._tokens) / self.rate


HANG: Literal["hang"] = "hang"
RESET: Literal["reset"] = "reset"


@dataclass(frozen=True)
class InjectedFailure:
    """What the next request suffers: an HTTP status (with the provider's error body), a hang past the
    client's timeout (the message IS accepted, as a slow provider would), or a connection reset."""

    kind: int | Literal["hang", "reset"]
    code: str | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class RecipientFailure:
    """How messages to one number fail: refused at send (``stage="send"``, answered with ``http_status``)
    or accepted and then reported failed in the final status callback (``status`` + ``code``)."""

    code: str
    stage: Literal["send", "delivery"]
    status: str | None = None
    http_status: int = 400


class Rejection(Enum):
    """Validation failures every SMS provider has; each fake maps them to its own code and text."""

    INVALID_TO = "invalid_to"
    MISSING_FROM = "missing_from"
    NO_CONTENT = "no_content"
    TOO_LONG = "too_long"
    TOO_MANY_MEDIA = "too_many_media"
    OPTED_OUT = "opted_out"


@dataclass(frozen=True)
class OptOutKeywords:
    """The provider's built-in keyword engine (docs/providers.md §5): whole message, any case."""

    stop: frozenset[str]
    start: frozenset[str]
    help: frozenset[str]

    def classify(self, text: str) -> Literal["STOP", "START", "HELP"] | None:
        word = " ".join(text.split()).upper()
        if word in self.stop:
            return "STOP"
        if word in self.start:
            return "START"
        if word in self.help:
            return "HELP"
        return None


# --- Webhooks ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookDelivery:
    """One attempt to deliver one webhook."""

    url: str
    attempt: int
    status: int | None  # None: no answer (connection error or timeout)
    body: bytes
    headers: dict[str, str]


class WebhookDispatcher:
    """Delivers webhooks after a delay from a small thread pool, retrying non-2xx answers and timeouts
    with exponential backoff. One scheduler thread holds the delayed jobs, so hundreds per second cost
    no thread each."""

    def __init__(self, *, max_attempts: int, workers: int = 16, timeout: float = 2.0, backoff: float = 0.01) -> None:
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.backoff = backoff
        self.deliveries: list[WebhookDelivery] = []
        self._jobs: list[tuple[float, int, str, WebhookBuilder, int]] = []
        self._sequence = itertools.count()
        self._pending = 0
        self._closed = False
        self._changed = threading.Condition()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fake-webhook")
        self._session = requests.Session()
        self._session.mount("http://", HTTPAdapter(pool_maxsize=workers))
        self._scheduler = threading.Thread(target=self._run_scheduler, name="fake-webhook-scheduler", daemon=True)
        self._scheduler.start()

    def schedule(self, delay: float, url: str, build: WebhookBuilder) -> None:
        with self._changed:
            self._pending += 1
            self._push(delay, url, build, attempt=1)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """True once every scheduled webhook has been delivered or has used up its attempts."""
        with self._changed:
            return self._changed.wait_for(lambda: self._pending == 0, timeout)

    def clear(self) -> None:
        """Forget pending webhooks and the delivery log."""
        with self._changed:
            self._pending -= len(self._jobs)
            self._jobs.clear()
            self.deliveries.clear()
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._session.close()

    def _push(self, delay: float, url: str, build: WebhookBuilder, attempt: int) -> None:
        heapq.heappush(self._jobs, (time.monotonic() + delay, next(self._sequence), url, build, attempt))
        self._changed.notify_all()

    def _run_scheduler(self) -> None:
        with self._changed:
            while not self._closed:
                if not self._jobs:
                    self._changed.wait()
                    continue
                wait = self._jobs[0][0] - time.monotonic()
                if wait > 0:
                    self._changed.wait(wait)
                    continue
                _, _, url, build, attempt = heapq.heappop(self._jobs)
                self._pool.submit(self._deliver, url, build, attempt)

    def _deliver(self, url: str, build: WebhookBuilder, attempt: int) -> None:
        body, headers = build(attempt)
        try:
            status: int | None = self._session.post(url, data=body, headers=headers, timeout=self.timeout).status_code
        except requests.RequestException:
            status = None
        with self._changed:
            self.deliveries.append(WebhookDelivery(url, attempt, status, body, headers))
            if (status is None or not 200 <= status < 300) and attempt < self.max_attempts and not self._closed:
                self._push(self.backoff * 2 ** (attempt - 1), url, build, attempt + 1)
            else:
                self._pending -= 1
                self._changed.notify_all()


# --- The common fake SMS provider --------------------------------------------------------------------


@dataclass
class FakeMessage:
    """An outbound message the fake accepted."""

    id: str
    account: str  # the API key / account SID that sent it
    from_number: str
    to_number: str
    text: str
    media_urls: list[str]
    webhook_url: str | None
    segments: SegmentInfo
    received_at: datetime
    extra: dict[str, Any] = field(default_factory=dict)  # provider-specific request fields


SignatureMode = Literal["valid", "bad", "missing", "stale"]


class FakeSmsProvider(LocalHttpServer):
    """A provider's messaging API: subclasses supply the wire format, this class the behaviour.

    Control API (Python, for tests): ``set_latency``, ``set_rate_limit``, ``fail_next``, ``fail_number``,
    ``block`` / ``unblock``, ``set_webhooks``, ``simulate_inbound``, ``wait_for_webhooks``, ``reset``;
    observe ``requests``, ``sent_messages`` and ``webhook_deliveries``.
    """

    keywords: OptOutKeywords
    rejections: dict[Rejection, tuple[str, str]]  # → (provider code, message; may use {to})
    delivered_status: str
    failed_status: str  # the final status of a message to a number failed with fail_number(stage="delivery")
    webhook_attempts: int = 1
    signature_modes: frozenset[str] = frozenset({"valid", "bad", "missing", "stale"})

    def __init__(self, *, seed: int = 0, inbound_webhook_url: str | None = None, hang_seconds: float = 30.0) -> None:
        self.inbound_webhook_url = inbound_webhook_url
        self.hang_seconds = hang_seconds
        self._seed = seed
        self._lock = threading.Lock()
        self.webhooks = WebhookDispatcher(max_attempts=self.webhook_attempts)
        self._set_defaults()
        super().__init__()

    def _set_defaults(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.sent_messages: list[FakeMessage] = []
        self._rng = random.Random(self._seed)
        self._latency = (0.0, 0.0)
        self._rate_limit: tuple[float, float | None] | None = None
        self._buckets: dict[str, TokenBucket] = {}
        self._failures: deque[InjectedFailure] = deque()
        self._recipient_failures: dict[str, RecipientFailure] = {}
        self.blocked: set[str] = set()
        self.webhook_delay = 0.01
        self.duplicate_webhooks = False
        self.out_of_order_webhooks = False
        self.signature_mode: SignatureMode = "valid"

    # Control API ------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to a fresh fake: no history, failures, limits, latency or pending webhooks."""
        with self._lock:
            self._set_defaults()
        self.webhooks.clear()

    def set_latency(self, fixed: float = 0.0, jitter: float = 0.0) -> None:
        """Every request waits ``fixed`` plus a seeded-random ``[0, jitter)`` seconds before it is answered."""
        self._latency = (fixed, jitter)

    def set_rate_limit(self, per_second: float | None, burst: float | None = None) -> None:
        """Token bucket per API key/account; ``None`` removes the limit."""
        with self._lock:
            self._rate_limit = None if per_second is None else (per_second, burst)
            self._buckets.clear()

    def fail_next(
        self,
        n: int = 1,
        status: int | Literal["hang", "reset"] = 500,
        *,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """The next ``n`` requests fail with ``status`` (provider error body, ``code`` or the provider's
        usual one; ``Retry-After`` if given), hang past the client's timeout, or reset the connection."""
        with self._lock:
            self._failures.extend([InjectedFailure(status, code, retry_after)] * n)

    def fail_number(
        self,
        number: str,
        code: str,
        *,
        stage: Literal["send", "delivery"] = "delivery",
        status: str | None = None,
        http_status: int = 400,
    ) -> None:
        """Messages to ``number`` fail with ``code``: refused at send, or reported failed (``status``,
        default the provider's undelivered status) in the final callback."""
        self._recipient_failures[number] = RecipientFailure(code, stage, status, http_status)

    def block(self, number: str) -> None:
        """``number`` has texted STOP: sends to it are refused as opted out until it texts START."""
        self.blocked.add(number)

    def unblock(self, number: str) -> None:
        self.blocked.discard(number)

    def set_webhooks(
        self,
        *,
        delay: float | None = None,
        duplicates: bool | None = None,
        out_of_order: bool | None = None,
        signature_mode: SignatureMode | None = None,
    ) -> None:
        """Delay between status callbacks; send each twice (same event id); send the final status before
        ``sent``; sign validly or not (``bad``, ``missing``, ``stale`` where the provider has timestamps)."""
        if delay is not None:
            self.webhook_delay = delay
        if duplicates is not None:
            self.duplicate_webhooks = duplicates
        if out_of_order is not None:
            self.out_of_order_webhooks = out_of_order
        if signature_mode is not None:
            if signature_mode not in self.signature_modes:
                raise ValueError(f"{type(self).__name__} has no {signature_mode!r} signature mode")
            self.signature_mode = signature_mode

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        return list(self.webhooks.deliveries)

    def wait_for_webhooks(self, timeout: float = 5.0) -> None:
        if not self.webhooks.wait_idle(timeout):
            raise AssertionError("the fake still has undelivered webhooks")

    def simulate_inbound(
        self, from_number: str, to_number: str, text: str, media: Sequence[tuple[str, str]] = ()
    ) -> str:
        """A member texts ``to_number``: post the provider's signed inbound webhook (``media`` as
        ``(url, content_type)`` pairs). STOP/START words also block/unblock the member, as the provider's
        opt-out engine does. Returns the provider message id."""
        if not self.inbound_webhook_url:
            raise RuntimeError("set inbound_webhook_url before simulating inbound messages")
        keyword = self.keywords.classify(text)
        if keyword == "STOP":
            self.block(from_number)
        elif keyword == "START":
            self.unblock(from_number)
        message_id = self.new_message_id(bool(media))
        build = self.inbound_webhook(
            message_id=message_id,
            from_number=from_number,
            to_number=to_number,
            text=text,
            media=media,
            keyword=keyword,
            url=self.inbound_webhook_url,
        )
        self.webhooks.schedule(0, self.inbound_webhook_url, build)
        return message_id

    def stop(self) -> None:
        self.webhooks.close()
        super().stop()

    # Request handling -------------------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> FakeResponse | _Reset:
        with self._lock:
            self.requests.append(request)
            failure = self._failures.popleft() if self._failures else None
            delay = self._latency[0] + (self._rng.uniform(0, self._latency[1]) if self._latency[1] else 0.0)
        if delay:
            self._stopping.wait(delay)
        if failure is None:
            return self._serve(request)
        if failure.kind == RESET:
            return RESET_CONNECTION
        if failure.kind == HANG:
            response = self._serve(request)  # processed, but the answer comes after the client gave up
            self._stopping.wait(self.hang_seconds)
            return response
        headers = {"Retry-After": f"{failure.retry_after:g}"} if failure.retry_after is not None else {}
        assert isinstance(failure.kind, int)
        return self.error_response(failure.kind, failure.code, "Injected failure.", headers)

    def _serve(self, request: RecordedRequest) -> FakeResponse:
        account = self.authenticate(request)
        if account is None:
            return self.error_response(401, None, "Authentication failed.")
        limited = self._rate_limited(account)
        if limited is not None:
            return limited
        return self.route(request, account)

    def _rate_limited(self, account: str) -> FakeResponse | None:
        with self._lock:
            if self._rate_limit is None:
                return None
            bucket = self._buckets.get(account)
            if bucket is None:
                bucket = self._buckets[account] = TokenBucket(*self._rate_limit)
            allowed, remaining, reset_after = bucket.take()
        if allowed:
            return None
        headers = self.rate_limit_headers(int(bucket.rate), remaining, reset_after)
        return self.error_response(429, None, "Too many requests.", headers)

    def accept(
        self,
        *,
        account: str,
        from_number: str,
        to_number: str,
        text: str,
        media_urls: list[str],
        webhook_url: str | None,
        extra: dict[str, Any] | None = None,
    ) -> FakeMessage | FakeResponse:
        """Validate a send the way every provider does; accept it (and schedule its status callbacks) or
        return the provider's error response."""
        if not to_number or not (E164.match(to_number) or SHORT_CODE.match(to_number)):
            return self.reject(Rejection.INVALID_TO, to=to_number)
        if not from_number:
            return self.reject(Rejection.MISSING_FROM, to=to_number)
        if not text and not media_urls:
            return self.reject(Rejection.NO_CONTENT, to=to_number)
        if len(media_urls) > MAX_MEDIA:
            return self.reject(Rejection.TOO_MANY_MEDIA, to=to_number)
        segments = segment_info(text)
        if self.too_long(text, segments):
            return self.reject(Rejection.TOO_LONG, to=to_number)
        if to_number in self.blocked:
            return self.reject(Rejection.OPTED_OUT, to=to_number)
        failure = self._recipient_failures.get(to_number)
        if failure is not None and failure.stage == "send":
            return self.error_response(failure.http_status, failure.code, f"Injected failure for {to_number}.")
        message = FakeMessage(
            id=self.new_message_id(bool(media_urls)),
            account=account,
            from_number=from_number,
            to_number=to_number,
            text=text,
            media_urls=media_urls,
            webhook_url=webhook_url,
            segments=segments,
            received_at=datetime.now(UTC),
            extra=extra or {},
        )
        with self._lock:
            self.sent_messages.append(message)
        if webhook_url:
            self._schedule_status_callbacks(message, failure)
        return message

    def reject(self, kind: Rejection, **details: str) -> FakeResponse:
        code, text = self.rejections[kind]
        return self.error_response(400, code, text.format(**details))

    def _schedule_status_callbacks(self, message: FakeMessage, failure: RecipientFailure | None) -> None:
        """``sent``, then the final status, ``webhook_delay`` apart; optionally swapped or doubled."""
        assert message.webhook_url
        if failure is not None:
            final = (failure.status or self.failed_status, failure.code)
        else:
            final = (self.delivered_status, None)
        steps = [("sent", None), final]
        builds = [
            self.status_webhook(
                message,
                status=status,
                error_code=code,
                occurred_at=message.received_at + timedelta(seconds=self.webhook_delay * (i + 1)),
            )
            for i, (status, code) in enumerate(steps)
        ]
        if self.out_of_order_webhooks:
            builds.reverse()
        copies = 2 if self.duplicate_webhooks else 1
        for i, build in enumerate(builds):
            for _ in range(copies):
                self.webhooks.schedule(self.webhook_delay * (i + 1), message.webhook_url, build)

    # Provider specifics ----------------------------------------------------------------------------

    @abstractmethod
    def authenticate(self, request: RecordedRequest) -> str | None:
        """The account/key the request authenticates as, or None (→ 401)."""

    @abstractmethod
    def route(self, request: RecordedRequest, account: str) -> FakeResponse:
        """Serve an authenticated, unthrottled request (404 for unknown paths)."""

    @abstractmethod
    def error_response(
        self, status: int, code: str | None, message: str, headers: dict[str, str] | None = None
    ) -> FakeResponse:
        """The provider's error body; ``code`` None means the provider's usual code for ``status``."""

    @abstractmethod
    def rate_limit_headers(self, limit: int, remaining: int, reset_after: float) -> dict[str, str]:
        """Headers a 429 from the provider's rate limiter carries."""

    @abstractmethod
    def too_long(self, text: str, segments: SegmentInfo) -> bool:
        """Whether the provider refuses ``text`` as over its size cap."""

    @abstractmethod
    def new_message_id(self, has_media: bool) -> str:
        """A fresh provider message id."""

    @abstractmethod
    def status_webhook(
        self, message: FakeMessage, *, status: str, error_code: str | None, occurred_at: datetime
    ) -> WebhookBuilder:
        """The signed status callback for ``message`` reaching ``status`` (one event id for all attempts)."""

    @abstractmethod
    def inbound_webhook(
        self,
        *,
        message_id: str,
        from_number: str,
        to_number: str,
        text: str,
        media: Sequence[tuple[str, str]],
        keyword: str | None,
        url: str,
    ) -> WebhookBuilder:
        """The signed inbound-message webhook."""
