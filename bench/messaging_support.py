"""Shared by the ``messaging_*`` scenarios: set-based seeding, the fake Telnyx in a process of its own,
Celery workers and gunicorn as real processes, CPU accounting from /proc, and an HTTP load generator.

The fake runs in its own process (like the real provider, it must not share our GIL):

    python -m bench.messaging_support fake-telnyx --latency 0.1 [--rate 200]

It prints one JSON line (base URL, key, public key) and serves until its stdin closes. It answers
``GET /_bench/stats`` with the time and status of every send it answered, and sends no status
callbacks (the send scenarios measure sending; webhook ingest has a scenario of its own).
"""

import http.client
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import time as dtime
from pathlib import Path
from urllib.parse import urlsplit

from tests.messaging.support import GroupProcess, Worker, free_port

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / "var" / "bench-logs"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- Environment ---------------------------------------------------------------------------------------


def database_url() -> str:
    from django.conf import settings

    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    auth = f"{user}:{db['PASSWORD']}@" if db.get("PASSWORD") else f"{user}@"
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def redis_url() -> str:
    from django.conf import settings

    if not settings.REDIS_URL:
        sys.exit("The messaging benchmarks need Redis: set REDIS_URL.")
    return settings.REDIS_URL


def app_env(**extra: str) -> dict[str, str]:
    """Environment for our own processes (workers, gunicorn): the base settings as production runs them
    (not the test settings), on the bench database and Redis, logging warnings only."""
    return {
        "DJANGO_SETTINGS_MODULE": "koinonia.settings.base",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url(),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


# --- Seeding ---------------------------------------------------------------------------------------


def phone_number(n: int) -> str:
    return f"+1312{3_000_000 + n:07d}"


def open_church(slug: str, name: str):
    """A bench church (owner, a plan that lifts limits) with quiet hours off, so sends are never held."""
    from bench.scenarios._support import bench_church

    church, owner = bench_church(slug, name)
    if church.quiet_hours_start != church.quiet_hours_end:
        church.quiet_hours_start = church.quiet_hours_end = dtime(0, 0)
        church.save(update_fields=["quiet_hours_start", "quiet_hours_end"])
    return church, owner


def sender_for(church, phone: str, provider: str = "telnyx"):
    from messaging.models import SenderNumber

    sender, _ = SenderNumber.objects.update_or_create(
        phone_number=phone,
        defaults={
            "church": church,
            "provider": provider,
            "status": "active",
            "is_default": True,
            # A registered 10DLC number, as in production: unregistered ones are throttled on purpose.
            "campaign_id": "bench-campaign",
        },
    )
    return sender


def seed_members(church, count: int) -> float:
    """At least ``count`` subscribed members (COPY, each phone encrypted on its own, blind-indexed).
    Returns the seconds spent (0 when they were already there)."""
    from django.db import connection
    from django.utils import timezone

    from bench.scenarios._support import raw_cursor
    from churches.crypto import encrypt, phone_hash
    from churches.models import Member

    have = Member.objects.filter(church=church).count()
    if have >= count:
        return 0.0
    started = time.perf_counter()
    now = timezone.now()
    columns = (
        "church_id, first_name, last_name, phone, phone_hash, email, email_local_hash, sms_status, timezone, "
        "created_at, updated_at"
    )
    with raw_cursor() as cursor, cursor.copy(f"COPY churches_member ({columns}) FROM STDIN") as copy:
        for n in range(have, count):
            phone = phone_number(n)
            identity = (f"Member{n}", "Bench", encrypt(phone), phone_hash(phone), "", "")  # no email, no email hash
            copy.write_row((church.pk, *identity, "subscribed", "", now, now))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE churches_member")
    return time.perf_counter() - started


def grant_allowance(church, owner, segments: int) -> None:
    try:
        from billing.services import credit_grant
    except ImportError:
        return
    credit_grant(church=church, acting_user=owner, segments=segments, reason="benchmark allowance")


def delete_messages(church) -> None:
    """Remove a church's bench broadcasts, their recipients and the provider events that named them."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM messaging_providerevent WHERE provider_message_id IN (SELECT r.provider_message_id "
            "FROM messaging_recipient r WHERE r.church_id = %s AND r.provider_message_id <> '')",
            [church.pk],
        )
        cursor.execute("DELETE FROM messaging_recipient WHERE church_id = %s", [church.pk])
        cursor.execute("DELETE FROM messaging_message WHERE church_id = %s", [church.pk])


# --- Celery: publish to the real broker, never run tasks in this process ----------------------------


@contextmanager
def tasks_to_broker():
    """Tasks published from this process go to Redis (as from a web process), not run inline."""
    from koinonia.celery import app

    previous = (app.conf.broker_url, app.conf.task_always_eager)
    # celery 5.6 reads the Django-namespaced keys (CELERY_*) first: set both spellings.
    app.conf.update(
        broker_url=redis_url(), CELERY_BROKER_URL=redis_url(), task_always_eager=False, CELERY_TASK_ALWAYS_EAGER=False
    )
    app._pool = None
    app.amqp._producer_pool = None
    try:
        yield app
    finally:
        app.conf.update(
            broker_url=previous[0],
            CELERY_BROKER_URL=previous[0],
            task_always_eager=previous[1],
            CELERY_TASK_ALWAYS_EAGER=previous[1],
        )
        app._pool = None
        app.amqp._producer_pool = None


def purge_queues() -> None:
    """Drop tasks an earlier (aborted) bench run left in the broker, so workers start clean."""
    import redis

    client = redis.Redis.from_url(redis_url())
    for name in ("priority", "sends", "webhooks", "default"):
        client.delete(name, *(f"{name}\x06\x16{p}" for p in range(10)))
    client.close()


def reset_rate_limits(sender_number: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url())
    client.delete("koinonia:rl:account:telnyx", f"koinonia:rl:sender:{sender_number}")
    client.close()


class Workers:
    """Real Celery worker processes (the production command) with the bench environment."""

    def __init__(self, env: dict[str, str], *, processes: int = 1, concurrency: int = 2):
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.workers = [
            Worker(env, concurrency=concurrency, log_path=LOG_DIR / f"worker-{os.getpid()}-{i}.log")
            for i in range(processes)
        ]

    def start(self) -> "Workers":
        for worker in self.workers:
            worker.start()
        return self

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self.workers if w.process]

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


def wait_for(condition, *, timeout: float, interval: float = 0.05, what: str = "") -> float:
    """Poll until ``condition()``; returns when (perf_counter). Raises TimeoutError."""
    deadline = time.perf_counter() + timeout
    while True:
        if condition():
            return time.perf_counter()
        if time.perf_counter() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


def finished_count(message_id: int) -> int:
    from messaging.models import Message

    row = (
        Message.objects.filter(pk=message_id)
        .values("sent_count", "delivered_count", "failed_count", "skipped_count")
        .first()
    )
    return sum(row.values()) if row else 0


# --- The fake provider in a process of its own ----------------------------------------------------------


class FakeTelnyxProcess:
    def __init__(self, *, latency: float, rate: float | None = None):
        self.latency, self.rate = latency, rate
        self.process: subprocess.Popen | None = None
        self.info: dict = {}

    def start(self) -> "FakeTelnyxProcess":
        command = [sys.executable, "-m", "bench.messaging_support", "fake-telnyx", "--latency", str(self.latency)]
        if self.rate:
            command += ["--rate", str(self.rate)]
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True
        )
        self.info = json.loads(self.process.stdout.readline())
        return self

    @property
    def base_url(self) -> str:
        return self.info["base_url"]

    @property
    def pid(self) -> int:
        return self.process.pid

    def env(self) -> dict[str, str]:
        return {
            "SMS_PROVIDER": "telnyx",
            "TELNYX_API_BASE": self.base_url,
            "TELNYX_API_KEY": self.info["api_key"],
            "TELNYX_PUBLIC_KEY": self.info["public_key"],
            "TELNYX_MESSAGING_PROFILE_ID": self.info["profile_id"],
            # The fake sends no status callbacks; the URL is only carried in each request.
            "PUBLIC_BASE_URL": "http://127.0.0.1:9",
        }

    def stats(self) -> dict:
        """{"answers": [[unix time, status], ...]} for every send answered so far."""
        url = urlsplit(self.base_url)
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        connection.request("GET", "/_bench/stats")
        data = json.loads(connection.getresponse().read())
        connection.close()
        return data

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def _serve_fake_telnyx(latency: float, rate: float | None) -> None:
    from tests.fakes.base import FakeResponse
    from tests.fakes.telnyx import FakeTelnyx

    class BenchTelnyx(FakeTelnyx):
        def __init__(self, **kwargs):
            self.answers: list[tuple[float, int]] = []
            super().__init__(**kwargs)
            # The shared fake writes headers and body in two packets; without TCP_NODELAY, Nagle holds the
            # body until the client's delayed ACK (~40 ms per request on keep-alive connections). A real
            # provider doesn't add that, so the bench's fake sets it (tests/fakes/base.py could too).
            self._server.RequestHandlerClass.disable_nagle_algorithm = True

        def _schedule_status_callbacks(self, message, failure) -> None:
            pass  # no callbacks: see the module docstring

        def handle(self, request):
            if request.path == "/_bench/stats":
                return FakeResponse.json(200, {"answers": self.answers})
            response = super().handle(request)
            self.answers.append((time.time(), getattr(response, "status", 0)))
            with self._lock:  # keep memory flat over a long run
                self.requests.clear()
                self.sent_messages.clear()
            return response

    fake = BenchTelnyx()
    fake.set_latency(latency)
    if rate:
        fake.set_rate_limit(rate)
    print(
        json.dumps(
            {
                "base_url": fake.base_url,
                "api_key": fake.api_key,
                "public_key": fake.public_key_b64,
                "profile_id": fake.messaging_profile_id,
            }
        ),
        flush=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.stdin.close())
    try:
        sys.stdin.read()  # until the parent closes our stdin (or dies)
    finally:
        fake.stop()


# --- gunicorn ------------------------------------------------------------------------------------------


class Gunicorn(GroupProcess):
    def __init__(self, env: dict[str, str], *, workers: int = 4, threads: int = 4, app: str = "koinonia.wsgi"):
        super().__init__(env, log_path=LOG_DIR / f"gunicorn-{os.getpid()}.log")
        self.app = app
        self.workers, self.threads = workers, threads
        self.port = free_port()

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gunicorn",
            self.app,
            "--workers",
            str(self.workers),
            "--threads",
            str(self.threads),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
        ]

    def start(self) -> "Gunicorn":
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        super().start()
        wait_for(self._healthy, timeout=60, interval=0.2, what="gunicorn to answer /health")
        return self

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({self.process.returncode}); see {LOG_DIR}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            connection.request("GET", "/health")
            ok = connection.getresponse().status == 200
            connection.close()
            return ok
        except OSError:
            return False


# --- HTTP load: processes x threads, each thread one keep-alive connection -------------------------------


def _load_worker(port: int, items: list, threads: int, results, sign) -> None:
    jobs: queue.SimpleQueue = queue.SimpleQueue()
    for item in items:
        jobs.put(item)
    samples: list[tuple[float, float, int, str]] = []
    lock = threading.Lock()

    def run() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while True:
            try:
                method, path, body, headers = jobs.get_nowait()
            except queue.Empty:
                break
            if sign is not None:  # signed now, so a long run never sends a stale timestamp
                headers = sign(body)
            started = time.time()
            for attempt in range(3):
                try:
                    connection.request(method, path, body=body, headers=headers)
                    response = connection.getresponse()
                    answer = response.read()
                    break
                except (OSError, http.client.HTTPException):
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    if attempt == 2:
                        raise
            outcome = ""
            if answer[:1] == b"{":
                try:
                    outcome = str(json.loads(answer).get("outcome", ""))
                except ValueError:
                    outcome = ""
            mine.append((started, time.time(), response.status, outcome))
        connection.close()
        with lock:
            samples.extend(mine)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    results.put(samples)


def http_load(
    port: int, items: list, *, processes: int = 2, threads: int = 8, sign=None
) -> list[tuple[float, float, int, str]]:
    """Send ``items`` ((method, path, body, headers)) to 127.0.0.1:port from ``processes`` forked client
    processes of ``threads`` keep-alive connections each; ``sign(body) -> headers``, when given, makes each
    request's headers just before it is sent. Returns (start, end, status, outcome) per request."""
    import multiprocessing

    from django.db import connections

    connections.close_all()  # forked children must not share our database socket
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    chunks = [items[i::processes] for i in range(processes)]
    children = [context.Process(target=_load_worker, args=(port, chunk, threads, results, sign)) for chunk in chunks]
    for child in children:
        child.start()
    samples = []
    for _ in children:
        samples.extend(results.get(timeout=600))
    for child in children:
        child.join(timeout=30)
    return samples


def steady_rate(times: list[float], *, head_s: float = 2.0, tail_s: float = 0.5) -> tuple[float, float]:
    """Events per second in the steady middle of a run: from ``head_s`` after the first event (the
    ramp-up, and the limiters' initial bursts) to ``tail_s`` before the last. Returns (rate, window)."""
    times = sorted(times)
    if len(times) < 10:
        return 0.0, 0.0
    start, end = times[0] + head_s, times[-1] - tail_s
    if end - start < 1.0:  # a short run: fall back to the 10th..90th percentile of the events
        start, end = times[len(times) // 10], times[len(times) * 9 // 10]
    inside = sum(1 for t in times if start <= t <= end)
    return (inside / (end - start) if end > start else 0.0), end - start


def per_second(times: list[float]) -> list[int]:
    """Events in each whole second from the first one (for the JSON: is the rate steady?)."""
    if not times:
        return []
    first = min(times)
    counts = [0] * (int(max(times) - first) + 1)
    for t in times:
        counts[int(t - first)] += 1
    return counts


# --- CPU accounting from /proc ------------------------------------------------------------------------


def _processes() -> dict[int, tuple[int, str, float]]:
    """pid → (ppid, command name, CPU seconds so far, reaped children included)."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        # utime + stime, plus cutime + cstime: the CPU of children that already exited (a postgres
        # backend that closed, a forked client) stays counted in its parent.
        cpu = sum(int(value) for value in fields[11:15]) / CLK_TCK
        found[int(entry.name)] = (int(fields[1]), comm, cpu)
    return found


def _machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (not idle, not waiting on I/O)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return (sum(values) - values[3] - values[4]) / CLK_TCK


def database_backends() -> list[int]:
    """Server pids of every connection to the bench database (ours and our processes'), so other
    databases on a shared server are not counted."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return [row[0] for row in cursor.fetchall()]


class CpuMeter:
    """CPU used by named process groups between ``start()`` and ``stop()``, in cores (seconds/second).
    A group is a list of root pids (with all their descendants), a command name, or a callable that
    returns pids (those alone, e.g. ``database_backends``). ``machine_busy`` counts everything running
    on the machine, other people's work included."""

    def __init__(self, groups: dict):
        self.groups = groups

    def _sample(self) -> dict[str, dict[int, float]]:
        procs = _processes()
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in procs.items():
            children.setdefault(ppid, []).append(pid)
        sampled = {}
        for name, spec in self.groups.items():
            if isinstance(spec, str):
                pids = [pid for pid, (_, comm, _) in procs.items() if comm.startswith(spec)]
            elif callable(spec):
                pids = [pid for pid in spec() if pid in procs]
            else:
                pids, stack = [], list(spec)
                while stack:
                    pid = stack.pop()
                    if pid in procs and pid not in pids:
                        pids.append(pid)
                        stack.extend(children.get(pid, []))
            sampled[name] = {pid: procs[pid][2] for pid in pids}
        return sampled

    def start(self) -> "CpuMeter":
        self._started = time.perf_counter()
        self._before = self._sample()
        self._machine_before = _machine_busy()
        return self

    def stop(self) -> dict[str, float]:
        elapsed = time.perf_counter() - self._started
        after = self._sample()
        busy = _machine_busy()
        result = {}
        for name, pids in after.items():
            before = self._before.get(name, {})
            used = sum(cpu - before.get(pid, 0.0) for pid, cpu in pids.items())
            result[f"{name}_cores"] = round(used / elapsed, 2)
        result["machine_busy_cores"] = round((busy - self._machine_before) / elapsed, 2)
        result["machine_cores"] = os.cpu_count()
        return result


def unique_key(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["fake-telnyx"])
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--rate", type=float, default=None)
    arguments = parser.parse_args()
    _serve_fake_telnyx(arguments.latency, arguments.rate)
