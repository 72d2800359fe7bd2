"""Inbound texts at carrier speed: the webhook stores the text once and answers; a worker applies the
stored texts in batches (as delivery reports are, ``messaging/broadcasts/delivery.py``).

The webhook's cost per text is the signature check, one ``INSERT … ON CONFLICT DO NOTHING`` (the raw
event, deduped on the provider's id, ``outcome="received"``) and a cache ``add`` that schedules at most one
batch at a time. Everything else — church by number, member by blind index, thread, consent ledger,
automatic replies, the staff notification — runs in ``inbound_batch_apply``, many texts per transaction.

The legal promise (an opt-out takes effect before the next hand-off to that number's provider) is kept
in the request: a text whose words alone make it an opt-out, opt-in or HELP (the classifier's keyword
and revocation rules never depend on anything but the text for an opt-out), or one the provider's own
keyword engine answered, takes the whole synchronous path (``inbound_receive``) and is applied before the
webhook answers 200. Opt-ins go the same way so a STOP and a START from one person keep their order. A
group keyword ("JOIN YOUTH", batched) applied after a later STOP does not re-subscribe (inbound.py).

The stored events are the durable record: a lost batch task or a killed worker leaves them "received",
and the beat's sweeper (``inbound_sweep``) applies them.
"""

import dataclasses
import logging
import time
from datetime import timedelta

from django.core.cache import cache
from django.db import connections, router, transaction
from django.utils import timezone

from conversations.consent_classifier import Intent, classify
from conversations.models import InboxSettings
from conversations.services.inbound import PROVIDER_AUTOREPLY_INTENT, inbound_apply, inbound_receive
from koinonia.bulk import bulk_update_rows
from messaging.models import ProviderEvent, SenderNumber
from messaging.providers.console import callbacks as console_callbacks
from messaging.providers.events import InboundText, MalformedPayload
from messaging.providers.telnyx import callbacks as telnyx_callbacks
from messaging.providers.twilio import callbacks as twilio_callbacks

logger = logging.getLogger(__name__)

Outcome = ProviderEvent.Outcome
INBOUND_EVENT_TYPE = "message.received"
BATCH_SCHEDULED_KEY = "conversations:inbound-batch-scheduled"
BATCH_TASK = "conversations.tasks.apply_inbound_events"
BATCH_SIZE = 25  # texts per transaction: a STOP waits at most one batch for a thread this batch locked
BATCH_TIME_BUDGET_S = 10.0  # one task applies batches this long, then hands over to a fresh task
SWEEP_AFTER_S = 10  # a stored text this old with no batch applying it is the sweeper's
# Intents that change consent: applied in the request, in arrival order (see the module docstring).
URGENT_INTENTS = {Intent.OPT_OUT, Intent.OPT_IN, Intent.HELP}
# One batch applies at a time (PostgreSQL advisory lock): two batches locking threads in different
# orders could deadlock, and one sender's texts stay in order.
BATCH_LOCK_KEY = 0x6B6F696E_0001
# A stored payload is read again by the package that read it in the webhook (kept as received).
READERS = {
    "telnyx": telnyx_callbacks.parse_inbound,
    "twilio": twilio_callbacks.parse_inbound,
    "console": console_callbacks.parse_inbound,  # support's simulated texts
}


def is_urgent(inbound: InboundText) -> bool:
    """Does this text change consent? Decided from its words alone (``opted_out=True``: a bare YES
    may be an opt-in, so it takes the synchronous path too; the path then decides with the real state)."""
    if inbound.provider_autoreply in PROVIDER_AUTOREPLY_INTENT:
        return True
    return classify(inbound.text, opted_out=True).intent in URGENT_INTENTS


def inbound_accept(*, inbound: InboundText) -> str:
    """The webhook's handler: "received" (stored, applied by a batch), "duplicate", or — for opt-outs,
    opt-ins and HELP — what the synchronous path did."""
    if is_urgent(inbound):
        return inbound_receive(inbound=inbound)
    if not _insert_once(inbound):
        return "duplicate"
    transaction.on_commit(schedule_batch)
    return "received"


