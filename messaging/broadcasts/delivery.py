"""Delivery status, provider-neutral: callbacks (already verified and read by their provider's package
into a StatusUpdate) stored once (ProviderEvent), then applied to the Recipient with the same provider
message id. Statuses only move forward (a late "sent" never overwrites "delivered"); the message's
counters move in the same transaction."""

import logging
from collections import Counter
from collections.abc import Callable, Iterable

from django.core.cache import cache
from django.db import connections, router, transaction
from django.db.models import F
from django.utils import timezone

from koinonia.bulk import bulk_update_rows
from koinonia.events import emit_each
from koinonia.hooks import segments_failed
from messaging import enqueue
from messaging.broadcasts import event_data
from messaging.broadcasts.audience import budget_branch_id
from messaging.broadcasts.models import Message, ProviderEvent, Recipient
from messaging.providers import get_provider
from messaging.providers.events import DeliveryState, StatusUpdate

logger = logging.getLogger(__name__)

RANK = {
    Recipient.Status.QUEUED: 0,
    Recipient.Status.SENDING: 1,
    Recipient.Status.SENT: 2,
    Recipient.Status.DELIVERED: 3,
    Recipient.Status.FAILED: 3,
    Recipient.Status.SKIPPED: 3,
}
COUNTER = {
    Recipient.Status.QUEUED: "queued_count",
    Recipient.Status.SENDING: "queued_count",
    Recipient.Status.SENT: "sent_count",
    Recipient.Status.DELIVERED: "delivered_count",
    Recipient.Status.FAILED: "failed_count",
    Recipient.Status.SKIPPED: "skipped_count",
}

# The neutral states the providers map their words onto → the recipient's.
RECIPIENT_STATUS = {
    DeliveryState.SENT: Recipient.Status.SENT,
    DeliveryState.DELIVERED: Recipient.Status.DELIVERED,
    DeliveryState.FAILED: Recipient.Status.FAILED,
}


# Other senders of single texts (conversation replies, confirmations) register here to receive status
# updates for provider message ids that are not broadcast recipients. A listener returns True when it
# recognised the id. conversations registers one in its AppConfig.ready().
StatusListener = Callable[[StatusUpdate, str | None], bool]
_status_listeners: list[StatusListener] = []


def register_status_listener(listener: StatusListener) -> None:
    if listener not in _status_listeners:
        _status_listeners.append(listener)


def map_status(update: StatusUpdate) -> str | None:
    """Our status word (a Recipient.Status value) for a provider's, or None when not tracked."""
    state = get_provider(update.provider).delivery_state(update.provider_status)
    return RECIPIENT_STATUS.get(state) if state is not None else None


def _event_row(update: StatusUpdate, **fields) -> ProviderEvent:
    """The stored form of a callback (fields truncated to their columns)."""
    return ProviderEvent(
        provider=update.provider,
        event_id=update.event_id[:128],
        event_type=update.event_type[:64],
        provider_message_id=update.provider_message_id[:64],
        occurred_at=update.occurred_at,
        payload=update.payload or {},
        **fields,
    )


def accept_status(update: StatusUpdate) -> str:
    """The webhook path: verify (done by the view), store once, answer. A worker applies stored events
    in batches (``apply_status_batch``), so a burst of callbacks costs the web tier one insert each
    and the message's counter row one update per batch instead of one per callback. The events are
    the durable record: if the task is lost, the sweeper applies them."""
    if not _insert_once(_event_row(update)):
        return "duplicate"
    transaction.on_commit(_schedule_batch)
    return "accepted"


def _insert_once(event: ProviderEvent) -> bool:
    """INSERT … ON CONFLICT DO NOTHING: one statement (no savepoint, no error to catch on a duplicate),
    which is most of what a callback costs us. True when the event is new."""
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


BATCH_SCHEDULED_KEY = "messaging:status-batch-scheduled"


