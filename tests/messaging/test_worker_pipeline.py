"""The pipeline with real processes: a Celery worker (killed mid-send, in one test), a Redis of the
test's own (stopped mid-send, in another), the fake Telnyx, and our webhooks on a live server. The
test itself plays celery-beat by running the sweeper every second (test_faults.py runs the real beat).

PostgreSQL only: the worker is another process and must see the test's committed rows."""

import json
import os
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from koinonia.celery import app as celery_app
from messaging.broadcasts import services, tasks
from messaging.models import Message, Recipient, SenderNumber
from tests.messaging.support import (
    PrivateRedis,
    Worker,
    bulk_members,
    grant_segments,
    phone_for,
    point_celery_at,
    process_env,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.pipeline]

LEASE_SECONDS = 10  # production: 30; short so a killed worker's rows come back fast, long enough for a busy CI box


@pytest.fixture
def private_redis(postgres_only):
    redis = PrivateRedis().start()
    yield redis
    redis.stop()


@pytest.fixture
def pipeline(private_redis, telnyx, live_server, settings, world):
    """Wire this process and the workers to the private Redis, the fake and the live server."""
    world.church.quiet_hours_start = world.church.quiet_hours_end
    world.church.save()
    SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="telnyx")
    grant_segments(world, 5000)
    settings.PUBLIC_BASE_URL = live_server.url
    settings.REDIS_URL = private_redis.url
    settings.SEND_LEASE_SECONDS = LEASE_SECONDS
    settings.SWEEP_GRACE_SECONDS = 1
    previous = point_celery_at(private_redis.url, eager=False)
    log_dir = Path(tempfile.mkdtemp(prefix="koinonia-workers-"))
    env = process_env(
        redis_url=private_redis.url,
        telnyx=telnyx,
        public_base_url=live_server.url,
        SEND_LEASE_SECONDS=str(LEASE_SECONDS),
        SEND_RETRY_BASE_SECONDS="0.5",
        SEND_BATCH_SIZE="50",
        SEND_CONCURRENCY="8",
        SEND_TASK_TIME_BUDGET="5",
    )
    workers: list[Worker] = []

    def start_worker(concurrency=2):
        worker = Worker(env, concurrency=concurrency, log_path=log_dir / f"worker{len(workers)}.log").start()
        workers.append(worker)
        return worker

    yield world, telnyx, start_worker
    for worker in workers:
        worker.stop()
    point_celery_at(previous[0], eager=previous[1])


def _beat():
    """What celery-beat does every minute, compressed: the sweeper (tolerating a broker outage)."""
    try:
        tasks.sweep()
    except Exception:  # Redis may be down on purpose
        celery_app._pool = None
        celery_app.amqp._producer_pool = None


def _broadcast(world, capture) -> Message:
    with capture(execute=True):  # the worker gets prepare_message after commit
        return services.message_send(
            church=world.church, author=world.staff, body="Hi {first_name}", audience={"all": True}
        )


def _sent_numbers(fake) -> list[str]:
    return [json.loads(r.body)["to"] for r in fake.requests if r.path.endswith("/messages")]


def _wait_for_delivery(message, count, timeout):
    def delivered():
        message.refresh_from_db()
        return message.delivered_count == count and message.status == "sent"

    wait_until(delivered, timeout=timeout, interval=1.0, tick=_beat, what=f"{count} deliveries")


def test_two_thousand_member_broadcast_is_delivered_with_exact_counts(pipeline, django_capture_on_commit_callbacks):
    world, telnyx, start_worker = pipeline
    bulk_members(world.church, 2000)
    start_worker()
    message = _broadcast(world, django_capture_on_commit_callbacks)
    _wait_for_delivery(message, 2000, timeout=420)
    assert message.counts == {"recipients": 2000, "queued": 0, "sent": 0, "delivered": 2000, "failed": 0, "skipped": 0}
    assert message.segments_sent == 2000
    sent = _sent_numbers(telnyx)
    assert len(sent) == len(set(sent)) == 2000


def test_a_worker_killed_mid_send_loses_nothing(pipeline, django_capture_on_commit_callbacks):
    world, telnyx, start_worker = pipeline
    bulk_members(world.church, 600)
    telnyx.set_latency(0.02)
    first = start_worker(concurrency=1)
    message = _broadcast(world, django_capture_on_commit_callbacks)
    wait_until(lambda: len(telnyx.requests) >= 150, timeout=60, what="the first worker to be mid-send")
    first.kill()
    # in flight + one unwritten group of results, for each of the worker's two processes
    in_flight_bound = 2 * (int(os.environ.get("SEND_CONCURRENCY", 8)) + django_settings.SEND_FLUSH_SIZE)
    start_worker()
    _wait_for_delivery(message, 600, timeout=300)
    sent = _sent_numbers(telnyx)
    assert set(sent) == {phone_for(n) for n in range(600)}
    assert len(sent) - len(set(sent)) <= in_flight_bound
    assert message.counts["recipients"] == 600 and message.counts["delivered"] == 600
    assert not Recipient.objects.filter(message=message).exclude(status="delivered").exists()


def test_redis_stopped_mid_send_resumes_when_it_returns(pipeline, private_redis, django_capture_on_commit_callbacks):
    world, telnyx, start_worker = pipeline
    # Enough texts, slowly enough answered, that the outage lands mid-send even on a busy machine (at 50 ms
    # a text and 16 in flight the send needs at least 4 s; the outage starts after 80).
    count = 1200
    bulk_members(world.church, count)
    telnyx.set_latency(0.05)
    start_worker()
    message = _broadcast(world, django_capture_on_commit_callbacks)
    wait_until(lambda: len(telnyx.requests) >= 80, timeout=60, what="sending to start")
    private_redis.stop()  # broker, rate limiter and queued tasks all gone (this Redis keeps nothing)
    stalled_at = len(telnyx.requests)
    time.sleep(2)  # sends hit a dead rate limiter and broker meanwhile
    private_redis.start()
    _wait_for_delivery(message, count, timeout=300)
    sent = _sent_numbers(telnyx)
    assert set(sent) == {phone_for(n) for n in range(count)}
    assert len(sent) - len(set(sent)) <= 2 * (8 + django_settings.SEND_FLUSH_SIZE)
    assert stalled_at < count
