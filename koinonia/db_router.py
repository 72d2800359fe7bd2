"""Primary/replica routing (docs/scaling.md, "Read replicas").

Everything reads from the primary (``default``) unless a request has opted in: ``ReplicaReadsMiddleware``
sends a request's reads to ``replica`` only when all of these hold —

- a replica is configured (``DATABASE_REPLICA_URL``) and ``DATABASE_REPLICA_READS`` is on;
- the request is a GET/HEAD to a page or endpoint that tolerates seconds of lag: any API GET, or a URL
  named in ``DATABASE_REPLICA_VIEWS`` (list pages, dashboard, analytics, exports);
- the same session or API key has not written in the last ``DATABASE_REPLICA_PIN_SECONDS`` (a pin kept
  in the cache), so POST → redirect → GET and API create → API list read what was just written;
- the replica answers and lags less than ``DATABASE_REPLICA_MAX_LAG_SECONDS`` (checked at most every
  ``DATABASE_REPLICA_CHECK_SECONDS`` per process).

Even then, sign-in state (sessions, users, memberships, API keys, lockouts) is always read from the primary,
as is anything inside a transaction on the primary, ``select_for_update`` (a write query), and everything
after the request's first write. Celery tasks, commands and shells never opted in, so they use the primary;
an eager task run inside a request is put back on the primary for its duration (``koinonia/celery.py``).
Writes always go to ``default``.
"""

import contextlib
import hashlib
import logging
import threading
import time
from contextvars import ContextVar

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.urls import Resolver404, resolve

logger = logging.getLogger(__name__)

PRIMARY, REPLICA = "default", "replica"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

# Models whose reads must never lag: who is signed in, with what role, with which key.
PRIMARY_ONLY_APPS = frozenset({"sessions", "auth", "axes", "django_celery_beat"})
PRIMARY_ONLY_MODELS = frozenset(
    {
        "churches.user",
        "churches.staffmembership",
        "churches.apikey",
        "churches.invitation",
        "churches.idempotencyrecord",
    }
)

_read_target: ContextVar[str] = ContextVar("db_read_target", default=PRIMARY)
_wrote: ContextVar[bool] = ContextVar("db_wrote", default=False)


def use_primary() -> object:
    """Send this context's reads to the primary; returns a token for :func:`restore`."""
    return _read_target.set(PRIMARY)


def restore(token) -> None:
    _read_target.reset(token)


def reads_from() -> str:
    return _read_target.get()


class PrimaryReplicaRouter:
    def db_for_read(self, model, **hints):
        if _read_target.get() != REPLICA or _primary_only(model):
            return PRIMARY
        if connections[PRIMARY].in_atomic_block:
            return PRIMARY  # a transaction reads its own writes
        return REPLICA

    def db_for_write(self, model, **hints):
        # From the first write on, this request reads from the primary and pins its session/key.
        _wrote.set(True)
        _read_target.set(PRIMARY)
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints):
        return True  # both aliases hold the same data

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == PRIMARY


def _primary_only(model) -> bool:
    meta = model._meta
    return meta.app_label in PRIMARY_ONLY_APPS or meta.label_lower in PRIMARY_ONLY_MODELS


# --- Replica health: reachable, and how far behind ------------------------------------------------------

_LAG_SQL = """
SELECT CASE
  WHEN NOT pg_is_in_recovery() THEN 0
  WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
  ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())
END
"""
_state_lock = threading.Lock()
_state: dict = {"checked_at": float("-inf"), "lag": 0.0}  # "was fine": the first failure is logged


def replica_lag_seconds() -> float | None:
    """How stale the replica's data may be, in seconds (0 when it has replayed everything it received);
    None when it can't be reached. Received-but-unapplied WAL counts from the last applied commit, which
    overstates the lag (it is the safe side)."""
    try:
        connection = connections[REPLICA]
        if connection.vendor != "postgresql":
            return 0.0
        with connection.cursor() as cursor:
            cursor.execute(_LAG_SQL)
            (lag,) = cursor.fetchone()
    except Exception:  # down, refused, or not allowed here: the primary serves
        with contextlib.suppress(Exception):
            connections[REPLICA].close_if_unusable_or_obsolete()
        return None
    return float("inf") if lag is None else max(float(lag), 0.0)


