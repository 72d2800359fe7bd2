"""Helpers for the pipeline tests: many members quickly, waiting on conditions, and real processes
(a private Redis, Celery workers) for the tests that need them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from churches.models import Church, Member

ROOT = Path(__file__).resolve().parents[2]


def phone_for(n: int) -> str:
    return f"+1312{300 + n // 10000:03d}{n % 10000:04d}"


def bulk_members(church: Church, count: int, *, start: int = 0, timezone: str = "America/Chicago") -> list[Member]:
    """``count`` subscribed members in one INSERT (factories would take seconds for thousands)."""
    # Imported here: bench/messaging_support.py imports this module before Django is set up.
    from churches.crypto import phone_hash
    from churches.models import Member, SmsStatus

    members = [
        Member(
            church=church,
            first_name=f"Member{n}",
            last_name="Test",
            phone=phone_for(n),
            phone_hash=phone_hash(phone_for(n)),
            sms_status=SmsStatus.SUBSCRIBED,
            timezone=timezone,
        )
        for n in range(start, start + count)
    ]
    return Member.objects.bulk_create(members, batch_size=1000)


def wait_until(condition: Callable[[], bool], *, timeout: float, interval: float = 0.2, tick=None, what=""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if tick is not None:
            tick()
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A redis-server of the test's own, so a test can stop and restart it without disturbing anyone."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, timeout=10, what="redis to start")
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class GroupProcess:
    """A real process in a session of its own, so a signal to its group reaches its children too (a
    worker's pool, single-beat's beat, gunicorn's workers). Subclasses give the ``command``."""

    def __init__(self, env: dict[str, str], *, log_path: Path | None = None):
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self):
        # The child keeps its own copy of the log's descriptor; ours closes at once.
        with open(self.log_path, "ab") if self.log_path else nullcontext(subprocess.DEVNULL) as log:
            self.process = subprocess.Popen(
                self.command(), cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True
            )
        return self

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self):
        """SIGKILL the whole group, mid-whatever."""
        if self.alive:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self):
        """SIGTERM the group; SIGKILL it if it has not gone within 15 s."""
        if self.alive:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def celery_command(*args: str) -> list[str]:
    """``python -m celery -A koinonia ARGS`` with this interpreter."""
    return [sys.executable, "-m", "celery", "-A", "koinonia", *args]


# django-celery-beat's database scheduler, as production runs beat.
BEAT_ARGS = ("beat", "-S", "django_celery_beat.schedulers:DatabaseScheduler", "--pidfile=")


class Worker(GroupProcess):
    """A real Celery worker process (its own session, so SIGKILL takes its pool children too)."""

    # Without them a worker starts faster and talks less; ``as_in_production=True`` keeps heartbeat, mingle
    # and gossip on, as the Procfile runs it (they use the broker connection, which matters in an outage).
    QUIET_FLAGS = ("--without-heartbeat", "--without-mingle", "--without-gossip")

    def __init__(
        self,
        env: dict[str, str],
        *,
        concurrency: int = 2,
        log_path: Path | None = None,
        as_in_production: bool = False,
        queues: str = "priority,sends,webhooks,default",
        hostname: str | None = None,
        loglevel: str = "WARNING",
    ):
        super().__init__(env, log_path=log_path)
        self.concurrency = concurrency
        self.flags = () if as_in_production else self.QUIET_FLAGS
        self.queues = queues
        self.hostname = hostname  # -n, e.g. "a@%h": two workers on one machine need different names
        self.loglevel = loglevel

    def command(self) -> list[str]:
        name = ("-n", self.hostname) if self.hostname else ()
        return celery_command(
            "worker", "-Q", self.queues, *name, "-c", str(self.concurrency), *self.flags, "-l", self.loglevel
        )


def grant_segments(world, segments: int) -> None:
    """Enough plan allowance for a big test broadcast (a support credit, as billing defines it)."""
    try:
        from billing.services import credit_grant
    except ImportError:  # billing not installed in this tree: no limits to lift
        return
    credit_grant(church=world.church, acting_user=world.owner, segments=segments, reason="test allowance")


def database_url() -> str:
    """The test database as a URL, for processes the test starts (they must see its committed rows)."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    auth = f"{user}:{db['PASSWORD']}@" if db.get("PASSWORD") else f"{user}@"
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def celery_env(*, redis_url: str, **overrides: str) -> dict[str, str]:
    """Environment for a worker, beat or web process: the test settings, the test's database, a Redis."""
    return {
        "DJANGO_SETTINGS_MODULE": "koinonia.settings.test",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        **overrides,
    }


def process_env(*, redis_url: str, telnyx, public_base_url: str, **overrides: str) -> dict[str, str]:
    """``celery_env`` sending through the fake Telnyx, with callbacks to ``public_base_url``."""
    telnyx_env = {
        "SMS_PROVIDER": "telnyx",
        "TELNYX_API_BASE": telnyx.base_url,
        "TELNYX_API_KEY": telnyx.api_key,
        "TELNYX_PUBLIC_KEY": telnyx.public_key_b64,
        "TELNYX_MESSAGING_PROFILE_ID": telnyx.messaging_profile_id,
        "PUBLIC_BASE_URL": public_base_url,
    }
    return celery_env(redis_url=redis_url, **{**telnyx_env, **overrides})


class Beat(GroupProcess):
    """A real celery-beat process (django-celery-beat's database scheduler, as production runs it), so
    the sweeper runs on its schedule and not inside the test."""

    def command(self) -> list[str]:
        return celery_command(*BEAT_ARGS, "-l", "WARNING")


def point_celery_at(broker_url: str | None, *, eager: bool) -> tuple[str | None, bool]:
    """Send this process's tasks to ``broker_url`` (eagerly or not); returns the previous pair. Sets the
    Django-namespaced keys too: with ``namespace="CELERY"`` celery 5.6 reads ``CELERY_BROKER_URL`` before
    ``broker_url``, so assigning the short name alone would not take."""
    from koinonia.celery import app

    previous = (app.conf.broker_url, app.conf.task_always_eager)
    app.conf.update(
        broker_url=broker_url,
        CELERY_BROKER_URL=broker_url,
        task_always_eager=eager,
        CELERY_TASK_ALWAYS_EAGER=eager,
    )
    app._pool = None  # connections to the old broker
    app.amqp._producer_pool = None
    return previous
