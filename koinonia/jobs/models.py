"""Background work as support sees it (written by ``koinonia.jobs.monitor``): task failures, periodic job runs,
beat heartbeats. Platform rows, outside any church. The tables keep the names they had in the messaging app."""

from django.db import models
from django.utils import timezone


class TaskFailure(models.Model):
    """A Celery task that failed for good (the broker keeps no record). Arguments and messages are
    summarized and scrubbed: no phone numbers here."""

    task_name = models.CharField(max_length=200)
    task_id = models.CharField(max_length=64, blank=True)
    args_summary = models.TextField(blank=True)
    exception_type = models.CharField(max_length=200)
    exception_message = models.TextField(blank=True)
    traceback = models.TextField(blank=True, help_text="The last lines of the traceback.")
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # The support page's "recent failures" and pruning by age.
        db_table = "messaging_taskfailure"
        indexes = [models.Index(fields=["-occurred_at"], name="taskfailure_recent")]

    def __str__(self) -> str:
        return f"{self.task_name}: {self.exception_type}"


class PeriodicJobRun(models.Model):
    """One run of a job that celery-beat scheduled (recorded for every task beat sends)."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        OK = "ok", "Succeeded"
        FAILED = "failed", "Failed"

    job = models.CharField(max_length=200, help_text="The task name.")
    task_id = models.CharField(max_length=64, blank=True)
    scheduled_by = models.CharField(max_length=200, blank=True, help_text="The beat instance (host:pid) that sent it.")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.RUNNING)
    detail = models.TextField(blank=True)

    class Meta:
        # The support page's "last run of each job", and pruning by age.
        db_table = "messaging_periodicjobrun"
        indexes = [models.Index(fields=["job", "-started_at"], name="periodicjobrun_job_recent")]

    def __str__(self) -> str:
        return f"{self.job} at {self.started_at:%Y-%m-%d %H:%M:%S}"


class BeatHeartbeat(models.Model):
    """Written by the celery-beat process itself each time it sends a periodic task: the last tick of
    each beat instance, whether or not any worker picks the task up."""

    instance = models.CharField(max_length=200, unique=True, help_text="host:pid of the beat process.")
    started_at = models.DateTimeField(default=timezone.now)
    last_tick_at = models.DateTimeField(default=timezone.now)
    last_task = models.CharField(max_length=200, blank=True)
    ticks = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "messaging_beatheartbeat"

    def __str__(self) -> str:
        return self.instance


class BackgroundJobs(PeriodicJobRun):
    """Support's "Background jobs" page in the admin (queues, beat, periodic jobs, failures)."""

    class Meta:
        proxy = True
        verbose_name = "background jobs"
        verbose_name_plural = "background jobs"
