"""The Celery app. Periodic jobs are declared in settings.CELERY_BEAT_SCHEDULE and stored by
django-celery-beat; production runs exactly one beat under single-beat (see Procfile)."""

import os

from celery import Celery
from celery.signals import before_task_publish, task_prerun

from koinonia.logging import request_id_var

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "koinonia.settings.base")

app = Celery("koinonia")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@before_task_publish.connect
def _carry_request_id(headers=None, **_):
    # Tasks enqueued during a request log with that request's id, so one id follows the work.
    if headers is not None and request_id_var.get():
        headers["request_id"] = request_id_var.get()


@task_prerun.connect
def _restore_request_id(task=None, **_):
    request_id_var.set(getattr(task.request, "request_id", None) or "")
