"""Background work as support sees it: task failures (the broker keeps none), the runs of the jobs
celery-beat schedules, beat's own heartbeat, and queue depths.

Celery signals feed the records (connected in ``MessagingConfig.ready``):

- ``beat_init`` marks the celery-beat process; from then on each task it publishes carries the header
  ``koinonia_beat`` (host:pid) and refreshes that instance's ``BeatHeartbeat`` row;
- ``task_prerun`` / ``task_postrun`` in a worker record a ``PeriodicJobRun`` for every task carrying
  that header (so any job added to CELERY_BEAT_SCHEDULE is covered, with no code in the job itself);
- ``task_failure`` records a ``TaskFailure``: arguments summarized and messages scrubbed of phone
  numbers and email addresses, because these rows are read by support, outside any church's data.

A recorder never breaks the work it records: database trouble is logged and ignored.
"""

import logging
import os
import re
import socket
import traceback
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections, connection
from django.db.models import F
from django.utils import timezone

from koinonia.jobs.models import BeatHeartbeat, PeriodicJobRun, TaskFailure
from koinonia.logging import scrub_personal_data

logger = logging.getLogger(__name__)

BEAT_HEADER = "koinonia_beat"
QUEUES = ("priority", "sends", "webhooks", "default")
TASK_FAILURE_RETENTION = timedelta(days=30)
JOB_RUN_RETENTION = timedelta(days=7)
_PRUNE_EVERY_SECONDS = 3600
_TRACEBACK_LINES = 40
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,39}$")

_beat_instance: str | None = None


def scrub(text: str) -> str:
    """``text`` with anything that looks like a phone number or an email address replaced."""
    return scrub_personal_data(text)


def _summary(value, depth: int = 0) -> str:
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str):
        # Identifiers ("telnyx", "sends") help; free text may hold a member's number or name.
        if _IDENTIFIER.match(value) and not any(c.isdigit() for c in value):
            return repr(value)
        return f"str(len={len(value)})"
    if isinstance(value, dict):
        keys = ", ".join(str(key)[:30] for key in list(value)[:10])
        return f"dict(keys=[{keys}])"
    if isinstance(value, list | tuple | set):
        if depth == 0 and len(value) <= 5:
            return "[" + ", ".join(_summary(item, depth + 1) for item in value) + "]"
        return f"{type(value).__name__}(len={len(value)})"
    return type(value).__name__


def summarize_args(args, kwargs) -> str:
    """Task arguments for support: ids and identifiers as they are, everything else by shape."""
    parts = [_summary(arg) for arg in (args or ())]
    parts += [f"{key}={_summary(value)}" for key, value in (kwargs or {}).items()]
    return scrub(", ".join(parts))[:1000]


# --- Beat ----------------------------------------------------------------------------------------


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def on_beat_init(sender=None, **kwargs) -> None:
    global _beat_instance
    _beat_instance = instance_name()


def on_before_task_publish(sender=None, headers=None, **kwargs) -> None:
    """In the beat process: mark the task as beat's and note the tick."""
    if _beat_instance is None or headers is None:
        return
    headers[BEAT_HEADER] = _beat_instance
    try:
        if not connection.in_atomic_block:  # beat is long-lived: drop a connection the server closed
            close_old_connections()
        beat_tick_record(instance=_beat_instance, task_name=str(sender or ""))
    except Exception:
        logger.warning("could not record the beat heartbeat", exc_info=True)


def beat_tick_record(*, instance: str, task_name: str) -> None:
    now = timezone.now()
    updated = BeatHeartbeat.objects.filter(instance=instance).update(
        last_tick_at=now, last_task=task_name[:200], ticks=F("ticks") + 1
    )
    if not updated:
        BeatHeartbeat.objects.get_or_create(
            instance=instance, defaults={"started_at": now, "last_tick_at": now, "last_task": task_name, "ticks": 1}
        )


# --- Worker --------------------------------------------------------------------------------------


def _beat_mark(request) -> str | None:
    # A worker merges message headers into the request; ``apply(headers=...)`` keeps them apart.
    return getattr(request, BEAT_HEADER, None) or (getattr(request, "headers", None) or {}).get(BEAT_HEADER)


def on_task_prerun(sender=None, task_id=None, task=None, **kwargs) -> None:
    scheduled_by = _beat_mark(task.request) if task is not None else None
    if not scheduled_by:
        return
    try:
        run = PeriodicJobRun.objects.create(job=task.name, task_id=task_id or "", scheduled_by=str(scheduled_by)[:200])
        task.request.koinonia_job_run_id = run.pk
    except Exception:
        logger.warning("could not record a periodic job run", exc_info=True)


