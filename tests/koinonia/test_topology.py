"""The production topology as the Procfile and gunicorn.conf.py declare it: every task lands on a queue a
Procfile worker serves, sends never share a worker with callbacks, gunicorn runs the benchmarked gthread
setup and writes JSON access lines with the request id, and the server entry points default to the
production settings."""

import json
import os
import runpy
import shlex
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest

from koinonia.celery import app as celery_app
from tests.messaging.support import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]


def _procfile(name: str = "Procfile") -> dict[str, str]:
    processes = {}
    for line in (ROOT / name).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            process, command = line.split(":", 1)
            processes[process.strip()] = command.strip()
    return processes


def _argv(command: str) -> list[str]:
    """The command's words after any leading VAR=value assignments."""
    words = shlex.split(command)
    while words and "=" in words[0] and not words[0].startswith("-"):
        words.pop(0)
    return words


def _option(argv: list[str], *names: str) -> str | None:
    for i, word in enumerate(argv):
        if word in names and i + 1 < len(argv):
            return argv[i + 1]
        for name in names:
            if name.startswith("--") and word.startswith(name + "="):
                return word.split("=", 1)[1]
    return None


def _celery_workers() -> dict[str, dict]:
    """Procfile process → {"queues", "hostname"} for each ``celery ... worker`` line."""
    workers = {}
    for process, command in _procfile().items():
        argv = _argv(command)
        if argv[:1] == ["celery"] and "worker" in argv:
            queues = _option(argv, "-Q", "--queues")
            assert queues, f"{process}: a worker must name its queues (-Q), or it serves only the default"
            workers[process] = {"queues": set(queues.split(",")), "hostname": _option(argv, "-n", "--hostname")}
    return workers


def test_sends_have_a_worker_of_their_own():
    workers = _celery_workers()
    serving_sends = [p for p, w in workers.items() if "sends" in w["queues"]]
    assert serving_sends, workers
    for process in serving_sends:
        # A 100k broadcast may hold every slot of the worker it runs on: nothing else may wait behind it.
        assert workers[process]["queues"] == {"sends"}, (process, workers[process])
    assert any({"webhooks", "default"} <= w["queues"] for w in workers.values()), workers
    serving_priority = [p for p, w in workers.items() if "priority" in w["queues"]]
    assert serving_priority == ["worker"], workers
    hostnames = [w["hostname"] for w in workers.values()]
    assert None not in hostnames and len(set(hostnames)) == len(hostnames), hostnames


def test_every_registered_task_and_beat_job_routes_to_a_queue_a_procfile_worker_serves():
    served = set().union(*(w["queues"] for w in _celery_workers().values()))
    celery_app.loader.import_default_modules()
    tasks = sorted(celery_app.tasks)
    assert "messaging.broadcasts.tasks.send_message" in tasks and "billing.tasks.process_webhook_stripe_event" in tasks
    routes = {name: celery_app.amqp.router.route({}, name, (), {})["queue"].name for name in tasks}
    unserved = {name: queue for name, queue in routes.items() if queue not in served}
    assert not unserved, f"tasks routed to queues no Procfile worker consumes: {unserved}"
    assert routes["messaging.broadcasts.tasks.send_message"] == "sends"
    assert routes["messaging.broadcasts.tasks.apply_status_events"] == "webhooks"
    # One-to-one texts and welcomes never wait behind a broadcast's send tasks.
    assert routes["conversations.tasks.send_conversation_message"] == "priority"
    assert routes["messaging.broadcasts.tasks.send_welcome"] == "priority"
    assert routes["billing.tasks.process_webhook_stripe_event"] == "webhooks"
    for job in celery_app.conf.beat_schedule.values():
        assert job["task"] in routes, f"beat schedules {job['task']}, which no module registers"


def test_procfile_web_and_beat_commands():
    processes = _procfile()
    assert _argv(processes["web"]) == ["gunicorn", "koinonia.wsgi", "-c", "gunicorn.conf.py"]
    beat = _argv(processes["beat"])
    assert beat[:3] == ["python", "-m", "koinonia.beat_supervisor"], beat
    assert beat[3:6] == ["celery", "-A", "koinonia"] and "beat" in beat