def _insert_once(inbound: InboundText) -> bool:
    """One statement, no savepoint: INSERT … ON CONFLICT DO NOTHING. True when the text is new."""
    event = ProviderEvent(
        provider=inbound.provider,
        event_id=inbound.event_id[:128],
        event_type=INBOUND_EVENT_TYPE,
        provider_message_id=inbound.message_id[:64],
        occurred_at=inbound.occurred_at,
        payload=inbound.payload,
        outcome=Outcome.RECEIVED,
    )
    fields = [f for f in ProviderEvent._meta.concrete_fields if not f.primary_key]
    connection = connections[router.db_for_write(ProviderEvent)]
    qn = connection.ops.quote_name
    values = [f.get_db_prep_save(f.pre_save(event, True), connection) for f in fields]
    sql = (
        f"INSERT INTO {qn(ProviderEvent._meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({qn('provider')}, {qn('event_id')}) DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return cursor.rowcount == 1


def schedule_batch(countdown: float = 0.2) -> None:
    """One batch task per moment, however many texts arrive: the task clears the key when it starts, so
    texts stored after that schedule the next one. The task is named, not imported (tasks → services)."""
    from celery import signature

    try:
        if cache.add(BATCH_SCHEDULED_KEY, 1, timeout=30):
            signature(BATCH_TASK).apply_async(countdown=countdown)
    except Exception as exc:  # broker or cache down: the text is stored, and the sweeper applies it
        logger.warning("could not schedule the inbound batch; the sweeper will", extra={"error": repr(exc)})


def batch_started() -> None:
    cache.delete(BATCH_SCHEDULED_KEY)


def _batch_lock(connection) -> bool:
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [BATCH_LOCK_KEY])
        return bool(cursor.fetchone()[0])


def _stored_text(event: ProviderEvent) -> InboundText | None:
    try:
        inbound = READERS[event.provider](event.payload)
    except (MalformedPayload, KeyError, TypeError, ValueError):
        return None
    # When we received it, by our clock: inbound.py compares it with the consent ledger's times (a
    # keyword join applied after a later STOP must not re-subscribe), and a carrier's clock may differ.
    return dataclasses.replace(inbound, occurred_at=event.received_at)


def inbound_batch_apply(*, limit: int = BATCH_SIZE) -> int | None:
    """Apply up to ``limit`` stored texts, oldest first, in one transaction (each in a savepoint of its
    own, so one bad text is marked "error" and the rest apply). Numbers and inbox settings are read once
    per batch; every event's outcome is written by one UPDATE. None when another batch is applying."""
    connection = connections[router.db_for_write(ProviderEvent)]
    with transaction.atomic(using=connection.alias):
        if not _batch_lock(connection):
            return None
        events = list(
            ProviderEvent.objects.select_for_update(skip_locked=True)
            .filter(outcome=Outcome.RECEIVED)
            .order_by("id")[:limit]
        )
        if not events:
            return 0
        texts = [(event, _stored_text(event)) for event in events]
        numbers = {
            number.phone_number: number
            for number in SenderNumber.objects.select_related("church").filter(
                phone_number__in={inbound.to_number for _, inbound in texts if inbound is not None}
            )
        }
        inbox: dict[int, InboxSettings] = {}
        now = timezone.now()
        for event, inbound in texts:
            event.processed_at = now
            event.outcome, event.detail = _apply_one(event, inbound, numbers, inbox)
        bulk_update_rows(ProviderEvent.objects.all(), events, ["outcome", "processed_at", "detail"])
    return len(events)


def _apply_one(event, inbound, numbers, inbox) -> tuple[str, str]:
    if inbound is None:
        return Outcome.ERROR, "unreadable stored payload"
    number = numbers.get(inbound.to_number)
    if number is None:
        logger.warning("inbound text to a number no church owns", extra={"provider": inbound.provider})
        return Outcome.UNMATCHED, "unmatched"
    if number.church_id not in inbox:
        inbox[number.church_id], _ = InboxSettings.objects.get_or_create(church=number.church)
    try:
        with transaction.atomic():
            detail = inbound_apply(inbound=inbound, number=number, settings_row=inbox[number.church_id])
    except Exception as exc:  # one text's failure must not hold back the others; it stays visible
        logger.exception("inbound text could not be applied", extra={"event": event.pk})
        return Outcome.ERROR, f"error: {exc!r}"[:200]
    return Outcome.APPLIED, detail[:200]


def inbound_batches_apply(*, time_budget_s: float = BATCH_TIME_BUDGET_S) -> int:
    """Batches until none is full or the time budget is spent; then, if texts may remain, the next task
    is scheduled. Returns how many texts were applied."""
    started, applied = time.monotonic(), 0
    while True:
        count = inbound_batch_apply()
        if count is None:  # another batch holds the lock: look again shortly, in case it just finished
            schedule_batch(countdown=1.0)
            return applied
        applied += count
        if count < BATCH_SIZE:
            return applied
        if time.monotonic() - started > time_budget_s:
            schedule_batch(countdown=0)
            return applied


def inbound_sweep() -> int:
    """The beat's fallback: texts stored more than SWEEP_AFTER_S ago and still waiting (their task was
    lost, or the worker died mid-batch and its transaction rolled back) are applied now."""
    cutoff = timezone.now() - timedelta(seconds=SWEEP_AFTER_S)
    if not ProviderEvent.objects.filter(outcome=Outcome.RECEIVED, received_at__lt=cutoff).exists():
        return 0
    return inbound_batches_apply()
