"""Run celery beat under single-beat, and never let the beat outlive single-beat.

    python -m koinonia.beat_supervisor celery -A koinonia beat -S django_celery_beat.schedulers:DatabaseScheduler

single-beat (0.6) holds a Redis lock and runs beat as its child while it holds it. When Redis goes away
its heartbeat raises, single-beat dies of the exception, and nothing stops its child: the beat runs on
alone, holding no lock. When Redis comes back, another instance takes the empty lock and starts a second
beat (two of every periodic job), or, on a single machine, no one holds the lock at all and nothing
restarts. A plain process manager restarts single-beat but does not kill the orphan either.

So this supervisor:

- starts single-beat in a process group of its own (the beat inherits it) and registers as the child
  subreaper (Linux), so an orphaned beat is re-parented to us and can be reaped;
- when single-beat exits, for whatever reason, stops the whole group (SIGTERM, then SIGKILL after
  ``BEAT_SUPERVISOR_STOP_TIMEOUT``) before doing anything else;
- watches the lock itself: a beat whose pid the lock has not named for ``SINGLE_BEAT_LOCK_TIME`` seconds
  (Redis unreachable or hung, or the lock taken by another instance) is stopped with its group, so a
  beat never runs longer than one lock period without the lock;
- starts single-beat again with exponential backoff (``BEAT_SUPERVISOR_BACKOFF_INITIAL`` doubling up to
  ``BEAT_SUPERVISOR_BACKOFF_MAX``; back to the initial value after a run of ``BEAT_SUPERVISOR_STABLE_SECONDS``),
  so the beat comes back by itself once Redis does. While Redis is down single-beat exits at once
  (its start-up ping fails), so the backoff is what paces the retries;
- on SIGTERM / SIGINT stops the group and exits 0.

``SINGLE_BEAT_REDIS_SERVER`` defaults to ``REDIS_URL`` and ``SINGLE_BEAT_IDENTIFIER`` to ``koinonia-beat``.
No Django here: the supervisor must keep running while the application cannot start.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger("koinonia.beat_supervisor")

PR_SET_CHILD_SUBREAPER = 36


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    return float(value) if value.strip() else default


@dataclass(frozen=True)
class Config:
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    stable_seconds: float = 60.0
    stop_timeout: float = 10.0
    lock_time: float = 5.0
    heartbeat: float = 1.0
    redis_url: str = ""
    identifier: str = "koinonia-beat"

    @classmethod
    def from_env(cls) -> Config:
        return cls(
            backoff_initial=_env_float("BEAT_SUPERVISOR_BACKOFF_INITIAL", 1.0),
            backoff_max=_env_float("BEAT_SUPERVISOR_BACKOFF_MAX", 30.0),
            stable_seconds=_env_float("BEAT_SUPERVISOR_STABLE_SECONDS", 60.0),
            stop_timeout=_env_float("BEAT_SUPERVISOR_STOP_TIMEOUT", 10.0),
            # single-beat's own defaults, read from the same variables it reads.
            lock_time=_env_float("SINGLE_BEAT_LOCK_TIME", 5.0),
            heartbeat=_env_float("SINGLE_BEAT_HEARTBEAT_INTERVAL", 1.0),
            redis_url=os.environ.get("SINGLE_BEAT_REDIS_SERVER") or os.environ.get("REDIS_URL", ""),
            identifier=os.environ.get("SINGLE_BEAT_IDENTIFIER") or "koinonia-beat",
        )

    @property
    def lock_key(self) -> str:
        return f"SINGLE_BEAT_{self.identifier}"


def _become_subreaper() -> None:
    """Orphans of our group come to us instead of init, so we can reap them (Linux only)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _reap() -> None:
    """Collect any exited child (single-beat's orphans are ours as subreaper)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _group_alive(pgid: int) -> bool:
    _reap()
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        pass
    found = []  # kernels without CONFIG_PROC_CHILDREN: scan for our parent pid
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


class LockWatch:
    """Reads single-beat's lock (``fence:host:pid``) with short timeouts; never raises."""

    def __init__(self, config: Config):
        self.config = config
        self._client = None

    def holder_pid(self) -> int | None:
        import redis

        timeout = max(0.2, min(self.config.heartbeat, 2.0))
        try:
            if self._client is None:
                self._client = redis.Redis.from_url(
                    self.config.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
                )
            value = self._client.get(self.config.lock_key)
        except (redis.RedisError, OSError, ValueError):
            self._client = None
            return None
        try:
            return int(value.split(b":")[2]) if value else None
        except (IndexError, ValueError):
            return None


