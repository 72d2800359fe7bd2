"""Reads behind the directory pages: keyset-paginated member lists with a bounded count, CSV export
rows, branch and group lists with member counts, import jobs. (Plain reads; writes are services.)"""

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.db.models.functions import Lower

from churches.models import Branch, Church, Group, ImportJob, Member
from churches.selectors import MEMBER_SORTS, member_group_ids, member_search

MEMBER_PAGE_SIZE = 50
MEMBER_COUNT_BOUND = 10_000


@dataclass
class MemberPage:
    members: list[Member]
    next_cursor: str | None
    previous_cursor: str | None
    matching: int  # capped at MEMBER_COUNT_BOUND + 1: "more than 10,000"

    @property
    def matching_is_bounded(self) -> bool:
        return self.matching > MEMBER_COUNT_BOUND


def _cursor_encode(values: list) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _cursor_decode(cursor: str, fields: tuple[str, ...]) -> list | None:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError):
        return None
    if not isinstance(values, list) or len(values) != len(fields):
        return None
    decoded = []
    for name, value in zip(fields, values, strict=True):
        column = name.lstrip("-")
        if column == "created_at":
            try:
                value = datetime.fromisoformat(value)
            except (TypeError, ValueError):
                return None
        elif not isinstance(value, int if column == "id" else str):
            return None
        decoded.append(value)
    return decoded


def _keyset_after(fields: tuple[str, ...], values: list) -> Q:
    """Rows strictly after ``values`` in the order ``fields`` (all ascending or all descending).
    Spelled out as OR-ed prefixes plus a leading range on the first column so the index range scan
    starts at the cursor."""
    descending = fields[0].startswith("-")
    columns = [name.lstrip("-") for name in fields]
    beyond, at_least = ("lt", "lte") if descending else ("gt", "gte")
    condition = Q()
    for i, column in enumerate(columns):
        equal = {columns[j]: values[j] for j in range(i)}
        condition |= Q(**equal, **{f"{column}__{beyond}": values[i]})
    return Q(**{f"{columns[0]}__{at_least}": values[0]}) & condition


def member_page(
    *,
    church: Church,
    q: str = "",
    branch_id: int | None = None,
    group_id: int | None = None,
    sms_status: str | None = None,
    sort: str = "name",
    after: str = "",
    before: str = "",
    size: int = MEMBER_PAGE_SIZE,
) -> MemberPage:
    """One page of ``member_search`` by keyset (cost independent of depth) plus a bounded count:
    a fixed number of queries however many members match."""
    fields = MEMBER_SORTS.get(sort, MEMBER_SORTS["name"])
    matching_qs = member_search(
        church=church, q=q, branch_id=branch_id, group_id=group_id, sms_status=sms_status, sort=sort
    ).select_related("branch")
    matching = matching_qs.order_by()[: MEMBER_COUNT_BOUND + 1].count()
    backwards = bool(before) and not after
    cursor_values = _cursor_decode(before if backwards else after, fields) if (after or before) else None
    rows_qs = matching_qs
    if cursor_values is not None:
        if backwards:
            reversed_fields = tuple(name[1:] if name.startswith("-") else f"-{name}" for name in fields)
            rows_qs = rows_qs.filter(_keyset_after(reversed_fields, cursor_values)).order_by(*reversed_fields)
        else:
            rows_qs = rows_qs.filter(_keyset_after(fields, cursor_values))
    rows = list(rows_qs[: size + 1])
    has_more = len(rows) > size
    rows = rows[:size]
    if backwards and cursor_values is not None:
        rows.reverse()
        has_next, has_previous = True, has_more
    else:
        has_next, has_previous = has_more, cursor_values is not None

    def key(member: Member) -> str:
        return _cursor_encode([getattr(member, name.lstrip("-")) for name in fields])

    return MemberPage(
        members=rows,
        next_cursor=key(rows[-1]) if rows and has_next else None,
        previous_cursor=key(rows[0]) if rows and has_previous else None,
        matching=matching,
    )


def member_export_rows(
    *,
    church: Church,
    q: str = "",
    branch_id: int | None = None,
    group_id: int | None = None,
    sms_status: str | None = None,
    sort: str = "name",
    batch_size: int = 2000,
) -> Iterator[tuple[Member, list[int]]]:
    """Every matching member with its group ids, streamed in batches (two queries per batch). Batches are
    keyset pages in the list's order, not ``iterator()``: no server-side cursor (which PgBouncer's
    transaction pooling can't keep between transactions) and no whole result held in memory."""
    fields = MEMBER_SORTS.get(sort, MEMBER_SORTS["name"])
    members = member_search(
        church=church, q=q, branch_id=branch_id, group_id=group_id, sms_status=sms_status, sort=sort
    ).select_related("branch")
    after: list | None = None
    while True:
        page = members.filter(_keyset_after(fields, after)) if after is not None else members
        batch = list(page[:batch_size])
        yield from _with_group_ids(church, batch)
        if len(batch) < batch_size:
            return
        after = [getattr(batch[-1], name.lstrip("-")) for name in fields]


def _with_group_ids(church: Church, batch: list[Member]) -> Iterator[tuple[Member, list[int]]]:
    if not batch:
        return
    group_ids = member_group_ids(church=church, member_ids=[member.pk for member in batch])
    for member in batch:
        yield member, group_ids[member.pk]


def group_choices(*, church: Church) -> list[tuple[int, str]]:
    return list(Group.objects.for_church(church).order_by(Lower("name")).values_list("pk", "name"))


def branch_choices(*, church: Church) -> list[tuple[int, str]]:
    return list(Branch.objects.for_church(church).order_by(Lower("name")).values_list("pk", "name"))


def import_job_recent(*, church: Church, limit: int = 10) -> QuerySet[ImportJob]:
    """Recent imports without their (possibly large) file text."""
    return (
        ImportJob.objects.for_church(church)
        .defer("content")
        .select_related("created_by")
        .order_by("-created_at")[:limit]
    )
