"""Liveness (``/health``) and readiness (``/health/ready``: database, cache, broker)."""

import logging
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from koinonia import db_router

logger = logging.getLogger(__name__)


def _check_database() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_cache() -> None:
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "ok", timeout=5)
    if cache.get(key) != "ok":
        raise RuntimeError("cache did not return what was stored")
    cache.delete(key)


def _check_broker() -> None:
    from koinonia.celery import app

    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)


def _replica() -> dict:
    """The replica's lag, reported but never failing readiness: without it the primary serves every read."""
    if "replica" not in settings.DATABASES:
        return {"status": "none"}
    lag = db_router.replica_lag_seconds()
    if lag is None:
        return {"status": "down", "lag_seconds": None}
    lagging = lag > settings.DATABASE_REPLICA_MAX_LAG_SECONDS
    return {"status": "lagging" if lagging else "ok", "lag_seconds": None if lag == float("inf") else round(lag, 3)}


CHECKS = {"database": _check_database, "cache": _check_cache, "broker": _check_broker}


@never_cache
@require_GET
def health(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def ready(request):
    results, failed = {}, []
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # any failure means "not ready"; say which and why
            logger.warning("readiness check failed", extra={"check": name, "error": str(exc)})
            results[name] = f"error: {exc.__class__.__name__}"
            failed.append(name)
    status = "ok" if not failed else "unavailable"
    body = {"status": status, "checks": results, "failed": failed, "replica": _replica()}
    return JsonResponse(body, status=503 if failed else 200)
