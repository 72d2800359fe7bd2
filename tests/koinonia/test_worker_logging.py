"""A real Celery worker writes the app's JSON log lines, and a task queued during a request logs with
that request's id: the id travels in the task message's headers (``before_task_publish``) and is
restored in the worker (``task_prerun``), whose logging is Django's LOGGING, not Celery's plain text.

PostgreSQL only: the worker is another process and must see the test's committed rows."""

import json
from datetime import time

import pytest
from rest_framework.test import APIClient

from churches.models import Role
from messaging.models import Message, SenderNumber
from tests.messaging.support import (
    PrivateRedis,
    Worker,
    bulk_members,
    celery_env,
    grant_segments,
    point_celery_at,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.pipeline]

REQUEST_ID = "worker-logging-rid-7f3a"


@pytest.fixture
def broker(postgres_only, settings):
    """This process publishes to, and the worker consumes from, a Redis of the test's own."""
    private_redis = PrivateRedis().start()
    # First, while Celery's settings are still the suite's: point_celery_at returns what it replaces, and
    # Celery reads the Django settings lazily, so changing them before would make "previous" ours.
    previous = point_celery_at(private_redis.url, eager=False)
    settings.CELERY_BROKER_URL = private_redis.url
    settings.CELERY_TASK_ALWAYS_EAGER = False
    yield private_redis
    point_celery_at(previous[0], eager=previous[1])
    private_redis.stop()


def _json_lines(path) -> list[dict]:
    records = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    return records


def test_a_task_queued_by_a_request_logs_json_with_the_request_id(broker, world, settings, tmp_path):
    world.church.quiet_hours_start = world.church.quiet_hours_end = time(0, 0)
    world.church.save()
    SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")
    grant_segments(world, 100)
    bulk_members(world.church, 3)
    settings.REDIS_URL = broker.url
    log_path = tmp_path / "worker.log"
    worker = Worker(
        celery_env(redis_url=broker.url, SMS_PROVIDER="console"),
        concurrency=1,
        log_path=log_path,
    ).start()
    try:
        client: APIClient = world.api_client(Role.STAFF)
        response = client.post(
            "/api/v1/messages",
            {"body": "Hello {first_name}", "audience": {"all": True}},
            format="json",
            HTTP_X_REQUEST_ID=REQUEST_ID,
        )
        assert response.status_code == 201, response.content
        assert response["X-Request-ID"] == REQUEST_ID
        message = Message.objects.get(pk=response.json()["id"])

        def prepared_line() -> dict | None:
            for record in _json_lines(log_path):
                if (
                    record.get("request_id") == REQUEST_ID
                    and "messaging.broadcasts.tasks.prepare_message" in record["message"]
                ):
                    return record
            return None

        wait_until(lambda: prepared_line() is not None, timeout=60, what=f"the worker's line (log: {log_path})")
        record = prepared_line()
        assert record["logger"].startswith("celery") and record["level"] == "INFO"
        assert {"time", "level", "logger", "message", "request_id"} <= set(record)

        # The message the request queued was worked on (the id is not just echoed), and the tasks it
        # queued in turn (send, on the worker itself) carry the same id.
        wait_until(lambda: Message.objects.get(pk=message.pk).status == "sent", timeout=60, what="the send")
        wait_until(
            lambda: any(
                r.get("request_id") == REQUEST_ID and "messaging.broadcasts.tasks.send_message" in r["message"]
                for r in _json_lines(log_path)
            ),
            timeout=30,
            what="send_message's line with the request id",
        )
        # Celery's plain-text format ("[2024-.. INFO/MainProcess] ...") never appears: every line is JSON.
        stray = [line for line in log_path.read_text().splitlines() if line.startswith("[")]
        assert not stray, stray[:5]
    finally:
        worker.stop()
