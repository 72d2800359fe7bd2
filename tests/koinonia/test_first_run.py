"""A first run that works as the README says: the database is created when missing, support's createchurch
holds passwords to the site's rules, malformed secrets stop the process at start, and one Ctrl-C on
``make run`` stops web, worker and beat without anything being SIGKILLed."""

import os
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
import requests
from django.core.management import CommandError, call_command
from django.core.management.base import SystemCheckError

from churches.models import Church, User
from koinonia.settings import validation
from tests.factories import UserFactory
from tests.messaging.support import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "yMnKy8zNzs/Q0dLT1NXW19jZ2tvc3d7f4OHi4+Tl5uc="  # base64 of 32 bytes, with "+" and "/"


def _manage(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """``manage.py`` in a fresh process, with only the given overrides on top of a clean environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# --- createchurch ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_createchurch_refuses_a_password_the_sign_up_form_would(capsys):
    with pytest.raises(CommandError) as exc_info:
        call_command("createchurch", "St. Mark", "mark@example.test", "password")
    message = str(exc_info.value)
    assert "The password was refused" in message
    assert "too short" in message and "too common" in message  # every problem listed, not just the first
    with pytest.raises(CommandError, match="too similar"):
        call_command("createchurch", "St. Mark", "markus.fairweather@example.test", "markusfairweather")
    assert not Church.objects.exists() and not User.objects.exists()

    call_command("createchurch", "St. Mark", "mark@example.test", "a-long-passphrase-1")
    assert Church.objects.get(name="St. Mark").staff_memberships.get().user.email == "mark@example.test"


@pytest.mark.django_db
def test_createchurch_for_an_existing_user_keeps_their_password():
    user = UserFactory(email="ruth@example.test")
    user.set_password("her-own-long-passphrase")
    user.save()
    call_command("createchurch", "Second Church", "ruth@example.test", "ignored")
    user.refresh_from_db()
    assert user.check_password("her-own-long-passphrase")
    assert Church.objects.get(name="Second Church").staff_memberships.get().user == user


# --- ensure_database -------------------------------------------------------------------------------------


def test_ensure_database_is_a_no_op_on_sqlite(tmp_path):
    result = _manage({"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}, "ensure_database")
    assert result.returncode == 0, result.stderr
    assert "sqlite: nothing to create" in result.stdout


def test_ensure_database_creates_a_missing_postgres_database_once(postgres_only, settings):
    db = settings.DATABASES["default"]
    host, port, user = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432, db.get("USER") or "postgres"
    auth = f"{user}:{db['PASSWORD']}@" if db.get("PASSWORD") else f"{user}@"
    name = f"koinonia_ensure_{uuid.uuid4().hex[:10]}"
    url = f"postgres://{auth}{host}:{port}/{name}"
    admin = psycopg.connect(
        dbname="postgres", host=host, port=port, user=user, password=db.get("PASSWORD") or None, autocommit=True
    )
    try:
        first = _manage({"DATABASE_URL": url}, "ensure_database")
        assert first.returncode == 0, first.stderr
        assert f"Created database {name}" in first.stdout
        assert admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        again = _manage({"DATABASE_URL": url}, "ensure_database")
        assert again.returncode == 0 and f"Database {name} exists" in again.stdout
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


def test_ensure_database_says_plainly_when_the_server_is_unreachable():
    result = _manage({"DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/koinonia"}, "ensure_database")
    assert result.returncode != 0
    assert "Could not make sure database koinonia exists" in result.stderr


# --- key formats -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ([GOOD_KEY], None),
        ([GOOD_KEY, validation.DEVELOPMENT_FIELD_ENCRYPTION_KEY], None),  # rotation: any number of keys
        ([GOOD_KEY.replace("+", "-").replace("/", "_")], None),  # URL-safe alphabet too
        (["0123456789abcdef0123456789abcdef"], "decodes to 24 bytes, not 32"),  # hex, 16 bytes' worth
        (["c2VjcmV0"], "decodes to 6 bytes"),
        ([GOOD_KEY, "not a key!"], "entry 2 is not base64"),
        ([GOOD_KEY[:-2]], "decodes to 31 bytes"),  # truncated in a copy-paste
        ([GOOD_KEY[:-3]], "is not base64"),
        ([], "empty"),
        ([" "], "empty"),
    ],
)
def test_field_encryption_key_format(keys, problem):
    problems = validation.field_encryption_key_problems(keys)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0], problems


def test_a_key_the_format_accepts_is_one_the_cipher_uses_in_either_alphabet(settings):
    from churches import crypto

    settings.FIELD_ENCRYPTION_KEYS = [GOOD_KEY]
    token = crypto.encrypt("+13125550100")
    settings.FIELD_ENCRYPTION_KEYS = [GOOD_KEY.replace("+", "-").replace("/", "_")]
    assert crypto.decrypt(token) == "+13125550100"


def test_phone_hash_key_rules():
    assert validation.phone_hash_key_problems("   ") == ["PHONE_HASH_KEY is empty."]
    assert validation.phone_hash_key_problems("short") == []  # development and tests may use anything
    assert "at least 16" in validation.phone_hash_key_problems("short", production=True)[0]
    assert (
        "development key"
        in validation.phone_hash_key_problems(validation.DEVELOPMENT_PHONE_HASH_KEY, production=True)[0]
    )
    assert validation.phone_hash_key_problems("x" * 16, production=True) == []


def test_malformed_keys_are_system_check_errors_in_every_settings_module(settings):
    call_command("check")  # the suite's own keys are fine
    settings.FIELD_ENCRYPTION_KEYS = ["c2VjcmV0"]
    settings.PHONE_HASH_KEY = ""
    with pytest.raises(SystemCheckError) as exc_info:
        call_command("check")
    assert "koinonia.E001" in str(exc_info.value) and "koinonia.E002" in str(exc_info.value)
    assert "32 random bytes" in str(exc_info.value)  # the hint says what the format is


def test_check_and_migrate_stop_on_a_malformed_key_under_the_embedded_default(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "FIELD_ENCRYPTION_KEYS": "0123456789abcdef"}
    for command in ("check", "migrate"):
        result = _manage(env, command)
        assert result.returncode != 0, command
        assert "koinonia.E001" in result.stderr and "FIELD_ENCRYPTION_KEYS entry 1" in result.stderr
        assert "Applying" not in result.stdout


PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "koinonia.settings.production",
    "SECRET_KEY": "s" * 20 + "-a-production-secret-key-long-and-random-4b1d9c",
    "FIELD_ENCRYPTION_KEYS": GOOD_KEY,
    "PHONE_HASH_KEY": "a-phone-hash-key-of-some-length",
    "ALLOWED_HOSTS": "app.koinonia.example",
    "SMS_PROVIDER": "telnyx",
    "DATABASE_URL": "sqlite:////tmp/koinonia-first-run-check.sqlite3",
}


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("FIELD_ENCRYPTION_KEYS", "0123456789abcdef0123456789abcdef", "decodes to 24 bytes, not 32"),
        ("FIELD_ENCRYPTION_KEYS", f"{GOOD_KEY},{validation.DEVELOPMENT_FIELD_ENCRYPTION_KEY}", "development key"),
        ("PHONE_HASH_KEY", validation.DEVELOPMENT_PHONE_HASH_KEY, "development key"),
        ("PHONE_HASH_KEY", "short", "at least 16"),
    ],
)
def test_production_settings_refuse_malformed_keys_while_loading(variable, value, expected):
    assert _manage(PRODUCTION_ENV, "check", "--deploy", "--fail-level", "WARNING").returncode == 0  # the baseline
    result = _manage({**PRODUCTION_ENV, variable: value}, "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and variable in result.stderr and expected in result.stderr


# --- make run: one Ctrl-C stops everything ---------------------------------------------------------------


def test_ctrl_c_on_make_run_stops_web_worker_and_beat_without_sigkill():
    """What ``make run`` runs (``python -m koinonia.devrun start -p PORT``) on its own SQLite file, broker
    folder and port: once all three are up, SIGINT (Ctrl-C) must end every process by itself."""
    scratch = Path(tempfile.mkdtemp(prefix="koinonia-run-"))
    broker = scratch / "broker"
    for folder in (broker / "processed", broker / "control", scratch / "media"):
        folder.mkdir(parents=True)
    port = free_port()
    env = {
        "DATABASE_URL": f"sqlite:///{scratch / 'db.sqlite3'}",
        "CELERY_FILESYSTEM_BROKER_DIR": str(broker),
        "MEDIA_ROOT": str(scratch / "media"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # as the Makefile exports it
        "PYTHONUNBUFFERED": "1",
    }
    migrated = _manage(env, "migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_"))}
    log_path = scratch / "run.log"
    with open(log_path, "wb") as log:
        run = subprocess.Popen(
            [sys.executable, "-m", "koinonia.devrun", "start", "-p", str(port)],
            cwd=ROOT,
            env={**clean, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our SIGINT is the only one it gets, as from a terminal
        )
    output = lambda: log_path.read_text(errors="replace")  # noqa: E731

    def web_answers() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_until(
            lambda: web_answers() and "celery@" in output() and " ready." in output() and "beat: Starting" in output(),
            timeout=120,
            interval=0.5,
            what=f"web, worker and beat to start (log: {log_path})",
        )
        assert run.poll() is None, output()
        run.send_signal(signal.SIGINT)
        # honcho's grace period is 30 s (koinonia/devrun.py); a clean stop takes about five.
        run.wait(timeout=90)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    text = output()
    assert "SIGINT received" in text
    assert "SIGKILL" not in text, text[-3000:]
    for name in ("web.1", "worker.1", "beat.1"):
        assert f"{name} stopped" in text, text[-3000:]
    assert "Warm shutdown" in text  # the worker finished its work rather than being cut off
    assert "Traceback" not in text and "exited with 'signal" not in text, text[-3000:]
    assert run.returncode == 130  # honcho's answer to SIGINT, after every child stopped
