"""Broadcast capacity shared fairly across churches: send tasks serve every sending message in turns.

Before, each broadcast got its own ``send_message`` tasks, each holding a worker slot for up to
SEND_TASK_TIME_BUDGET on one FIFO ``sends`` queue: a church sending 100,000 texts held every slot while a
church sending 50 waited behind it. Now a send task is a server of all ready work. Each turn it

1. picks the next message (``next_turn``): among sending messages with at least one due, queued
   recipient, the one whose **church** was served least recently, then the church's least recently
   served message, never-served first. The pick locks the message row (``FOR UPDATE … SKIP LOCKED``),
   stamps ``last_turn_at`` and commits, so concurrent tasks on any number of worker nodes take
   different messages and the stamp rotates everyone to the back of the line. When every ready
   message is locked at that instant (one broadcast running, its row busy with a write-back), the
   task serves it anyway rather than stopping: recipient claims are SKIP LOCKED, so senders sharing
   one message take different rows;
2. leases one small batch of it (SEND_BATCH_SIZE recipients, ``pipeline.claim_batch``: SKIP LOCKED
   leases, renewals, back-pressure, the sweeper and the lease-guarded write-back are unchanged), sends it
   under the same rate limits (``pipeline.send_batch``) and, if that was the tail, marks the message sent.

Every turn is the same quantum of recipients, so this is round-robin with equal quanta (deficit
round-robin with one batch per round): a new small broadcast is served within one turn of each busy
slot, a few seconds at most, however large the others. Per-sender and account limits stay exact (the
same token buckets). The pick is cheap: the outer scan reads the partial index of unfinished messages
(``message_unfinished``), the EXISTS probe reads ``recipient_claimable`` (queued rows by message), the
church's last turn ``message_sending_turns``; sending messages number in the hundreds or thousands,
not millions.
"""

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.utils import timezone

from messaging.broadcasts import pipeline
from messaging.broadcasts.models import Message, Recipient

logger = logging.getLogger(__name__)


def _ready_messages(now: datetime):
    due = Recipient.objects.filter(message_id=OuterRef("pk"), status=Recipient.Status.QUEUED).filter(
        Q(send_after__isnull=True) | Q(send_after__lte=now)
    )
    church_last_turn = (
        Message.objects.filter(church_id=OuterRef("church_id"), status=Message.Status.SENDING)
        .order_by(F("last_turn_at").desc(nulls_last=True))
        .values("last_turn_at")[:1]
    )
    return (
        Message.objects.filter(status=Message.Status.SENDING)
        .filter(Exists(due))
        .annotate(church_last_turn=Subquery(church_last_turn))
        .order_by(F("church_last_turn").asc(nulls_first=True), F("last_turn_at").asc(nulls_first=True), "id")
    )


def next_turn() -> int | None:
    """The id of the message to serve next (stamped as served now), or None when nothing is ready."""
    now = timezone.now()
    with transaction.atomic():
        message_id = (
            _ready_messages(now).select_for_update(skip_locked=True, of=("self",)).values_list("id", flat=True).first()
        )
        if message_id is not None:
            # A worker is at it: the sweeper leaves the message alone while last_dispatched_at stays fresh.
            Message.objects.filter(pk=message_id).update(last_turn_at=now, last_dispatched_at=now)
            return message_id
    # Every ready message is locked at this instant: another sender is picking it, or writing its results
    # back (record_outcomes moves the counters on the row). With one broadcast running that is nearly
    # always so, and stopping here left one sender doing all the work. Share it instead: claims of its
    # recipients are SKIP LOCKED, so two senders on one message take different rows.
    return _ready_messages(now).values_list("id", flat=True).first()


def run_fair_sending(*, time_budget: float | None = None, first: int | None = None) -> str:
    """Serve turns until nothing is ready ("idle") or the time budget is spent ("more").
    ``first``: a message to give the first turn (tests and direct calls); the rest go by ``next_turn``."""
    budget = time_budget if time_budget is not None else pipeline._setting("SEND_TASK_TIME_BUDGET", 60)
    size = pipeline._setting("SEND_BATCH_SIZE", 64)
    deadline = time.monotonic() + budget
    turns = served = 0
    state = "more"
    with ThreadPoolExecutor(
        max_workers=pipeline._setting("SEND_CONCURRENCY", 32), thread_name_prefix="send"
    ) as executor:
        while time.monotonic() < deadline:
            message_id, first = (first, None) if first is not None else (pipeline._db_retry(next_turn), None)
            if message_id is None:
                state = "idle"
                break
            served += serve_turn(message_id=message_id, size=size, executor=executor)
            turns += 1
    if turns:
        logger.info("send task served %d recipients in %d turns", served, turns, extra={"state": state})
    return state


def _has_queued(message_id: int) -> bool:
    return Recipient.objects.filter(message_id=message_id, status=Recipient.Status.QUEUED).exists()


def serve_turn(*, message_id: int, size: int, executor: ThreadPoolExecutor) -> int:
    """One batch of one message; marks the message sent when that was its tail. Returns rows sent."""
    message = pipeline._db_retry(pipeline._sending_message, message_id)
    if message is None:
        return 0
    batch = pipeline._db_retry(pipeline.claim_batch, message=message, size=size)
    if batch.rows:
        pipeline.send_batch(batch, executor=executor)
    # The tail (a short batch, or a full one that took the last queued rows): mark it sent. Each task checks
    # after its own write-back has committed, so the last one to finish sees it done. Without the second
    # case a broadcast of an exact multiple of the batch size would wait for the sweeper.
    if len(batch.rows) < size or not pipeline._db_retry(_has_queued, message_id):
        pipeline._db_retry(pipeline.finish_if_done, message_id=message_id)
    return len(batch.rows)
