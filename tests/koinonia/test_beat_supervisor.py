"""The beat supervisor (``python -m koinonia.beat_supervisor``, the Procfile's ``beat``) against a Redis of
the test's own: the beat runs while its single-beat holds the lock; when Redis goes away the beat goes
too (single-beat alone would leave it running, holding nothing); when Redis comes back a beat comes back
and holds the lock; SIGTERM stops everything.

PostgreSQL only: celery beat runs the DatabaseScheduler and must see the test's committed rows."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from koinonia.models import BeatHeartbeat
from tests.messaging.support import BEAT_ARGS, GroupProcess, PrivateRedis, celery_command, celery_env, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.pipeline]

LOCK_SECONDS = 3
IDENTIFIER = "koinonia-beat-supervised"


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def _descendants(root: int) -> list[int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":  # a zombie is dead; only its parent's wait is missing
            parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


class Supervised(GroupProcess):
    def command(self) -> list[str]:
        return [sys.executable, "-m", "koinonia.beat_supervisor", *celery_command(*BEAT_ARGS, "--loglevel", "INFO")]

    def beats(self) -> list[int]:
        """celery beat processes under the supervisor (single-beat's child, or an orphan)."""
        return [pid for pid in _descendants(self.process.pid) if _cmdline(pid)[1:3] == ["-m", "celery"]]

    def stop(self):
        # SIGTERM to the supervisor alone, not its group: that it stops its children is what is under test.
        leftovers = _descendants(self.process.pid) if self.process.poll() is None else []
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for pid in leftovers:  # only if the supervisor failed at its job: never leave a beat behind
            if _cmdline(pid):
                os.kill(pid, signal.SIGKILL)


def _holder(private_redis) -> int | None:
    try:
        value = redis.Redis.from_url(private_redis.url, socket_timeout=1).get(f"SINGLE_BEAT_{IDENTIFIER}")
    except redis.RedisError:
        return None
    return int(value.split(b":")[2]) if value else None


@pytest.fixture
def supervised(postgres_only, tmp_path):
    private_redis = PrivateRedis().start()
    env = celery_env(
        redis_url=private_redis.url,
        RECURRING_TICK_SECONDS="1",  # something to publish, so the beat records its heartbeat
        SINGLE_BEAT_IDENTIFIER=IDENTIFIER,
        SINGLE_BEAT_LOCK_TIME=str(LOCK_SECONDS),
        SINGLE_BEAT_HEARTBEAT_INTERVAL="1",
        SINGLE_BEAT_LOG_LEVEL="info",
        BEAT_SUPERVISOR_BACKOFF_INITIAL="0.2",
        BEAT_SUPERVISOR_BACKOFF_MAX="1",
        BEAT_SUPERVISOR_STOP_TIMEOUT="5",
    )
    supervisor = Supervised(env, log_path=tmp_path / "supervisor.log").start()
    yield supervisor, private_redis, tmp_path / "supervisor.log"
    supervisor.stop()
    private_redis.stop()


def _one_beat_holding_the_lock(supervisor, private_redis) -> int | None:
    beats = supervisor.beats()
    return beats[0] if len(beats) == 1 and _holder(private_redis) == beats[0] else None


def test_the_beat_goes_with_redis_and_comes_back_with_it(supervised):
    supervisor, private_redis, log_path = supervised

    wait_until(
        lambda: _one_beat_holding_the_lock(supervisor, private_redis),
        timeout=60,
        what=f"a beat holding the lock (log: {log_path})",
    )
    first = supervisor.beats()[0]
    wait_until(
        lambda: BeatHeartbeat.objects.filter(instance__endswith=f":{first}").exists(),
        timeout=30,
        what="the first beat to tick",
    )

    private_redis.stop()
    # single-beat dies on its next heartbeat (after redis-py's retries); the supervisor takes the beat with
    # it, or its own lock watch does after one lock period. Either way within a few lock periods.
    wait_until(lambda: supervisor.beats() == [], timeout=LOCK_SECONDS * 4 + 5, what=f"the beat to stop ({log_path})")
    assert supervisor.process.poll() is None, "the supervisor itself keeps running"

    private_redis.start()
    wait_until(
        lambda: _one_beat_holding_the_lock(supervisor, private_redis),
        timeout=30,
        what=f"a beat holding the lock again (log: {log_path})",
    )
    second = supervisor.beats()[0]
    assert second != first
    wait_until(
        lambda: BeatHeartbeat.objects.filter(instance__endswith=f":{second}").exists(),
        timeout=30,
        what="the new beat to tick",
    )

    supervisor.process.send_signal(signal.SIGTERM)
    assert supervisor.process.wait(timeout=30) == 0
    wait_until(lambda: not Path(f"/proc/{second}").exists(), timeout=10, what="the beat to be gone after SIGTERM")
