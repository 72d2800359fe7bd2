"""One celery-beat across machines: two ``single-beat celery beat`` processes against one Redis (as the
Procfile runs them), a real worker, and a recurring message firing every two seconds. One process holds
the lock and runs beat; the other waits. SIGKILL the holder: the other takes over within the lock time.
Throughout, every firing makes exactly one message, sent once to each member.

PostgreSQL only: the beat and worker processes must see the test's committed rows."""

import sys
import tempfile
from datetime import UTC, datetime, time
from pathlib import Path

import pytest
import redis
from django.utils import timezone

from koinonia.models import BeatHeartbeat, PeriodicJobRun
from messaging.models import Message, Recipient, RecurringMessage, SenderNumber
from messaging.recurring import recurrence
from tests.messaging.support import (
    BEAT_ARGS,
    GroupProcess,
    PrivateRedis,
    Worker,
    bulk_members,
    celery_command,
    celery_env,
    grant_segments,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.pipeline]

LOCK_SECONDS = 3
LOCK_KEY = "SINGLE_BEAT_koinonia-beat-test"
MEMBERS = 3
EVERY_SECONDS = 2


class SingleBeat(GroupProcess):
    """``single-beat celery -A koinonia beat ...`` in its own session, so SIGKILL takes its beat too."""

    def command(self) -> list[str]:
        return [str(Path(sys.executable).parent / "single-beat"), *celery_command(*BEAT_ARGS, "--loglevel", "INFO")]

    def children(self) -> list[int]:
        """The beat process single-beat spawned, if it holds the lock."""
        try:
            return [int(pid) for pid in Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()]
        except OSError:
            return []


@pytest.fixture
def beat_world(postgres_only, world):
    world.church.quiet_hours_start = world.church.quiet_hours_end = time(0, 0)
    world.church.save()
    SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")
    grant_segments(world, 5000)
    bulk_members(world.church, MEMBERS)
    private_redis = PrivateRedis().start()
    log_dir = Path(tempfile.mkdtemp(prefix="koinonia-beat-"))
    env = celery_env(
        redis_url=private_redis.url,
        RECURRING_TICK_SECONDS="1",
        SINGLE_BEAT_REDIS_SERVER=private_redis.url,
        SINGLE_BEAT_IDENTIFIER="koinonia-beat-test",
        SINGLE_BEAT_LOCK_TIME=str(LOCK_SECONDS),
        SINGLE_BEAT_HEARTBEAT_INTERVAL="1",
        SINGLE_BEAT_LOG_LEVEL="info",
    )
    processes: list = []
    yield world, env, private_redis, log_dir, processes
    for process in processes:
        process.stop()
    private_redis.stop()


def _every_two_seconds(world) -> RecurringMessage:
    """Built directly: the service refuses rules more frequent than once a minute, the scheduler doesn't."""
    now = timezone.now()
    recurring = RecurringMessage(
        church=world.church,
        created_by=world.staff,
        body="Tick {first_name}",
        audience={"all": True},
        frequency="rrule",
        rrule=f"FREQ=SECONDLY;INTERVAL={EVERY_SECONDS}",
        time_of_day=time(0, 0),
        timezone="UTC",
        start_date=now.date(),
    )
    recurring.next_run_at = recurrence.next_run(recurring.schedule, after=now)
    recurring.save()
    return recurring


def _drained(private_redis, recurring) -> bool:
    """No task queued or in a worker's hands (kombu's Redis transport keeps each queue as a list and
    delivered-but-unacknowledged tasks in the ``unacked`` hash; tasks ack late, after their work and
    the tasks it enqueued), and every firing finished sending."""
    client = redis.Redis.from_url(private_redis.url)
    queued = any(client.llen(key) for key in client.scan_iter() if client.type(key) == b"list")
    if queued or client.hlen("unacked"):
        return False
    return not Message.objects.filter(recurring=recurring).exclude(status__in=["sent", "failed", "canceled"]).exists()


def _holder_pid(private_redis) -> int | None:
    value = redis.Redis.from_url(private_redis.url).get(LOCK_KEY)
    return int(value.split(b":")[2]) if value else None


