"""The rollup: recompute a church's DailyStat rows for some days from the raw tables with a few grouped
queries, and upsert them. Readers (page, API) never aggregate raw rows.

Where each figure comes from (all days in the church's time zone):
- sent / delivered / failed / segments: the broadcasts' live counters (``Message``), on the day the
  broadcast started sending (``prepared_at``, else ``created_at``), and on its branch when its audience
  is exactly one branch (``audience.budget_branch_id``, as budgets charge it). ``sent`` = handed to the
  carrier and not failed (``sent_count + delivered_count``: the counters hold current states).
- failed_by_reason: the failed recipients of those broadcasts, grouped by reason (``recipient_message_order``
  index; only broadcasts whose ``failed_count`` is above zero are read).
- opt_outs / opt_ins: the ConsentEvent ledger; replies: inbound ConversationMessages; new_members:
  ``Member.created_at`` — each on its member's branch as well as the church's.
- cost_cents: segments at the plan's per-segment price (its overage rate, the price of a text beyond the
  allowance), rounded up per row; 0 when the plan has no per-segment price (``cost_basis`` says so).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Count, Max, Q
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from analytics.models import DailyStat, RefreshMark
from billing import selectors as billing_selectors
from churches.models import Branch, Church, ConsentEvent, Member
from conversations.models import ConversationMessage
from messaging.broadcasts.audience import budget_branch_id
from messaging.broadcasts.models import Message, Recipient

COUNTERS = ("sent", "delivered", "failed", "opt_outs", "opt_ins", "replies", "new_members", "segments")
UNFINISHED = [Message.Status.SCHEDULED, Message.Status.QUEUED, Message.Status.SENDING]
# Two concurrent refreshes of one church run one after the other (a transaction-scoped advisory lock):
# the second recomputes from what the first committed, and neither deletes the other's rows.
_LOCK_NAMESPACE = 0x414E4C59  # "ANLY"
UNKNOWN_REASON = "Unknown reason"


def price_per_1000_cents(*, church: Church) -> int | None:
    """The plan's price of 1,000 segments (its overage rate); None when the plan has none."""
    plan = billing_selectors.subscription_get(church=church).plan
    return plan.overage_cents_per_1000