def _schedule_batch() -> None:
    # One batch task per moment, however many callbacks arrive: the task clears the key when it starts,
    # so callbacks stored after that schedule the next one.
    try:
        if cache.add(BATCH_SCHEDULED_KEY, 1, timeout=30):
            enqueue.status_batch_apply_soon()
    except Exception as exc:  # broker or cache down: the event is stored, and the sweeper applies it
        logger.warning("could not schedule status batch; the sweeper will apply it", extra={"error": repr(exc)})


def apply_status_batch(*, limit: int = 500) -> int:
    """Apply up to ``limit`` stored, not yet examined status events, oldest first, in one transaction
    and a fixed number of statements: the events and their recipients are locked, recipients move in
    memory, then one UPDATE writes every recipient, one every event, and one per message its counters.
    Events whose send result isn't recorded yet are marked examined and wait for ``apply_pending_events``."""
    now = timezone.now()
    deltas: dict[int, Counter] = {}
    with transaction.atomic():
        events = list(
            ProviderEvent.objects.select_for_update(skip_locked=True)
            .filter(outcome=ProviderEvent.Outcome.PENDING, processed_at__isnull=True)
            .order_by("occurred_at", "id")[:limit]
        )
        updates = [(event, update_from_stored(event)) for event in events]
        # Lock every recipient the batch touches up front, in id order: two batches (or a batch and
        # the send path) then always take locks in the same order and cannot deadlock.
        provider_ids = {update.provider_message_id for _, update in updates if update.provider_message_id}
        recipients = {
            r.provider_message_id: r
            for r in Recipient.objects.select_for_update().filter(provider_message_id__in=provider_ids).order_by("id")
        }
        moved: dict[int, Recipient] = {}
        examined: list[ProviderEvent] = []
        for event, update in updates:
            new_status = map_status(update)
            recipient = recipients.get(update.provider_message_id)
            if recipient is None:
                if _offer_to_listeners(event, update, new_status) == "pending":
                    event.processed_at, event.detail = now, "waiting for send result"
                    examined.append(event)
                continue
            event.outcome = _outcome_for(recipient, new_status)
            event.processed_at, event.detail = now, f"recipient {recipient.pk}"
            examined.append(event)
            if event.outcome == ProviderEvent.Outcome.APPLIED:
                step = _transition(recipient, update, new_status, save=False)
                deltas.setdefault(recipient.message_id, Counter()).update(step)
                moved[recipient.pk] = recipient
        bulk_update_rows(Recipient.objects.all(), list(moved.values()), TRANSITION_FIELDS)
        emit_each(items=event_data.recipient_events(moved.values()))
        bulk_update_rows(ProviderEvent.objects.all(), examined, ["outcome", "processed_at", "detail"])
        for message_id in sorted(deltas):  # a fixed order: concurrent batches never deadlock on messages
            _move_counters(message_id, deltas[message_id])
    return len(events)


def _locked_recipient(update: StatusUpdate) -> Recipient | None:
    if not update.provider_message_id:
        return None
    return Recipient.objects.select_for_update().filter(provider_message_id=update.provider_message_id).first()


def _outcome_for(recipient: Recipient | None, new_status: str | None) -> str:
    if recipient is not None and new_status is not None and RANK[new_status] > RANK[recipient.status]:
        return ProviderEvent.Outcome.APPLIED
    return ProviderEvent.Outcome.IGNORED


def _offer_to_listeners(event: ProviderEvent, update: StatusUpdate, new_status: str | None) -> str:
    for listener in _status_listeners:
        if listener(update, new_status):
            ProviderEvent.objects.filter(pk=event.pk).update(
                outcome=ProviderEvent.Outcome.APPLIED, processed_at=timezone.now(), detail="status listener"
            )
            return "applied"
    # Usually the callback beat our own write of the send result; applied when that lands.
    return "pending"


# Every field _transition may change: a batch writes them all in one statement.
TRANSITION_FIELDS = ["status", "last_event_at", "delivered_at", "failed_at", "error_code", "error_reason"]


