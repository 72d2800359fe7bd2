"""The Celery app. Periodic jobs are declared in settings.CELERY_BEAT_SCHEDULE and stored by
django-celery-beat; production runs exactly one beat under single-beat, supervised by
``koinonia.beat_supervisor`` (see Procfile and docs/operations.md)."""

import contextlib
import os

from celery import Celery
from celery.signals import (
    before_task_publish,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_process_shutdown,
)

from koinonia import db_router, metrics
from koinonia.logging import request_id_var

# Production unless the environment says otherwise (as wsgi.py): a worker started bare must not run on
# the public development keys. Procfile.dev, the tests' workers and the bench set it explicitly. Importing
# any ``koinonia`` module imports this one (koinonia/__init__.py), so ``python -m koinonia.devrun`` reads
# SETTINGS_MODULE_DEFAULTED to give ``make run``'s processes the development settings instead.
SETTINGS_MODULE_DEFAULTED = "DJANGO_SETTINGS_MODULE" not in os.environ
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "koinonia.settings.production")

app = Celery("koinonia")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# --- Logging: workers and beat write the same JSON lines as the web, with the request id ----------------
# Left alone, Celery empties the root logger's handlers and installs its own plain-text formatter, so
# worker lines lose the JSON shape, the request id and every ``extra=``. A receiver on setup_logging
# tells Celery not to configure logging at all; we apply Django's LOGGING instead (LOG_LEVEL governs,
# the worker's --loglevel does not). The setting is belt and braces for code paths that skip the signal.
app.conf.worker_hijack_root_logger = False


@setup_logging.connect
def _use_django_logging(**_):
    from django.conf import settings
    from django.utils.log import configure_logging

    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)


_REQUEST_ID_TOKEN = "koinonia_request_id_token"


@before_task_publish.connect
def _carry_request_id(headers=None, **_):
    # Tasks enqueued during a request log with that request's id, so one id follows the work.
    request_id = request_id_var.get()
    if headers is not None and request_id:
        headers["request_id"] = request_id


@task_prerun.connect
def _restore_request_id(task=None, **_):
    # Only a task that carries an id sets one: an eager task inside a request keeps the request's.
    request_id = getattr(task.request, "request_id", None) if task is not None else None
    if request_id:
        setattr(task.request, _REQUEST_ID_TOKEN, request_id_var.set(request_id))


@task_postrun.connect
def _forget_request_id(task=None, **_):
    # The pool process runs the next task in the same context: it must not inherit this one's id.
    token = getattr(task.request, _REQUEST_ID_TOKEN, None) if task is not None else None
    if token is not None:
        request_id_var.reset(token)
        setattr(task.request, _REQUEST_ID_TOKEN, None)


# --- Database: task work reads the primary -----------------------------------------------------------
# A worker never opts into replica reads (koinonia/db_router.py); an eager task run inside a request that
# reads the replica is put on the primary for its duration and the request's choice restored after.
_READ_TARGET_TOKEN = "koinonia_db_read_target_token"


@task_prerun.connect
def _read_primary(task=None, **_):
    if task is not None:
        setattr(task.request, _READ_TARGET_TOKEN, db_router.use_primary())


@task_postrun.connect
def _restore_read_target(task=None, **_):
    token = getattr(task.request, _READ_TARGET_TOKEN, None) if task is not None else None
    if token is not None:
        setattr(task.request, _READ_TARGET_TOKEN, None)
        # Set in another context (a pool thread) means nothing of a request's to restore.
        with contextlib.suppress(ValueError):
            db_router.restore(token)


# --- Metrics: how long tasks wait in each queue and run (koinonia/metrics.py) -----------------------


@before_task_publish.connect
def _stamp_sent_at(headers=None, **_):
    metrics.stamp_task_sent(headers)


@task_prerun.connect
def _task_started(task=None, **_):
    if task is not None:
        metrics.observe_task_start(task)


@task_postrun.connect
def _task_ended(task=None, **_):
    if task is not None:
        metrics.observe_task_end(task)


@worker_process_shutdown.connect
def _pool_child_gone(pid=None, **_):
    metrics.mark_process_dead(pid or os.getpid())
