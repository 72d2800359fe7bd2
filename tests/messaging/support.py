"""Helpers for the pipeline tests: many members quickly, waiting on conditions, and real processes
(a private Redis, Celery workers) for the tests that need them."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from churches.crypto import phone_hash
from churches.models import Church, Member, SmsStatus

ROOT = Path(__file__).resolve().parents[2]


def phone_for(n: int) -> str:
    return f"+1312{300 + n // 10000:03d}{n % 10000:04d}"


def bulk_members(church: Church, count: int, *, start: int = 0, timezone: str = "America/Chicago") -> list[Member]:
    """``count`` subscribed members in one INSERT (factories would take seconds for thousands)."""
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


class Worker:
    """A real Celery worker process (its own session, so SIGKILL takes its pool children too)."""

    def __init__(self, env: dict[str, str], *, concurrency: int = 2, log_path: Path | None = None):
        self.env = {**os.environ, **env}
        self.concurrency = concurrency
        self.log_path = log_path
        self.process = None

    def start(self):
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "koinonia",
                "worker",
                "-Q",
                "sends,webhooks,default",
                "-c",
                str(self.concurrency),
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "-l",
                "WARNING",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        return self

    def kill(self):
        """SIGKILL the whole worker: main process and pool children, mid-whatever."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def grant_segments(world, segments: int) -> None:
    """Enough plan allowance for a big test broadcast (a support credit, as billing defines it)."""
    try:
        from billing.services import credit_grant
    except ImportError:  # billing not installed in this tree: no limits to lift
        return
    credit_grant(church=world.church, acting_user=world.owner, segments=segments, reason="test allowance")