def replica_usable() -> bool:
    """Up and within the lag threshold, as last checked (at most every DATABASE_REPLICA_CHECK_SECONDS)."""
    now = time.monotonic()
    with _state_lock:
        fresh = now - _state["checked_at"] < settings.DATABASE_REPLICA_CHECK_SECONDS
        lag = _state["lag"]
    limit = settings.DATABASE_REPLICA_MAX_LAG_SECONDS
    if not fresh:
        was = _state["lag"]
        lag = replica_lag_seconds()
        with _state_lock:
            _state.update(checked_at=now, lag=lag)
        if (lag is None or lag > limit) and not (was is None or was > limit):  # once per outage, not per check
            logger.warning("replica skipped: reads use the primary", extra={"replica_lag_seconds": lag})
    return lag is not None and lag <= limit


def forget_replica_state() -> None:
    """Check the replica afresh on the next request (tests, and after a failover)."""
    with _state_lock:
        _state.update(checked_at=float("-inf"), lag=0.0)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES and settings.DATABASE_REPLICA_READS


# --- Read-your-writes: a pin per session / API key, in the cache ---------------------------------------


def _identities(request, response=None) -> list[str]:
    """Who is asking, before any session or auth middleware has read anything: the session cookie
    (and a new one the response sets, e.g. at sign-in) and the API key's prefix."""
    found = []
    cookie_name = settings.SESSION_COOKIE_NAME
    if session_key := request.COOKIES.get(cookie_name):
        found.append(f"session:{session_key}")
    if response is not None and cookie_name in response.cookies and response.cookies[cookie_name].value:
        found.append(f"session:{response.cookies[cookie_name].value}")
    scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "bearer" and credentials:
        found.append(f"key:{credentials.strip()}")  # hashed below, like every identity
    return [f"dbpin:{hashlib.sha256(each.encode()).hexdigest()[:40]}" for each in found]


def _pinned(keys: list[str]) -> bool:
    if not keys:
        return False
    try:
        return bool(cache.get_many(keys))
    except Exception:  # no cache, no proof the replica has our writes: read the primary
        return True


def pin(keys: list[str]) -> None:
    if not keys:
        return
    try:
        cache.set_many(dict.fromkeys(keys, 1), timeout=settings.DATABASE_REPLICA_PIN_SECONDS)
    except Exception:
        logger.warning("could not pin to the primary", exc_info=True)


def tolerates_lag(request) -> bool:
    if request.method not in SAFE_METHODS:
        return False
    if request.path_info.startswith("/api/"):
        return True
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return False
    return match.view_name in settings.DATABASE_REPLICA_VIEWS


def _read_on_replica(content):
    """A streamed body (an export) is produced after the middleware has returned: each chunk is read with
    the replica chosen for the request, without leaving the choice set between chunks."""
    iterator = iter(content)
    while True:
        token = _read_target.set(REPLICA)
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        finally:
            _read_target.reset(token)
        yield chunk


class ReplicaReadsMiddleware:
    """Decides where a request reads (see the module docstring) and pins the session/API key to the primary
    after a write. Placed before the session and auth middleware, so their reads already know."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not replica_configured():
            return self.get_response(request)
        keys = _identities(request)
        on_replica = tolerates_lag(request) and not _pinned(keys) and replica_usable()
        request.db_reads_from = REPLICA if on_replica else PRIMARY
        target_token = _read_target.set(request.db_reads_from)
        wrote_token = _wrote.set(False)
        try:
            response = self.get_response(request)
            wrote = _wrote.get() or request.method not in SAFE_METHODS
        finally:
            _read_target.reset(target_token)
            _wrote.reset(wrote_token)
        if wrote:
            pin(_identities(request, response))
        elif on_replica and response.streaming:
            response.streaming_content = _read_on_replica(response.streaming_content)
        return response
