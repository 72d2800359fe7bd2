"""Messaging's background work, handed to Celery by task name — after the current transaction commits where
the work depends on what it wrote.

Each context's ``tasks.py`` calls the services that do the work; those services must in turn start more
work (a broadcast accepted → prepare it; a callback stored → apply the batch; a campaign live → link the
numbers). Naming the task instead of importing ``tasks`` keeps imports pointing one way (tasks → services →
enqueue), so messaging has no import cycle. ``MessagingConfig.ready`` imports every context's tasks, so the
names are registered in every process and the task's own ``apply_async`` runs (routes, eager mode in
tests), not a bare ``send_task``."""

from celery import signature
from django.conf import settings
from django.db import transaction


def _send(task: str, *args, **options) -> None:
    signature(f"messaging.{task}", args=args).apply_async(**options)


def _after_commit(task: str, *args, **options) -> None:
    transaction.on_commit(lambda: _send(task, *args, **options))


# --- broadcasts ---


def message_prepare_later(message_id: int) -> None:
    _after_commit("broadcasts.tasks.prepare_message", message_id)


def message_prepare_now(message_id: int) -> None:
    """For callers outside a transaction of their own (the scheduled-message release)."""
    _send("broadcasts.tasks.prepare_message", message_id)


def message_count_audience_later(message_id: int) -> None:
    _after_commit("broadcasts.tasks.count_message_audience", message_id)


def status_batch_apply_soon() -> None:
    """Delivery callbacks were stored: apply them in one batch shortly (queue ``webhooks``)."""
    _send("broadcasts.tasks.apply_status_events", countdown=getattr(settings, "STATUS_BATCH_DELAY_SECONDS", 0.3))


# --- numbers (10DLC) ---


def tendlc_campaign_submit_later(church_id: int) -> None:
    _after_commit("numbers.tasks.tendlc_submit_campaign", church_id)


def tendlc_numbers_assign_later(campaign_id: int) -> None:
    _after_commit("numbers.tasks.tendlc_assign_numbers", campaign_id)


def tendlc_church_poll_later(church_id: int, seconds: float) -> None:
    _after_commit("numbers.tasks.poll_tendlc_church", church_id, countdown=seconds)