def test_development_processes_choose_their_settings_explicitly():
    # The server entry points default to production; the development processes opt out by name.
    for process, command in _procfile("Procfile.dev").items():
        if _argv(command)[:1] == ["celery"]:
            assert "DJANGO_SETTINGS_MODULE=" in command, (process, command)


def _gunicorn_config(monkeypatch, **env) -> dict:
    for name in ("WEB_CONCURRENCY", "WEB_THREADS", "GUNICORN_MAX_REQUESTS", "GUNICORN_PRELOAD", "PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_gunicorn_config_is_the_benchmarked_gthread_setup(monkeypatch):
    config = _gunicorn_config(monkeypatch)
    assert config["worker_class"] == "gthread"
    assert 2 <= config["workers"] <= 8 and config["threads"] == 4
    assert config["bind"] == "0.0.0.0:8000"
    assert config["max_requests"] > 0 and 0 < config["max_requests_jitter"] < config["max_requests"]
    assert 0 < config["graceful_timeout"] < 30 and config["timeout"] > 0
    assert config["preload_app"] is False

    config = _gunicorn_config(monkeypatch, WEB_CONCURRENCY="3", WEB_THREADS="8", PORT="5000", GUNICORN_MAX_REQUESTS="0")
    assert (config["workers"], config["threads"], config["bind"]) == (3, 8, "0.0.0.0:5000")
    assert config["max_requests"] == 0 and config["max_requests_jitter"] == 0


def test_gunicorn_writes_json_access_lines_with_the_request_id_and_stops_gracefully(tmp_path):
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        # Production runs these settings; test.py would hold the root logger at WARNING.
        "DJANGO_SETTINGS_MODULE": "koinonia.settings.base",
        "DEBUG": "false",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "WEB_THREADS": "2",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "koinonia.wsgi", "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    try:

        def answers() -> bool:
            assert process.poll() is None, log_path.read_text()
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/health", headers={"X-Request-ID": "topology-rid-1"}
                )
                with urllib.request.urlopen(request, timeout=2) as response:
                    return response.status == 200 and response.headers["X-Request-ID"] == "topology-rid-1"
            except OSError:
                return False

        wait_until(answers, timeout=60, interval=0.2, what="gunicorn to answer /health")

        def access_lines() -> list[dict]:
            lines = []
            for line in log_path.read_text().splitlines():
                if line.startswith("{"):
                    record = json.loads(line)
                    if record.get("logger") == "koinonia.access":
                        lines.append(record)
            return lines

        wait_until(lambda: access_lines(), timeout=10, what="an access line")
        line = access_lines()[-1]
        assert line["request_id"] == "topology-rid-1"
        assert (line["method"], line["path"], line["status"]) == ("GET", "/health", 200)
        assert line["level"] == "INFO" and line["duration_ms"] >= 0

        boot = [json.loads(raw) for raw in log_path.read_text().splitlines() if raw.startswith('{"time"')]
        assert any(r.get("message") == "Using worker: gthread" for r in boot), boot
        assert sum(str(r.get("message", "")).startswith("Booting worker") for r in boot) == 2
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(timeout=40) == 0, log_path.read_text()
    assert "Shutting down: Master" in log_path.read_text()


SECRETS = ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "PHONE_HASH_KEY", "ALLOWED_HOSTS", "SMS_PROVIDER")


def _bare_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", *SECRETS)}


@pytest.mark.parametrize("path", ["koinonia/wsgi.py", "koinonia/asgi.py"])
def test_server_entry_points_default_to_production_settings(path):
    # Without secrets, production settings refuse to start: the proof they are the ones chosen. The file
    # is run, not imported, so the koinonia package (whose celery.py has its own default) comes later.
    result = subprocess.run(
        [sys.executable, "-c", f"import runpy; runpy.run_path({path!r})"],
        cwd=ROOT,
        env=_bare_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr, result.stderr[-2000:]


def test_celery_defaults_to_production_and_manage_py_to_development():
    code = "import os, koinonia.celery; print(os.environ['DJANGO_SETTINGS_MODULE'])"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_bare_env(), capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip() == "koinonia.settings.production", result.stderr[-2000:]
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **{k: v for k, v in _bare_env().items() if k != "DEBUG"},
            "DATABASE_URL": f"sqlite:///{tmp}/manage.sqlite3",
        }
        result = subprocess.run(
            [sys.executable, "manage.py", "diffsettings", "--all"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "DEBUG = True" in result.stdout
