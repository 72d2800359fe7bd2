"""Billing's background work, handed to Celery after the current transaction commits — by task name.

``billing/tasks.py`` calls into ``usage``, ``webhooks`` and ``notifications``; those (and ``services``)
must in turn enqueue tasks. Naming the task instead of importing ``billing.tasks`` keeps the imports
pointing one way (tasks → services → enqueue), so billing has no import cycle. ``BillingConfig.ready``
imports ``billing.tasks``, so the names are registered in every process: the task's own ``apply_async``
runs (routes, eager mode in tests), not a bare ``send_task``."""

from celery import signature
from django.db import transaction


def _after_commit(task: str, *args) -> None:
    transaction.on_commit(lambda: signature(f"billing.tasks.{task}", args=args).apply_async())


def stripe_event_process_later(event_pk: int) -> None:
    _after_commit("process_webhook_stripe_event", event_pk)


def overage_report_later(usage_period_id: int) -> None:
    _after_commit("report_overage", usage_period_id)


def meter_report_send_later(report_id: int) -> None:
    _after_commit("send_meter_report", report_id)


def billing_email_send_later(church_id: int, kind: str, used: int | None = None) -> None:
    _after_commit("send_billing_email", church_id, kind, used)
