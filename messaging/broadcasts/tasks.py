"""Thin, idempotent Celery tasks over the pipeline. Ids in, never model instances."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from messaging.broadcasts import fair, pipeline, services
from messaging.broadcasts.delivery import BATCH_SCHEDULED_KEY, apply_pending_events, apply_status_batch
from messaging.broadcasts.models import Message, ProviderEvent, Recipient

logger = logging.getLogger(__name__)


def _dispatch(message_id: int) -> None:
    """Start as many parallel senders as the queue warrants (claims use SKIP LOCKED, so extra
    senders only find nothing to do)."""
    Message.objects.filter(pk=message_id).update(last_dispatched_at=timezone.now())
    message = Message.objects.filter(pk=message_id).values("queued_count").first()
    if not message:
        return
    batches = -(-max(message["queued_count"], 1) // getattr(settings, "SEND_BATCH_SIZE", 64))
    for _ in range(max(1, min(batches, getattr(settings, "SEND_PARALLELISM", 2)))):
        send_message.delay(message_id)


@shared_task(acks_late=True)
def prepare_message(message_id: int) -> None:
    message = services.message_prepare(message_id=message_id)
    if message is not None and message.status == Message.Status.SENDING:
        _dispatch(message_id)


@shared_task(acks_late=True)
def count_message_audience(message_id: int) -> None:
    services.message_count_audience(message_id=message_id)


@shared_task(acks_late=True)
def send_message(message_id: int | None = None) -> str:
    """Serve every sending broadcast in fair turns (``fair.run_fair_sending``), not only ``message_id``:
    the id says which broadcast asked for a sender. Returns that broadcast's state: "done", "waiting"
    (held or backing-off rows remain) or "more" (budget spent, a successor carries on)."""
    state = fair.run_fair_sending()
    if state == "more":  # time budget spent: yield the worker, carry on in a fresh task
        try:
            send_message.delay(message_id)
        except Exception as exc:  # broker down: the rows are in the database, the sweeper re-dispatches
            logger.warning(
                "could not enqueue the next send task; the sweeper will",
                extra={"message_id": message_id, "error": repr(exc)},
            )
        return state
    if message_id is None:
        return "done"
    if not Message.objects.filter(pk=message_id, status=Message.Status.SENDING).exists():
        return "done"
    return "done" if pipeline.finish_if_done(message_id=message_id) else "waiting"


@shared_task(acks_late=True)
def apply_status_events() -> int:
    """Apply stored delivery callbacks in batches until none are waiting (queue ``webhooks``)."""
    from django.core.cache import cache

    cache.delete(BATCH_SCHEDULED_KEY)
    applied = 0
    while batch := apply_status_batch():
        applied += batch
    return applied


@shared_task
def sweep() -> dict:
    """Runs every SWEEP_INTERVAL_SECONDS (celery-beat, 15 s by default). Finds everything that should be
    moving and isn't: expired leases, messages never prepared or never dispatched, due scheduled messages,
    held recipients whose time has come, callbacks waiting for their send result. Safe to run twice at once."""
    now = timezone.now()
    stats = {}
    # 1. Leases that ran out (a killed worker): back to the queue.
    stats["leases_released"] = Recipient.objects.filter(status=Recipient.Status.SENDING, claimed_until__lt=now).update(
        status=Recipient.Status.QUEUED, claimed_until=None
    )
    # 2. Scheduled messages that are due, and queued messages whose prepare task was lost.
    stale = now - timedelta(seconds=getattr(settings, "SWEEP_GRACE_SECONDS", 60))
    to_prepare = Message.objects.filter(
        Q(status=Message.Status.SCHEDULED, scheduled_at__lte=now)
        | Q(status=Message.Status.QUEUED, created_at__lt=stale),
        prepared_at__isnull=True,
    ).values_list("pk", flat=True)[:500]
    for message_id in to_prepare:
        prepare_message.delay(message_id)
    stats["prepared"] = len(to_prepare)
    # 3. Sending messages with due recipients that no worker has touched lately. A sending task touches
    # ``last_dispatched_at`` at every batch and every lease renewal, so a message quiet for a whole
    # lease has no live sender (killed, or its follow-up task lost with the broker).
    quiet_since = now - timedelta(seconds=getattr(settings, "SEND_LEASE_SECONDS", 30))
    sending = (
        Message.objects.filter(status=Message.Status.SENDING)
        .filter(
            Q(last_dispatched_at__isnull=True)
            | Q(last_dispatched_at__lt=quiet_since)
            | Q(
                pk__in=Recipient.objects.filter(status=Recipient.Status.QUEUED, send_after__lte=now).values(
                    "message_id"
                )
            )
        )
        .values_list("pk", flat=True)[:500]
    )
    # Send tasks serve every sending message in turns (fair.py), so while any of them is alive (some
    # message was served within a lease) a waiting message is in line and needs no task of its own:
    # one more is enough. Only when none is alive does each message get its senders again.
    senders_alive = Message.objects.filter(status=Message.Status.SENDING, last_dispatched_at__gte=quiet_since).exists()
    dispatched = 0
    for message_id in sending:
        if not pipeline.finish_if_done(message_id=message_id):
            if senders_alive and dispatched:
                continue
            _dispatch(message_id)
            dispatched += 1
    stats["dispatched"] = dispatched
    # 4. Callbacks that arrived before their send result and were not picked up; give up after a day.
    stats["events_applied"] = apply_pending_events(older_than=now - timedelta(seconds=30))
    ProviderEvent.objects.filter(outcome=ProviderEvent.Outcome.PENDING, received_at__lt=now - timedelta(days=1)).update(
        outcome=ProviderEvent.Outcome.UNMATCHED, processed_at=now
    )
    if any(stats.values()):
        logger.info("sweep", extra=stats)
    return stats


# --- Welcomes --------------------------------------------------------------------------------------


@shared_task
def send_welcome(church_id: int, member_ids: list[int]) -> int | None:
    from messaging.broadcasts.welcome import welcome_send

    message = welcome_send(church_id=church_id, member_ids=member_ids)
    return message.pk if message is not None else None