class Supervisor:
    def __init__(self, command: list[str], config: Config):
        self.command = command
        self.config = config
        self.stopping = threading.Event()
        self.process: subprocess.Popen | None = None

    def single_beat(self) -> str:
        local = Path(sys.executable).parent / "single-beat"
        return str(local) if local.exists() else "single-beat"

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.config.redis_url:
            env.setdefault("SINGLE_BEAT_REDIS_SERVER", self.config.redis_url)
        env.setdefault("SINGLE_BEAT_IDENTIFIER", self.config.identifier)
        return env

    def handle_signal(self, signum, _frame) -> None:
        logger.info("beat supervisor: signal %s, stopping", signum)
        self.stopping.set()
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)

    def stop_group(self, pgid: int) -> None:
        """SIGTERM the whole group (single-beat and the beat), SIGKILL what is left after the timeout."""
        for sig, timeout in ((signal.SIGTERM, self.config.stop_timeout), (signal.SIGKILL, 10.0)):
            if not _group_alive(pgid):
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, sig)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and _group_alive(pgid):
                time.sleep(0.05)
        if _group_alive(pgid):
            logger.error("beat supervisor: process group %s survived SIGKILL", pgid)

    def run_once(self) -> None:
        """One single-beat run: start it, watch the lock while it runs, stop its group when it ends."""
        self.process = subprocess.Popen(  # noqa: S603 - the Procfile's own command line
            [self.single_beat(), *self.command], env=self.child_env(), start_new_session=True
        )
        pgid = self.process.pid
        logger.info("beat supervisor: single-beat started", extra={"pid": pgid})
        watch = LockWatch(self.config)
        beat_pid, confirmed_at = None, time.monotonic()
        try:
            while not self.stopping.is_set():
                try:
                    self.process.wait(timeout=self.config.heartbeat)
                    logger.warning("beat supervisor: single-beat exited", extra={"returncode": self.process.returncode})
                    return
                except subprocess.TimeoutExpired:
                    pass
                children = _children(self.process.pid)
                now = time.monotonic()
                if not children:  # waiting for the lock: no beat to watch
                    beat_pid, confirmed_at = None, now
                    continue
                if children[0] != beat_pid:  # a new beat: give single-beat one lock period to name it
                    beat_pid, confirmed_at = children[0], now
                if watch.holder_pid() == beat_pid:
                    confirmed_at = now
                elif now - confirmed_at > self.config.lock_time:
                    logger.error(
                        "beat supervisor: the lock has not named the running beat for a lock period; stopping it",
                        extra={"beat_pid": beat_pid, "lock_time": self.config.lock_time},
                    )
                    return
        finally:
            self.stop_group(pgid)
            self.process.wait()

    def run(self) -> int:
        backoff = self.config.backoff_initial
        while not self.stopping.is_set():
            started = time.monotonic()
            self.run_once()
            if self.stopping.is_set():
                break
            if time.monotonic() - started >= self.config.stable_seconds:
                backoff = self.config.backoff_initial
            logger.info("beat supervisor: restarting single-beat", extra={"in_seconds": backoff})
            self.stopping.wait(backoff)
            backoff = min(backoff * 2, self.config.backoff_max)
        logger.info("beat supervisor: stopped")
        return 0


def _configure_logging() -> None:
    handler = logging.StreamHandler()
    try:
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    except ImportError:  # still supervise without the JSON formatter
        pass
    logger.addHandler(handler)
    logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    command = list(sys.argv[1:] if argv is None else argv)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        print("usage: python -m koinonia.beat_supervisor COMMAND [ARGS...]", file=sys.stderr)
        return 2
    _configure_logging()
    _become_subreaper()
    supervisor = Supervisor(command, Config.from_env())
    signal.signal(signal.SIGTERM, supervisor.handle_signal)
    signal.signal(signal.SIGINT, supervisor.handle_signal)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
