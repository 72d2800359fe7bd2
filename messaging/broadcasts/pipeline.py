"""The send pipeline: claim a batch of recipients under a lease, send them with many requests in
flight under the segment rate limits, write the results back set-based, and keep counts current.

The database is the outbox. A claimed row has ``status='sending'`` and ``claimed_until``; the sending
task renews that lease while it works (every third of SEND_LEASE_SECONDS), so the lease can be short: a
worker that dies stops renewing, its lease runs out within SEND_LEASE_SECONDS and the sweeper puts the
rows back in the queue. A row is only moved on from ``sending`` by the worker whose lease
(``claimed_until`` value) it still carries.

Each provider hand-off is written back (status ``sent`` + provider message id) in small groups, at
most SEND_FLUSH_SIZE results or SEND_FLUSH_SECONDS old, so a re-run after a crash resends only what was
in flight or in the group being written. A dropped database connection is reconnected and the write
retried (``_db_retry``): the writes are guarded by the lease, so a retry of one that had committed
changes nothing.
"""

import logging
import queue
import random
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from churches.models import Church, Member, SmsStatus
from koinonia import events, metrics
from koinonia.bulk import bulk_update_rows
from koinonia.hooks import segments_sent
from messaging.broadcasts import event_data, ratelimit
from messaging.broadcasts.audience import budget_branch_id
from messaging.broadcasts.models import Message, Recipient
from messaging.broadcasts.quiet_hours import next_send_time
from messaging.broadcasts.services import render_body
from messaging.providers import PermanentSendError, TransientSendError, get_provider
from messaging.segments import segment_info

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
DB_RETRY_SECONDS = 30  # how long a sending task waits out a lost database connection before giving up


def _setting(name: str, default):
    return getattr(settings, name, default)


def _lease_seconds() -> float:
    return _setting("SEND_LEASE_SECONDS", 30)


