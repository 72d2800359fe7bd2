import json
import logging
import os
import subprocess
import sys

import pytest

from koinonia.logging import RequestIdFilter
from koinonia.settings.base import BASE_DIR

pytestmark = pytest.mark.django_db


def test_health_is_up(client):
    response = client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_ready_checks_database_cache_and_broker(client):
    response = client.get("/health/ready")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"] == {"database": "ok", "cache": "ok", "broker": "ok"}


DEAD_REDIS = "redis://127.0.0.1:1/0"


def test_ready_reports_down_redis_as_503(client, monkeypatch, settings):
    from django_redis.cache import RedisCache

    from koinonia import health
    from koinonia.celery import app

    dead_cache = RedisCache(DEAD_REDIS, {"OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5}})
    monkeypatch.setattr(health, "cache", dead_cache)
    monkeypatch.setitem(app.conf, "CELERY_BROKER_URL", DEAD_REDIS)  # celery 5.6 reads the namespaced key first
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert set(body["failed"]) == {"cache", "broker"}


def test_request_id_is_returned_and_logged(client, caplog):
    response = client.get("/health", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    generated = client.get("/health")["X-Request-ID"]
    assert len(generated) == 32
    evil = client.get("/health", HTTP_X_REQUEST_ID="bad id\nwith newline")["X-Request-ID"]
    assert "\n" not in evil and evil != "bad id\nwith newline"


def test_log_lines_carry_the_request_id(client):
    records = []

    class Capture(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Capture()
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("koinonia.health")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        from koinonia import health

        original = health.CHECKS["cache"]
        health.CHECKS["cache"] = lambda: (_ for _ in ()).throw(RuntimeError("boom"))
        try:
            client.get("/health/ready", HTTP_X_REQUEST_ID="trace-42")
        finally:
            health.CHECKS["cache"] = original
    finally:
        logger.removeHandler(handler)
    assert records and all(r.request_id == "trace-42" for r in records)


def test_json_log_formatter_emits_request_id():
    from pythonjsonlogger.json import JsonFormatter

    from koinonia.logging import request_id_var

    formatter = JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    token = request_id_var.set("rid-1")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    line = json.loads(formatter.format(record))
    assert line["request_id"] == "rid-1" and line["message"] == "hello"


PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "koinonia.settings.production",
    "SECRET_KEY": "p" * 30 + "roduction-secret-key-that-is-long-and-random-9f8e7d6c",
    "FIELD_ENCRYPTION_KEYS": "aW5zZWN1cmUtdGVzdC1rZXktMDAwMDAwMDAwMDAwMDA=",
    "PHONE_HASH_KEY": "test-phone-hash-key",
    "ALLOWED_HOSTS": "app.koinonia.example",
    "SMS_PROVIDER": "telnyx",
    "DATABASE_URL": "sqlite:////tmp/koinonia-deploy-check.sqlite3",
}


def _manage(env_overrides, *args):
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_under_production_settings():
    result = _manage(PRODUCTION_ENV, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "PHONE_HASH_KEY"])
def test_production_refuses_to_start_without_secrets(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = _manage(env, "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr


def test_security_headers(client):
    response = client.get("/login/")
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