def test_two_beats_one_lock_takeover_after_sigkill_and_one_message_per_firing(beat_world):
    world, env, private_redis, log_dir, processes = beat_world
    recurring = _every_two_seconds(world)
    processes.append(Worker(env, concurrency=2, log_path=log_dir / "worker.log").start())
    first = SingleBeat(env, log_path=log_dir / "beat-a.log").start()
    second = SingleBeat(env, log_path=log_dir / "beat-b.log").start()
    processes += [first, second]

    def firings() -> int:
        return Message.objects.filter(recurring=recurring).count()

    wait_until(lambda: firings() >= 3, timeout=60, interval=0.5, what=f"three firings (logs in {log_dir})")

    # Exactly one beat runs: the lock holder's child, and it is the only instance that ever ticked.
    holder_pid = _holder_pid(private_redis)
    holder, waiter = (first, second) if first.children() == [holder_pid] else (second, first)
    assert holder.children() == [holder_pid] and waiter.children() == []
    assert [b.instance.rsplit(":", 1)[1] for b in BeatHeartbeat.objects.all()] == [str(holder_pid)]

    holder.kill()
    killed_at = datetime.now(UTC)
    before = firings()

    # The waiting process takes the lock once it expires and starts its own beat.
    wait_until(lambda: waiter.children() != [], timeout=LOCK_SECONDS * 4, interval=0.2, what="the takeover")
    took_over_after = (datetime.now(UTC) - killed_at).total_seconds()
    assert took_over_after <= LOCK_SECONDS * 2 + 1, took_over_after
    new_pid = waiter.children()[0]
    wait_until(lambda: _holder_pid(private_redis) == new_pid, timeout=5, what="the lock to name the new beat")
    wait_until(lambda: firings() >= before + 3, timeout=60, interval=0.5, what="firings after the takeover")

    instances = {b.instance.rsplit(":", 1)[1]: b for b in BeatHeartbeat.objects.all()}
    assert set(instances) == {str(holder_pid), str(new_pid)}
    assert instances[str(new_pid)].started_at >= killed_at  # nobody but the holder ever ticked before the kill
    runs = PeriodicJobRun.objects.filter(job="messaging.recurring.tasks.recurring_tick")
    assert {r.scheduled_by.rsplit(":", 1)[1] for r in runs} == {str(holder_pid), str(new_pid)}
    assert not runs.filter(scheduled_by__endswith=f":{new_pid}", started_at__lt=killed_at).exists()

    # Stop the beats (no new firings), then let the worker finish what they started before stopping it:
    # a firing made just before the stop is a Message whose fan-out and sends are still queued, and
    # counting then (after a fixed pause) found it without its recipients on a loaded machine.
    first.stop()
    second.stop()
    wait_until(lambda: _drained(private_redis, recurring), timeout=60, interval=0.5, what="the worker to drain")
    for process in processes:
        process.stop()
    # One message per firing, each at its own send time on the schedule, each member texted once per message.
    messages = list(Message.objects.filter(recurring=recurring).order_by("id"))
    instants = [datetime.fromisoformat(m.idempotency_key.split(":", 2)[2]) for m in messages]
    assert len(set(instants)) == len(instants) == len(messages)
    assert instants == sorted(instants) and all(at.second % EVERY_SECONDS == 0 for at in instants)
    recipients = Recipient.objects.filter(message__recurring=recurring)
    assert recipients.count() == len(messages) * MEMBERS
    assert recipients.values("message_id", "member_id").distinct().count() == len(messages) * MEMBERS
    assert sum(m.segments_sent for m in messages if m.status == "sent") == MEMBERS * sum(
        m.status == "sent" for m in messages
    )
    recurring.refresh_from_db()
    assert recurring.fired_count == len(messages)


def test_ticks_racing_each_other_make_one_message(postgres_only, world):
    """Two schedulers ticking at the same moment (each its own connection): SKIP LOCKED lets one fire;
    the other skips the locked row or finds the firing key taken."""
    import threading

    from django.db import connection

    from messaging.recurring import services as recurring_services

    world.church.quiet_hours_start = world.church.quiet_hours_end = time(0, 0)
    world.church.save()
    SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")
    bulk_members(world.church, MEMBERS)
    recurring = _every_two_seconds(world)
    due = recurring.next_run_at
    barrier = threading.Barrier(4)
    outcomes = []

    def tick():
        try:
            barrier.wait()
            outcomes.append(recurring_services.recurring_fire_due(now=due))
        finally:
            connection.close()

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(o["fired"] for o in outcomes) == 1 and sum(o["busy"] for o in outcomes) == 3
    assert Message.objects.filter(recurring=recurring).count() == 1
