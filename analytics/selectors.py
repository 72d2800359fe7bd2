"""What the page and the API read: a range of DailyStat rows (one indexed query), filled to every day,
with totals. Never raw recipients."""

from __future__ import annotations

import datetime as dt

from analytics.models import DailyStat
from analytics.services import COUNTERS, local_today, price_per_1000_cents
from churches.models import Branch, Church
from koinonia.tenancy import branch_limit

RANGES = (7, 30, 90)
DEFAULT_RANGE = 30


def delivery_rate(delivered: int, sent: int, failed: int) -> float | None:
    """Delivered out of everything that left (sent, which includes delivered, plus failed)."""
    total = sent + failed
    return round(delivered / total, 4) if total else None


def cost_basis(*, church: Church) -> tuple[int | None, str]:
    per_1000 = price_per_1000_cents(church=church)
    if per_1000 is None:
        return None, "Your plan has no per-text price, so cost shows as 0 (texts within the allowance are included)."
    return per_1000, f"Segments at your plan's price of {per_1000} cents per 1,000 (the rate beyond the allowance)."


def analytics_report(*, church: Church, days: int, branch: Branch | None = None, now=None) -> dict:
    """Daily series and totals over the last ``days`` days (today included, the church's time zone), for
    the whole church or one branch."""
    today = local_today(church, now)
    first = today - dt.timedelta(days=days - 1)
    fields = (*COUNTERS, "cost_cents")
    # Plain tuples, not model instances: up to 90 rows on every page view.
    limit = branch_limit(church)
    keys = [branch.pk] if branch else sorted(limit) if limit is not None else [0]
    rows = _rows_by_day(
        DailyStat.objects.for_church(church)
        .filter(branch_key__in=keys, day__gte=first, day__lte=today)
        .values_list("day", *fields, "failed_by_reason", "updated_at"),
        len(fields),
    )
    zero = (None, *(0 for _ in fields), {}, None)
    series = []
    totals = dict.fromkeys(fields, 0)
    by_reason: dict[str, int] = {}
    updated_at = None
    for offset in range(days):
        day = first + dt.timedelta(days=offset)
        row = rows.get(day, zero)
        point = dict(zip(fields, row[1:-2], strict=True))
        point["day"] = day
        point["failed_by_reason"] = row[-2] or {}
        point["delivery_rate"] = delivery_rate(point["delivered"], point["sent"], point["failed"])
        series.append(point)
        for field in fields:
            totals[field] += point[field]
        for reason, count in point["failed_by_reason"].items():
            by_reason[reason] = by_reason.get(reason, 0) + count
        if row[-1] is not None and (updated_at is None or row[-1] > updated_at):
            updated_at = row[-1]
    totals["delivery_rate"] = delivery_rate(totals["delivered"], totals["sent"], totals["failed"])
    per_1000, basis = cost_basis(church=church)
    return {
        "days": days,
        "first_day": first,
        "last_day": today,
        "branch": branch,
        "series": series,
        "totals": totals,
        "failed_by_reason": sorted(by_reason.items(), key=lambda item: (-item[1], item[0])),
        "price_per_1000_cents": per_1000,
        "cost_basis": basis,
        "updated_at": updated_at,
    }


def _rows_by_day(rows, width: int) -> dict:
    """One row per day. Several only for a branch-limited reader's "whole church" (their branches'
    rows, summed): figures added, failure reasons merged, the latest update kept."""
    by_day: dict = {}
    for row in rows:
        seen = by_day.get(row[0])
        if seen is None:
            by_day[row[0]] = row
            continue
        reasons = dict(seen[-2] or {})
        for reason, count in (row[-2] or {}).items():
            reasons[reason] = reasons.get(reason, 0) + count
        figures = tuple(a + b for a, b in zip(seen[1 : width + 1], row[1 : width + 1], strict=True))
        latest = max((t for t in (seen[-1], row[-1]) if t is not None), default=None)
        by_day[row[0]] = (row[0], *figures, reasons, latest)
    return by_day


def branch_choices(*, church: Church) -> list[tuple[int, str]]:
    return list(Branch.objects.for_church(church).order_by("name").values_list("id", "name"))