def on_task_postrun(sender=None, task=None, retval=None, state=None, **kwargs) -> None:
    run_id = getattr(task.request, "koinonia_job_run_id", None) if task is not None else None
    if not run_id:
        return
    failed = state != "SUCCESS"
    if failed:
        detail = f"{type(retval).__name__}: {retval}" if isinstance(retval, BaseException) else str(state)
    else:
        detail = "" if retval is None else str(retval)
    try:
        PeriodicJobRun.objects.filter(pk=run_id).update(
            finished_at=timezone.now(),
            outcome=PeriodicJobRun.Outcome.FAILED if failed else PeriodicJobRun.Outcome.OK,
            detail=scrub(detail)[:2000],
        )
    except Exception:
        logger.warning("could not finish a periodic job run record", exc_info=True)


def on_task_failure(sender=None, task_id=None, exception=None, args=None, kwargs=None, einfo=None, **extra) -> None:
    tb = getattr(einfo, "tb", None) or getattr(exception, "__traceback__", None)
    lines = "".join(traceback.format_tb(tb)).splitlines()[-_TRACEBACK_LINES:] if tb else []
    try:
        TaskFailure.objects.create(
            task_name=getattr(sender, "name", str(sender))[:200],
            task_id=(task_id or "")[:64],
            args_summary=summarize_args(args, kwargs),
            exception_type=f"{type(exception).__module__}.{type(exception).__qualname__}"[:200],
            exception_message=scrub(str(exception))[:2000],
            traceback=scrub("\n".join(lines)),
        )
    except Exception:
        logger.warning("could not record a task failure", exc_info=True)


def connect_signals() -> None:
    from celery import signals

    signals.beat_init.connect(on_beat_init, dispatch_uid="koinonia.jobs.monitor.beat_init")
    signals.before_task_publish.connect(on_before_task_publish, dispatch_uid="koinonia.jobs.monitor.before_publish")
    signals.task_prerun.connect(on_task_prerun, dispatch_uid="koinonia.jobs.monitor.prerun")
    signals.task_postrun.connect(on_task_postrun, dispatch_uid="koinonia.jobs.monitor.postrun")
    signals.task_failure.connect(on_task_failure, dispatch_uid="koinonia.jobs.monitor.failure")


def jobs_prune(*, now=None) -> None:
    """Keep the records small: at most once an hour, drop what is older than its retention."""
    if not cache.add("messaging:jobs-pruned", 1, _PRUNE_EVERY_SECONDS):
        return
    now = now or timezone.now()
    TaskFailure.objects.filter(occurred_at__lt=now - TASK_FAILURE_RETENTION).delete()
    PeriodicJobRun.objects.filter(started_at__lt=now - JOB_RUN_RETENTION).delete()
    BeatHeartbeat.objects.filter(last_tick_at__lt=now - JOB_RUN_RETENTION).delete()


# --- Reads for the support page ------------------------------------------------------------------


def queue_depths() -> dict[str, int | None]:
    """Messages waiting in each queue (plus ``unacked``: taken by a worker, not yet done). None when
    the broker can't be asked."""
    url = settings.CELERY_BROKER_URL or ""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return _redis_depths(url)
    if url.startswith("filesystem://"):
        return _filesystem_depths()
    return dict.fromkeys((*QUEUES, "unacked"))


def _redis_depths(url: str) -> dict[str, int | None]:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        # kombu keeps a list per queue and priority step: "<queue>" for 0, "<queue>\x06\x16<n>" above.
        pipe = client.pipeline(transaction=False)
        for queue in QUEUES:
            for step in ("", "\x06\x163", "\x06\x166", "\x06\x169"):
                pipe.llen(queue + step)
        pipe.hlen("unacked")
        counts = pipe.execute()
    except redis.RedisError:
        logger.warning("could not read queue depths", exc_info=True)
        return dict.fromkeys((*QUEUES, "unacked"))
    finally:
        client.close()
    depths = {queue: sum(counts[i * 4 : i * 4 + 4]) for i, queue in enumerate(QUEUES)}
    depths["unacked"] = counts[-1]
    return depths


def _filesystem_depths() -> dict[str, int | None]:
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", ""))
    depths: dict[str, int | None] = dict.fromkeys(QUEUES, 0)
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                for queue in QUEUES:
                    if entry.name.endswith(f".{queue}.msg"):
                        depths[queue] += 1
    except OSError:
        depths = dict.fromkeys(QUEUES)
    depths["unacked"] = None
    return depths


def periodic_job_status() -> list[dict]:
    """Each job in the beat schedule with its last run, last success and last failure."""
    jobs = sorted({entry["task"] for entry in getattr(settings, "CELERY_BEAT_SCHEDULE", {}).values()})
    jobs += sorted(set(PeriodicJobRun.objects.values_list("job", flat=True).distinct()) - set(jobs))
    rows = []
    for job in jobs:
        runs = PeriodicJobRun.objects.filter(job=job).order_by("-started_at")
        rows.append(
            {
                "job": job,
                "last": runs.first(),
                "last_ok": runs.filter(outcome=PeriodicJobRun.Outcome.OK).first(),
                "last_failed": runs.filter(outcome=PeriodicJobRun.Outcome.FAILED).first(),
            }
        )
    return rows