def cost_cents(segments: int, per_1000: int | None) -> int:
    if not segments or not per_1000:
        return 0
    return -(-segments * per_1000 // 1000)


def _reason(code: str, reason: str) -> str:
    return (reason or "").strip() or (f"Error {code}" if code else UNKNOWN_REASON)


def _bounds(days: list[dt.date], tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(days[0], dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(days[-1] + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return start, end


@transaction.atomic
def daily_stats_refresh(*, church: Church, days: Iterable[dt.date]) -> int:
    """Recompute ``church``'s rows for ``days`` (whole-church rows always, branch rows where something
    happened) and upsert them; rows of those days nothing touched any more are deleted. Idempotent.
    Returns the number of rows written."""
    wanted = sorted(set(days))
    if not wanted:
        return 0
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, church.pk])
    tz = ZoneInfo(church.timezone)
    start, end = _bounds(wanted, tz)
    wanted_set = set(wanted)
    branch_ids = set(Branch.objects.for_church(church).values_list("id", flat=True))
    figures: dict[tuple[int | None, dt.date], dict] = defaultdict(lambda: dict.fromkeys(COUNTERS, 0))
    reasons: dict[tuple[int | None, dt.date], dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def scopes(branch_id: int | None) -> tuple[int | None, ...]:
        return (None, branch_id) if branch_id in branch_ids else (None,)

    def add(branch_id: int | None, day: dt.date, field: str, amount: int) -> None:
        if day not in wanted_set or not amount:
            return
        for scope in scopes(branch_id):
            figures[(scope, day)][field] += amount

    # 1. Broadcasts, by the day they started sending (one row per broadcast, never per recipient).
    started = Coalesce("prepared_at", "created_at")
    messages = (
        Message.objects.for_church(church)
        .annotate(started=started)
        .filter(started__gte=start, started__lt=end)
        .annotate(day=TruncDate("started", tzinfo=tz))
        .values_list("id", "day", "audience", "sent_count", "delivered_count", "failed_count", "segments_sent")
    )
    attributed: dict[int, tuple[int | None, dt.date]] = {}
    for message_id, day, audience, sent, delivered, failed, segments in messages:
        branch_id = budget_branch_id(audience or {})
        add(branch_id, day, "sent", sent + delivered)
        add(branch_id, day, "delivered", delivered)
        add(branch_id, day, "failed", failed)
        add(branch_id, day, "segments", segments)
        if failed:
            attributed[message_id] = (branch_id, day)

    # 2. Why they failed: failed recipients of the broadcasts above that have any.
    if attributed:
        failures = (
            Recipient.objects.for_church(church)
            .filter(message_id__in=list(attributed), status=Recipient.Status.FAILED)
            .values("message_id", "error_code", "error_reason")
            .annotate(n=Count("id"))
            .order_by()
        )
        for row in failures:
            branch_id, day = attributed[row["message_id"]]
            if day in wanted_set:
                for scope in scopes(branch_id):
                    reasons[(scope, day)][_reason(row["error_code"], row["error_reason"])] += row["n"]

    # 3. Consent changes, replies and new members, grouped by day and the member's branch.
    consent = (
        ConsentEvent.objects.for_church(church)
        .filter(created_at__gte=start, created_at__lt=end)
        .filter(kind__in=[ConsentEvent.Kind.OPT_OUT, ConsentEvent.Kind.OPT_IN])
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day", "kind", "member__branch_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in consent:
        field = "opt_outs" if row["kind"] == ConsentEvent.Kind.OPT_OUT else "opt_ins"
        add(row["member__branch_id"], row["day"], field, row["n"])
    replies = (
        ConversationMessage.objects.for_church(church)
        .filter(direction=ConversationMessage.Direction.INBOUND, created_at__gte=start, created_at__lt=end)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day", "conversation__member__branch_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in replies:
        add(row["conversation__member__branch_id"], row["day"], "replies", row["n"])
    joined = (
        Member.objects.for_church(church)
        .filter(created_at__gte=start, created_at__lt=end)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day", "branch_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in joined:
        add(row["branch_id"], row["day"], "new_members", row["n"])

    # 4. Upsert: every day's whole-church row (zeros too: "nothing happened" is a figure), branch rows
    # where something happened; then drop rows of these days this run did not write (stale branches).
    per_1000 = price_per_1000_cents(church=church)
    now = timezone.now()
    for day in wanted:
        figures.setdefault((None, day), dict.fromkeys(COUNTERS, 0))
    rows = [
        DailyStat(
            church=church,
            branch_id=branch_id,
            branch_key=branch_id or 0,
            day=day,
            failed_by_reason=dict(sorted(reasons.get((branch_id, day), {}).items())),
            cost_cents=cost_cents(values["segments"], per_1000),
            updated_at=now,
            **values,
        )
        for (branch_id, day), values in figures.items()
    ]
    DailyStat.objects.bulk_create(
        rows,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["church", "branch_key", "day"],
        update_fields=[*COUNTERS, "failed_by_reason", "cost_cents", "updated_at", "branch"],
    )
    DailyStat.objects.for_church(church).filter(day__in=wanted).exclude(updated_at=now).delete()
    return len(rows)


def local_today(church: Church, now: dt.datetime | None = None) -> dt.date:
    return (now or timezone.now()).astimezone(ZoneInfo(church.timezone)).date()


# --- the beat: which churches had something happen since the last tick ------------------------------

# Append-only tables read by primary-key range from the last id seen (RefreshMark).
_APPEND_ONLY = {
    "consent": (ConsentEvent, Q(kind__in=[ConsentEvent.Kind.OPT_OUT, ConsentEvent.Kind.OPT_IN])),
    "replies": (ConversationMessage, Q(direction=ConversationMessage.Direction.INBOUND)),
    "members": (Member, Q()),
    "messages": (Message, Q()),
}


def _new_rows_churches(source: str, since: dt.datetime) -> tuple[set[int], int | None]:
    """Churches with rows past the mark (on the first run: created since ``since``), and the new mark."""
    model, condition = _APPEND_ONLY[source]
    mark = RefreshMark.objects.filter(source=source).values_list("last_id", flat=True).first()
    # The top id first: rows committed while we read are seen by the next tick, never skipped.
    top = model._default_manager.aggregate(top=Max("id"))["top"]
    if top is None or (mark is not None and top <= mark):
        return set(), None
    rows = model._default_manager.filter(condition, id__lte=top)
    rows = rows.filter(id__gt=mark) if mark is not None else rows.filter(created_at__gte=since)
    return set(rows.values_list("church_id", flat=True).distinct()), top


def daily_stats_refresh_recent(*, now: dt.datetime | None = None, late_hours: int = 48) -> dict[int, int]:
    """The beat: refresh today and yesterday (each church's own) for churches where something happened
    since the last tick, plus the start days of broadcasts still sending or finished in the last
    ``late_hours`` (delivery reports arrive after the last text is sent). Returns {church id: rows}."""
    now = now or timezone.now()
    since = now - dt.timedelta(hours=late_hours)
    marks: dict[str, int] = {}
    church_ids: set[int] = set()
    for source in _APPEND_ONLY:
        found, top = _new_rows_churches(source, since)
        church_ids |= found
        if top is not None:
            marks[source] = top
    # Broadcasts whose counters may still move: unfinished ones (the small ``message_unfinished`` partial
    # index) and those finished lately (a scan of the broadcasts table: one row per broadcast).
    live = Message.objects.filter(Q(status__in=UNFINISHED) | Q(completed_at__gte=since)).values_list(
        "church_id", "prepared_at", "created_at"
    )
    started_at: dict[int, list[dt.datetime]] = defaultdict(list)
    for church_id, prepared_at, created_at in live:
        started_at[church_id].append(prepared_at or created_at)
        church_ids.add(church_id)
    written: dict[int, int] = {}
    for church in Church.objects.filter(pk__in=church_ids).order_by("pk"):
        today = local_today(church, now)
        days = {today, today - dt.timedelta(days=1)}
        tz = ZoneInfo(church.timezone)
        days |= {moment.astimezone(tz).date() for moment in started_at.get(church.pk, ()) if moment <= now}
        written[church.pk] = daily_stats_refresh(church=church, days=days)
    for source, top in marks.items():
        RefreshMark.objects.update_or_create(source=source, defaults={"last_id": top, "updated_at": now})
    return written


def daily_stats_backfill(*, church: Church, days: int, chunk: int = 31) -> int:
    """Recompute the last ``days`` days (today included), a month per transaction."""
    today = local_today(church)
    all_days = [today - dt.timedelta(days=offset) for offset in range(days)]
    written = 0
    for first in range(0, len(all_days), chunk):
        written += daily_stats_refresh(church=church, days=all_days[first : first + chunk])
    return written
