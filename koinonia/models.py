"""The project package's own models: background-job monitoring (``koinonia/jobs/models.py``), gathered here
because Django loads an app's models from this module."""

from koinonia.jobs.models import BackgroundJobs, BeatHeartbeat, PeriodicJobRun, TaskFailure

__all__ = ["BackgroundJobs", "BeatHeartbeat", "PeriodicJobRun", "TaskFailure"]