def _db_retry(fn, *args, **kwargs):
    """Run ``fn``, reconnecting and retrying while the database connection is lost (a restart, a
    failover, a terminated backend). Only outside a transaction: each call is its own unit of work."""
    deadline = time.monotonic() + DB_RETRY_SECONDS
    delay = 0.2
    while True:
        try:
            return fn(*args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            if connection.in_atomic_block or time.monotonic() > deadline:
                raise
            logger.warning("database connection lost; reconnecting", extra={"error": repr(exc)})
            connection.close()  # the next query opens a fresh connection
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


@dataclass
class Claimed:
    id: int
    member_id: int | None
    phone: str
    first_name: str
    last_name: str
    timezone: str
    subscribed: bool
    attempts: int


@dataclass
class Outcome:
    recipient_id: int
    status: str  # sent | failed | skipped | retry | held
    provider_message_id: str = ""
    segments: int = 0
    error_code: str = ""
    error_reason: str = ""
    send_after: datetime | None = None
    halt: bool = False  # a failure of our account or number: stop the whole broadcast


@dataclass
class Batch:
    message: Message
    church: Church
    lease: datetime
    rows: list[Claimed] = field(default_factory=list)
    unconfirmed: list[datetime] = field(default_factory=list)  # renewals sent, not confirmed (connection lost)


def claim_batch(*, message: Message, size: int) -> Batch:
    """Lease up to ``size`` due, queued recipients of ``message``. SKIP LOCKED lets many workers claim
    from one message at once without waiting on each other (PostgreSQL; SQLite serializes writers)."""
    now = timezone.now()
    # A distinct lease value per claim, so a late writer can recognise rows it no longer owns.
    lease = now + timedelta(seconds=_lease_seconds(), microseconds=random.randint(0, 999_999))
    with transaction.atomic():
        ids = list(
            Recipient.objects.select_for_update(skip_locked=True)
            .filter(message=message, status=Recipient.Status.QUEUED)
            .filter(Q(send_after__isnull=True) | Q(send_after__lte=now))
            .order_by("id")
            .values_list("id", flat=True)[:size]
        )
        if ids:
            Recipient.objects.filter(id__in=ids).update(
                status=Recipient.Status.SENDING, claimed_until=lease, attempts=F("attempts") + 1
            )
    batch = Batch(message=message, church=message.church, lease=lease)
    if not ids:
        return batch
    rows = Recipient.objects.filter(id__in=ids).values_list("id", "member_id", "phone", "attempts")
    members = {
        m["id"]: m
        for m in Member.objects.filter(id__in=[r[1] for r in rows if r[1]]).values(
            "id", "first_name", "last_name", "timezone", "sms_status"
        )
    }
    for rid, member_id, phone, attempts in rows:
        member = members.get(member_id) or {}
        batch.rows.append(
            Claimed(
                id=rid,
                member_id=member_id,
                phone=phone,
                first_name=member.get("first_name", ""),
                last_name=member.get("last_name", ""),
                timezone=member.get("timezone") or message.church.timezone,
                subscribed=member.get("sms_status") == SmsStatus.SUBSCRIBED,
                attempts=attempts,
            )
        )
    return batch


def _backoff(attempts: int, retry_after: float | None) -> timedelta:
    if retry_after:
        return timedelta(seconds=min(retry_after, 3600))
    base = _setting("SEND_RETRY_BASE_SECONDS", 5.0)
    return timedelta(seconds=min(600, base * 2 ** (attempts - 1)) * random.uniform(0.8, 1.2))


def _send_one(
    row: Claimed,
    *,
    provider,
    message: Message,
    church: Church,
    webhook_url: str | None,
    halted: threading.Event,
    lease_lost: threading.Event,
) -> Outcome:
    if lease_lost.is_set():  # swept and maybe re-claimed by another worker: not ours to send any more
        return Outcome(row.id, "lost")
    if halted.is_set():  # the account or number was refused: don't try, put it back for halt_message
        return Outcome(row.id, "held")
    if not row.subscribed:
        return Outcome(row.id, "skipped", error_reason="Opted out before the text was sent.")
    now = timezone.now()
    held_until = next_send_time(
        now=now, tz_name=row.timezone, quiet_start=church.quiet_hours_start, quiet_end=church.quiet_hours_end
    )
    if held_until is not None:
        if message.expires_at and held_until > message.expires_at:
            return Outcome(
                row.id, "skipped", error_reason="Quiet hours at the member's location until the message expired."
            )
        return Outcome(row.id, "held", send_after=held_until)
    body = render_body(message.body, first_name=row.first_name, last_name=row.last_name, church_name=church.name)
    segments = segment_info(body).segments
    try:
        ratelimit.wait_for_capacity(
            provider=provider.name,
            sender_number=message.sender.phone_number,
            segments=segments,
            registered=bool(message.sender.campaign_id),  # 10DLC: loaded with the message, no extra query
        )
        result = provider.send(
            from_number=message.sender.phone_number,
            to_number=row.phone,
            body=body,
            media_urls=message.media_urls,
            webhook_url=webhook_url,
        )
    except PermanentSendError as exc:
        if exc.sender_level:
            halted.set()
        return Outcome(row.id, "failed", error_code=exc.code, error_reason=exc.reason, halt=exc.sender_level)
    except TransientSendError as exc:
        return _retry_or_fail(row, exc.reason, exc.retry_after)
    except Exception as exc:  # Redis down under the rate limiter, a bug: never lose the row
        # Our own trouble is not the recipient's: put the row back without spending one of its attempts.
        logger.warning("send failed on our side; will retry", extra={"recipient": row.id, "error": repr(exc)})
        return Outcome(row.id, "held", send_after=timezone.now() + _backoff(1, None))
    return Outcome(row.id, "sent", provider_message_id=result.provider_message_id, segments=result.segments or segments)


def _retry_or_fail(row: Claimed, reason: str, retry_after: float | None) -> Outcome:
    if row.attempts >= MAX_ATTEMPTS:
        return Outcome(
            row.id, "failed", error_code="gave_up", error_reason=f"Gave up after {row.attempts} tries: {reason}"
        )
    return Outcome(
        row.id, "retry", error_reason=reason, send_after=timezone.now() + _backoff(row.attempts, retry_after)
    )


def webhook_url_for(provider_name: str) -> str | None:
    base = settings.PUBLIC_BASE_URL
    return {"telnyx": f"{base}/hooks/telnyx/", "twilio": f"{base}/hooks/twilio/status/"}.get(provider_name)


def _send_one_gated(unwritten: threading.Semaphore, row: Claimed, **kwargs) -> Outcome:
    """``_send_one`` once a slot among the in-flight-or-unwritten results is free (see send_batch); the
    slot is given back by send_batch once the outcome is written, or here when there is nothing to write."""
    lease_lost = kwargs["lease_lost"]
    while not unwritten.acquire(timeout=0.5):
        if lease_lost.is_set():
            return Outcome(row.id, "lost")
    outcome = _send_one(row, **kwargs)
    if outcome.status == "lost":
        unwritten.release()
    return outcome


def send_batch(batch: Batch, *, executor: ThreadPoolExecutor) -> None:
    """Send a claimed batch with many requests in flight, writing results back in small groups as they
    complete and renewing the lease while any row is unwritten."""
    message = batch.message
    provider = get_provider(message.sender.provider)
    webhook_url = webhook_url_for(provider.name)
    halted, lease_lost = threading.Event(), threading.Event()
    flush_size = _setting("SEND_FLUSH_SIZE", 32)
    flush_seconds = _setting("SEND_FLUSH_SECONDS", 0.5)
    # Back-pressure: a thread may start a hand-off only while fewer than flush_size + concurrency results
    # are in flight or unwritten. Without it the threads keep sending while a slow write-back runs, and a
    # worker killed then would leave far more handed-off-but-unrecorded texts to be sent again.
    unwritten = threading.Semaphore(flush_size + _setting("SEND_CONCURRENCY", 32))
    # Completed hand-offs arrive on a queue (a done-callback per future): ``concurrent.futures.wait`` over
    # the pending set re-arms a waiter on every pending future at each call, O(n²) per batch.
    completed: queue.SimpleQueue = queue.SimpleQueue()
    for row in batch.rows:
        executor.submit(
            _send_one_gated,
            unwritten,
            row,
            provider=provider,
            message=message,
            church=batch.church,
            webhook_url=webhook_url,
            halted=halted,
            lease_lost=lease_lost,
        ).add_done_callback(completed.put)
    pending = len(batch.rows)
    renew_every = _lease_seconds() / 3
    done_buffer: list[Outcome] = []
    oldest = 0.0  # when the oldest unwritten result came in
    halt_reason = ""
    renewed_at = time.monotonic()
    while pending or done_buffer:
        if pending:
            done = _completed_futures(completed, timeout=min(0.25, flush_seconds))
            pending -= len(done)
            if done and not done_buffer:
                oldest = time.monotonic()
            done_buffer.extend(o for o in (future.result() for future in done) if o.status != "lost")
        halt_reason = halt_reason or next((o.error_reason for o in done_buffer if o.halt), "")
        if done_buffer and (
            len(done_buffer) >= flush_size or not pending or time.monotonic() - oldest >= flush_seconds
        ):
            _db_retry(record_outcomes, message=message, lease=batch.lease, outcomes=done_buffer)
            for _ in done_buffer:
                unwritten.release()
            provider.sends_recorded([o.provider_message_id for o in done_buffer if o.status == "sent"])
            metrics.count_sends(provider=provider.name, kind="broadcast", outcomes=(o.status for o in done_buffer))
            done_buffer = []
        if pending and time.monotonic() - renewed_at > renew_every:
            # A slow provider or a throttled account must not let the lease run out under a live worker:
            # the sweeper would hand the rows to another worker and they would be sent twice.
            if not _db_retry(renew_lease, batch):
                # Too late (the database was away longer than the lease): the sweeper has released our
                # rows. Send nothing more of this batch; what is in flight is written back if still ours.
                logger.warning("send lease lost; leaving the rest of the batch", extra={"message_id": message.pk})
                lease_lost.set()
            renewed_at = time.monotonic()
    if halt_reason:
        _db_retry(halt_message, message_id=message.pk, reason=halt_reason)


def _completed_futures(completed: queue.SimpleQueue, *, timeout: float) -> list:
    """The futures completed so far: waits up to ``timeout`` for the first, then takes what else is there."""
    try:
        done = [completed.get(timeout=timeout)]
    except queue.Empty:
        return []
    while True:
        try:
            done.append(completed.get_nowait())
        except queue.Empty:
            return done


def renew_lease(batch: Batch) -> bool:
    """Extend the lease of the batch's rows still in flight and note on the message that a worker is
    at it (the sweeper re-dispatches only messages no worker has touched for a lease). Idempotent, so
    a retry after a lost connection is safe: it also matches the lease it may already have written.
    False when none of the rows is ours any more."""
    new_lease = timezone.now() + timedelta(seconds=_lease_seconds(), microseconds=random.randint(0, 999_999))
    renewed = Recipient.objects.filter(
        message_id=batch.message.pk,
        claimed_until__in=[batch.lease, *batch.unconfirmed],
        status=Recipient.Status.SENDING,
    )
    batch.unconfirmed.append(new_lease)
    count = renewed.update(claimed_until=new_lease)
    batch.lease, batch.unconfirmed = new_lease, []
    Message.objects.filter(pk=batch.message.pk).update(last_dispatched_at=timezone.now())
    return count > 0


def halt_message(*, message_id: int, reason: str) -> None:
    """Stop a broadcast that cannot succeed (our credentials, number or registration were refused):
    every recipient would fail the same way, so skip the rest and say why."""
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(pk=message_id, status=Message.Status.SENDING).first()
        if message is None:
            return
        skipped = Recipient.objects.filter(message_id=message_id, status=Recipient.Status.QUEUED).update(
            status=Recipient.Status.SKIPPED, error_reason=f"Broadcast stopped: {reason}", send_after=None
        )
        message.status = Message.Status.FAILED
        message.status_detail = reason
        message.completed_at = timezone.now()
        message.save(update_fields=["status", "status_detail", "completed_at"])
        Message.objects.filter(pk=message_id).update(
            queued_count=F("queued_count") - skipped, skipped_count=F("skipped_count") + skipped
        )
        events.emit(
            church=message.church_id,
            type="message.completed",
            data=lambda: event_data.message_data(Message.objects.get(pk=message_id)),
        )
    logger.error("broadcast halted", extra={"message_id": message_id, "reason": reason})


_FINAL = {"sent": Recipient.Status.SENT, "failed": Recipient.Status.FAILED, "skipped": Recipient.Status.SKIPPED}


def record_outcomes(*, message: Message, lease: datetime, outcomes: Iterable[Outcome]) -> None:
    """Write a chunk of results back set-based and move the message's counters in the same
    transaction. Rows whose lease changed (swept and re-claimed) are left alone."""
    outcomes = list(outcomes)
    now = timezone.now()
    objs = [
        {
            "id": o.recipient_id,
            "status": _FINAL.get(o.status, Recipient.Status.QUEUED),
            "claimed_until": None,
            "send_after": None if o.status in _FINAL else o.send_after,
            "provider_message_id": o.provider_message_id,
            "segments": o.segments or None,
            "error_code": o.error_code,
            "error_reason": o.error_reason,
            "sent_at": now if o.status == "sent" else None,
            "failed_at": now if o.status == "failed" else None,
        }
        for o in outcomes
    ]
    by_status = {key: [o for o in outcomes if o.status == key] for key in ("sent", "failed", "skipped")}
    segments_total = sum(o.segments for o in by_status["sent"])
    with transaction.atomic():
        owned = Recipient.objects.filter(claimed_until=lease, status=Recipient.Status.SENDING)
        updated = bulk_update_rows(
            owned,
            objs,
            [
                "status",
                "claimed_until",
                "send_after",
                "provider_message_id",
                "segments",
                "error_code",
                "error_reason",
                "sent_at",
                "failed_at",
            ],
            batch_size=500,
        )
        # Held rows (quiet hours) were not a real attempt.
        held_ids = [o.recipient_id for o in outcomes if o.status == "held"]
        if held_ids:
            Recipient.objects.filter(id__in=held_ids).update(attempts=F("attempts") - 1)
        if updated == len(objs):
            finished = sum(len(v) for v in by_status.values())
            Message.objects.filter(pk=message.pk).update(
                queued_count=F("queued_count") - finished,
                sent_count=F("sent_count") + len(by_status["sent"]),
                failed_count=F("failed_count") + len(by_status["failed"]),
                skipped_count=F("skipped_count") + len(by_status["skipped"]),
                segments_sent=F("segments_sent") + segments_total,
            )
        else:  # a lease was lost under us: recount rather than guess
            recount_message(message_id=message.pk)
        if by_status["failed"]:
            failed_ids = [o.recipient_id for o in by_status["failed"]]
            events.emit_many(
                church=message.church_id,
                type="recipient.failed",
                items=event_data.failed_sends(message=message, recipient_ids=failed_ids, failed_at=now),
            )
        if segments_total:
            church_id = message.church_id
            transaction.on_commit(
                lambda: segments_sent.send(
                    sender=Message,
                    church_id=church_id,
                    segments=segments_total,
                    message_id=message.pk,
                    branch_id=budget_branch_id(message.audience),
                    occurred_at=now,
                )
            )
    if by_status["sent"]:
        from messaging.broadcasts.delivery import apply_pending_events

        apply_pending_events(provider_message_ids=[o.provider_message_id for o in by_status["sent"]])


def recount_message(*, message_id: int) -> None:
    """Recompute a message's counters from its recipients (repair path; not on the hot path)."""
    counts = dict(
        Recipient.objects.filter(message_id=message_id)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    queued = counts.get("queued", 0) + counts.get("sending", 0)
    Message.objects.filter(pk=message_id).update(
        recipient_count=sum(counts.values()),
        queued_count=queued,
        sent_count=counts.get("sent", 0),
        delivered_count=counts.get("delivered", 0),
        failed_count=counts.get("failed", 0),
        skipped_count=counts.get("skipped", 0),
    )


def finish_if_done(*, message_id: int) -> bool:
    """Mark a sending message sent once nothing is queued or in flight."""
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(pk=message_id, status=Message.Status.SENDING).first()
        if message is None:
            return False
        if Recipient.objects.filter(
            message_id=message_id, status__in=[Recipient.Status.QUEUED, Recipient.Status.SENDING]
        ).exists():
            return False
        message.status = Message.Status.SENT
        message.completed_at = timezone.now()
        message.save(update_fields=["status", "completed_at"])
        events.emit(church=message.church_id, type="message.completed", data=event_data.message_data(message))
        return True


def _sending_message(message_id: int) -> Message | None:
    message = Message.objects.select_related("church", "sender").filter(pk=message_id).first()
    if message is None or message.status != Message.Status.SENDING:
        return None
    # A worker is at it: the sweeper leaves the message alone while this stays fresh.
    Message.objects.filter(pk=message_id).update(last_dispatched_at=timezone.now())
    return message


def run_sending(*, message_id: int, time_budget: float | None = None) -> str:
    """Claim and send batches of one message until nothing is due or the time budget is spent.
    Returns "done", "waiting" (held or backing-off rows remain) or "more" (budget spent)."""
    budget = time_budget if time_budget is not None else _setting("SEND_TASK_TIME_BUDGET", 60)
    size = _setting("SEND_BATCH_SIZE", 64)
    deadline = time.monotonic() + budget
    with ThreadPoolExecutor(max_workers=_setting("SEND_CONCURRENCY", 32), thread_name_prefix="send") as executor:
        while time.monotonic() < deadline:
            message = _db_retry(_sending_message, message_id)
            if message is None:
                return "done"
            batch = _db_retry(claim_batch, message=message, size=size)
            if not batch.rows:
                return "done" if _db_retry(finish_if_done, message_id=message_id) else "waiting"
            send_batch(batch, executor=executor)
    return "more"