def _transition(recipient: Recipient, update: StatusUpdate, new_status: str, *, save: bool = True) -> dict[str, int]:
    """Move the recipient forward (saved unless the caller writes it with others); returns the counter
    deltas for its message (the caller applies them last, so the message row's lock is held as
    briefly as possible)."""
    old_status = recipient.status
    recipient.status = new_status
    recipient.last_event_at = update.occurred_at or timezone.now()
    fields = ["status", "last_event_at"]
    if new_status == Recipient.Status.DELIVERED:
        recipient.delivered_at = recipient.last_event_at
        fields.append("delivered_at")
    elif new_status == Recipient.Status.FAILED:
        recipient.failed_at = recipient.last_event_at
        recipient.error_code = update.error_code[:32]
        reason = get_provider(update.provider).describe_error(update.error_code, update.error_detail)
        recipient.error_reason = reason if update.error_code else (update.error_detail or "Not delivered.")
        fields += ["failed_at", "error_code", "error_reason"]
    if save:
        recipient.save(update_fields=fields)
    deltas = Counter({COUNTER[old_status]: -1})
    deltas[COUNTER[new_status]] += 1
    if recipient.segments and not get_provider(update.provider).billed(update.provider_status):
        deltas["segments_sent"] -= recipient.segments
        _unbill(recipient)
    return dict(deltas)


def _move_counters(message_id: int, deltas: dict[str, int]) -> None:
    changes = {field: F(field) + delta for field, delta in deltas.items() if delta}
    if changes:
        Message.objects.filter(pk=message_id).update(**changes)


@transaction.atomic
def apply_event(event: ProviderEvent, update: StatusUpdate) -> str:
    """Apply a stored (pending) event: the path for callbacks that arrived before their send result."""
    new_status = map_status(update)
    recipient = _locked_recipient(update)
    if recipient is None:
        return _offer_to_listeners(event, update, new_status)
    outcome = _outcome_for(recipient, new_status)
    ProviderEvent.objects.filter(pk=event.pk).update(
        outcome=outcome, processed_at=timezone.now(), detail=f"recipient {recipient.pk}"
    )
    if outcome == ProviderEvent.Outcome.APPLIED:
        _move_counters(recipient.message_id, _transition(recipient, update, new_status))
        emit_each(items=event_data.recipient_events([recipient]))
    return outcome


def _unbill(recipient: Recipient) -> None:
    """Hand back (after commit) segments counted as sent that failed before reaching the carrier: to the
    branch the broadcast was charged to, and dated when they were counted, so they come off the same
    usage period and branch budget they went on. Rare (carrier-side refusals), so one small read for the
    branch per failed text is fine."""
    church_id, segments, message_id = recipient.church_id, recipient.segments, recipient.message_id
    audience = Message.objects.for_church(church_id).filter(pk=message_id).values_list("audience", flat=True).first()
    branch_id = budget_branch_id(audience or {})
    counted_at = recipient.sent_at or timezone.now()
    transaction.on_commit(
        lambda: segments_failed.send(
            sender=Message,
            church_id=church_id,
            segments=segments,
            message_id=message_id,
            branch_id=branch_id,
            occurred_at=counted_at,
        )
    )


def apply_pending_events(*, provider_message_ids: Iterable[str] | None = None, older_than=None) -> int:
    """Apply stored events that arrived before their send result, oldest first. Each event is locked
    (SKIP LOCKED) before its recipient, the same order as the batch path, and one a batch is already
    applying is left to it."""
    events = ProviderEvent.objects.filter(outcome=ProviderEvent.Outcome.PENDING)
    if provider_message_ids is not None:
        ids = [i for i in provider_message_ids if i]
        if not ids:
            return 0
        events = events.filter(provider_message_id__in=ids)
    if older_than is not None:
        events = events.filter(received_at__lt=older_than)
    applied = 0
    for pk in list(events.order_by("occurred_at", "id").values_list("pk", flat=True)[:5000]):
        with transaction.atomic():
            event = (
                ProviderEvent.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, outcome=ProviderEvent.Outcome.PENDING)
                .first()
            )
            if event is not None and apply_event(event, update_from_stored(event)) != "pending":
                applied += 1
    return applied


def update_from_stored(event: ProviderEvent) -> StatusUpdate:
    """A stored callback read again by its provider's package (the payload is kept as received)."""
    return get_provider(event.provider).parse_status(event.payload)
