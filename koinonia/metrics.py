"""Prometheus metrics: what the processes count, and the ``/metrics`` page that shows them.

Processes count into prometheus-client's metrics below. Under gunicorn (several processes) and Celery
prefork (pool children) every process must write to shared files: set ``PROMETHEUS_MULTIPROC_DIR`` to an
empty directory, the same for every process of one machine (prometheus-client reads it at import). The
page then adds up the files (``MultiProcessCollector``); without it, it shows this process only (fine for
one process, as in tests and ``make run``).

Values that are state, not counts (queue depths, the oldest waiting callback or recipient), are read at
scrape time by the functions apps register with ``register_gauge`` (the foundation imports no app).

The page is off unless ``METRICS_ENABLED``; with ``METRICS_TOKEN`` it also wants
``Authorization: Bearer <token>`` (compared in constant time). It is not a church page: no session, no
church data, only aggregate numbers.
"""

import hmac
import logging
import os
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import Http404, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

# Buckets in seconds: web requests and task runs take milliseconds to a minute; waits in a queue and
# ages can reach minutes at a peak.
_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_SLOW = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)

REQUEST_LATENCY = Histogram(
    "koinonia_http_request_duration_seconds", "Web request latency by view name.", ["view", "method"], buckets=_FAST
)
TASK_QUEUE_WAIT = Histogram(
    "koinonia_task_queue_wait_seconds",
    "Time from a task being queued to a worker starting it, by queue.",
    ["queue"],
    buckets=_SLOW,
)
TASK_RUNTIME = Histogram(
    "koinonia_task_runtime_seconds", "Task run time by queue and task.", ["queue", "task"], buckets=_FAST
)
SENDS = Counter(
    "koinonia_sms_sends_total",
    "Texts handed (or not) to the provider, by provider, kind (broadcast / conversation) and outcome.",
    ["provider", "kind", "outcome"],
)
PROVIDER_ERRORS = Counter(
    "koinonia_sms_provider_errors_total",
    "Provider error answers by provider and HTTP status (429: rate limited).",
    ["provider", "status"],
)

_GAUGES: dict[str, tuple[str, Callable[[], Iterable[tuple[dict[str, str], float]]]]] = {}


def register_gauge(name: str, documentation: str, read: Callable[[], Iterable[tuple[dict[str, str], float]]]):
    """``read()`` yields (labels, value) pairs at scrape time. Registered once per name (apps' ready())."""
    _GAUGES[name] = (documentation, read)


def count_sends(*, provider: str, kind: str, outcomes: Iterable[str]) -> None:
    try:
        for outcome in outcomes:
            SENDS.labels(provider, kind, outcome).inc()
    except Exception:  # metrics never break a send
        logger.debug("metrics: could not count sends", exc_info=True)


def count_provider_error(*, provider: str, status: int) -> None:
    try:
        PROVIDER_ERRORS.labels(provider, str(status)).inc()
    except Exception:
        logger.debug("metrics: could not count a provider error", exc_info=True)


def _queue_depths():
    from koinonia.jobs.monitor import queue_depths

    for queue, depth in queue_depths().items():
        if depth is not None:
            yield {"queue": queue}, depth


register_gauge(
    "koinonia_celery_queue_depth", "Tasks waiting in each Celery queue (unacked: taken, not done).", _queue_depths
)


class _ScrapeTimeGauges:
    def collect(self):
        for name, (documentation, read) in sorted(_GAUGES.items()):
            labels_seen: list[str] | None = None
            family = None
            try:
                samples = list(read())
            except Exception:  # one broken reading must not hide the others
                logger.warning("metrics: could not read %s", name, exc_info=True)
                continue
            for labels, value in samples:
                if family is None:
                    labels_seen = sorted(labels)
                    family = GaugeMetricFamily(name, documentation, labels=labels_seen)
                family.add_metric([str(labels[k]) for k in labels_seen], float(value))
            if family is not None:
                yield family


def registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(reg)
    else:
        from prometheus_client import REGISTRY

        for collector in list(REGISTRY._collector_to_names):  # this process's own metrics
            reg.register(collector)
    reg.register(_ScrapeTimeGauges())
    return reg


def metrics_view(request):
    """``/metrics``: 404 unless METRICS_ENABLED; 401 without the bearer token when METRICS_TOKEN is set."""
    if not getattr(settings, "METRICS_ENABLED", False):
        raise Http404
    token = getattr(settings, "METRICS_TOKEN", "")
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = "Bearer"
            return response
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


class RequestLatencyMiddleware:
    """Times every request by its resolved view name (bounded cardinality: no paths, no ids)."""

    def __init__(self, get_response):
        if not getattr(settings, "METRICS_ENABLED", False):
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or match._func_path) if match is not None else "unresolved"
        try:
            REQUEST_LATENCY.labels(view, request.method).observe(time.perf_counter() - started)
        except Exception:
            logger.debug("metrics: could not time a request", exc_info=True)
        return response


# --- Celery: queue wait and run time per queue -----------------------------------------------------

SENT_AT_HEADER = "koinonia_sent_at"


def stamp_task_sent(headers: dict | None) -> None:
    if headers is not None:
        headers.setdefault(SENT_AT_HEADER, time.time())


def observe_task_start(task) -> None:
    try:
        request = task.request
        queue = (getattr(request, "delivery_info", None) or {}).get("routing_key") or "unknown"
        request._koinonia_started = time.perf_counter()
        request._koinonia_queue = queue
        sent_at = getattr(request, SENT_AT_HEADER, None) or (request.headers or {}).get(SENT_AT_HEADER)
        if sent_at:
            eta = getattr(request, "eta", None)
            # A countdown task waited on purpose: measure from when it was due.
            due = max(float(sent_at), _timestamp(eta)) if eta else float(sent_at)
            TASK_QUEUE_WAIT.labels(queue).observe(max(0.0, time.time() - due))
    except Exception:
        logger.debug("metrics: could not observe a task start", exc_info=True)


def observe_task_end(task) -> None:
    try:
        request = task.request
        started = getattr(request, "_koinonia_started", None)
        if started is not None:
            TASK_RUNTIME.labels(getattr(request, "_koinonia_queue", "unknown"), task.name).observe(
                time.perf_counter() - started
            )
    except Exception:
        logger.debug("metrics: could not observe a task end", exc_info=True)


def _timestamp(eta) -> float:
    from datetime import datetime

    if isinstance(eta, str):
        eta = datetime.fromisoformat(eta)
    return eta.timestamp() if eta is not None else 0.0


def mark_process_dead(pid: int) -> None:
    """A gunicorn worker or Celery pool child exited: fold its live gauges away (multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
