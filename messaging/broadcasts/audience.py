"""Who a broadcast goes to. An audience is ``{"all": true}`` or any mix of ``branch_ids``,
``group_ids`` and ``member_ids``; members are deduplicated across them and only subscribed members
receive texts."""

from django.db import connection
from django.utils import timezone

from churches.models import Branch, Church, Group, Member, SmsStatus
from koinonia.exceptions import BusinessRuleError
from koinonia.tenancy import branch_limit

AUDIENCE_KEYS = ("branch_ids", "group_ids", "member_ids")
# Narrows the rest to members of these branches: what a branch-limited sender may reach (added by
# ``clean_audience`` for them; kept on the message so the fan-out, run later by a task, honours it).
WITHIN_KEY = "within_branch_ids"
MAX_EXPLICIT_IDS = 10_000


def clean_audience(*, church: Church, audience) -> dict:
    """Validate an audience against the church; unknown ids are an error, never silently dropped. For a
    branch-limited sender (``koinonia.tenancy.branch_limit``) branch and member ids are checked through
    the limited scope (another branch's id is unknown), "everyone" means everyone in their branches, and
    groups reach only their branches' members."""
    if not isinstance(audience, dict):
        raise BusinessRuleError("Choose who receives the message.", field="audience")
    cleaned = _clean_ids(church=church, audience=audience)
    limit = branch_limit(church)
    if limit is not None:
        if cleaned.get("all"):
            return {"branch_ids": sorted(limit)}
        if set(cleaned) - {"branch_ids", WITHIN_KEY}:
            # Any given "within" ids were checked through the limited scope: already a subset.
            cleaned[WITHIN_KEY] = cleaned.get(WITHIN_KEY) or sorted(limit)
    return cleaned


def _clean_ids(*, church: Church, audience: dict) -> dict:
    if audience.get("all") is True:
        return {"all": True}
    unknown_keys = set(audience) - {*AUDIENCE_KEYS, WITHIN_KEY, "all"}
    if unknown_keys:
        raise BusinessRuleError(f"Unknown audience keys: {', '.join(sorted(unknown_keys))}.", field="audience")
    cleaned: dict[str, list[int]] = {}
    for key in (*AUDIENCE_KEYS, WITHIN_KEY):
        raw = audience.get(key) or []
        if not isinstance(raw, list) or len(raw) > MAX_EXPLICIT_IDS:
            raise BusinessRuleError(f"{key} must be a list of at most {MAX_EXPLICIT_IDS} ids.", field="audience")
        try:
            ids = sorted({int(value) for value in raw})
        except (TypeError, ValueError):
            raise BusinessRuleError(f"{key} must contain ids (whole numbers).", field="audience") from None
        if ids:
            cleaned[key] = ids
    if not set(cleaned) - {WITHIN_KEY}:
        raise BusinessRuleError(
            "Choose who receives the message: everyone, branches, groups or members.", field="audience"
        )
    for key, model in (("branch_ids", Branch), ("group_ids", Group), ("member_ids", Member), (WITHIN_KEY, Branch)):
        wanted = set(cleaned.get(key, []))
        if wanted:
            found = set(model.objects.for_church(church).filter(pk__in=wanted).values_list("pk", flat=True))
            if wanted - found:
                label = "branch" if key == WITHIN_KEY else key.removesuffix("_ids")
                raise BusinessRuleError(f"Unknown {label} ids: {sorted(wanted - found)[:10]}.", field="audience")
    return cleaned


def _audience_sql(*, church_id: int, audience: dict) -> tuple[str, list]:
    """WHERE clause over ``churches_member m`` selecting the audience's subscribed members."""
    where = ["m.church_id = %s", "m.sms_status = %s"]
    params: list = [church_id, SmsStatus.SUBSCRIBED.value]
    if audience.get("all"):
        return " AND ".join(where), params
    alternatives, alt_params = [], []
    if audience.get("branch_ids"):
        ids = audience["branch_ids"]
        alternatives.append(f"m.branch_id IN ({', '.join(['%s'] * len(ids))})")
        alt_params += ids
    if audience.get("group_ids"):
        ids = audience["group_ids"]
        alternatives.append(
            "m.id IN (SELECT gm.member_id FROM churches_groupmembership gm "  # noqa: S608 (only placeholders)
            f"WHERE gm.church_id = %s AND gm.group_id IN ({', '.join(['%s'] * len(ids))}))"
        )
        alt_params += [church_id, *ids]
    if audience.get("member_ids"):
        ids = audience["member_ids"]
        alternatives.append(f"m.id IN ({', '.join(['%s'] * len(ids))})")
        alt_params += ids
    where.append("(" + " OR ".join(alternatives or ["1 = 0"]) + ")")
    if WITHIN_KEY in audience:
        ids = audience[WITHIN_KEY]
        where.append(f"m.branch_id IN ({', '.join(['%s'] * len(ids))})" if ids else "1 = 0")
        alt_params += ids
    return " AND ".join(where), params + alt_params


def audience_count(*, church: Church, audience: dict, upto: int | None = None) -> int:
    """Subscribed members in the audience; with ``upto``, counting stops there (the answer is then
    ``min(count, upto)``), so the cost no longer grows with the audience."""
    where, params = _audience_sql(church_id=church.pk, audience=audience)
    sql = f"SELECT COUNT(*) FROM churches_member m WHERE {where}"  # noqa: S608 (only placeholders)
    if upto is not None:
        sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM churches_member m WHERE {where} LIMIT %s) AS counted"  # noqa: S608
        params = [*params, upto]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def audience_member_ids(*, church: Church, audience: dict, limit: int = 20, member_id: int | None = None) -> list[int]:
    """The first ``limit`` subscribed members of the audience by id (the compose page's "preview for"
    choices); with ``member_id``, that member's id if they are in the audience, else nothing."""
    where, params = _audience_sql(church_id=church.pk, audience=audience)
    if member_id is not None:
        where, params = f"{where} AND m.id = %s", [*params, member_id]
    sql = f"SELECT m.id FROM churches_member m WHERE {where} ORDER BY m.id LIMIT %s"  # noqa: S608 (only placeholders)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit])
        return [row[0] for row in cursor.fetchall()]


def materialize_recipients(*, message) -> int:
    """One INSERT … SELECT: a Recipient per subscribed audience member. Deduplicated by the query
    itself (each member row is read once, whichever groups and branches matched it); run exactly once
    per message because the caller holds the message row locked and checks ``prepared_at`` (the unique
    (message, member) constraint backs that up). No ON CONFLICT clause: its speculative insertion
    would cost a third of the fan-out's time for nothing. The phone is copied as stored (already
    encrypted). Returns how many recipients were created.

    Raw SQL because the ORM cannot express INSERT … SELECT; it is the fan-out hot path (100k rows)."""
    where, params = _audience_sql(church_id=message.church_id, audience=message.audience)
    sql = (
        "INSERT INTO messaging_recipient (church_id, message_id, member_id, phone, status, provider_message_id, "  # noqa: S608
        "error_code, error_reason, attempts, queued_at) "
        "SELECT m.church_id, %s, m.id, m.phone, 'queued', '', '', '', 0, %s "
        f"FROM churches_member m WHERE {where}"
    )
    queued_at = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(sql, [message.pk, queued_at, *params])
        return cursor.rowcount


def budget_branch_id(audience: dict) -> int | None:
    """The branch a broadcast is charged to for per-branch budgets: the one branch it targets, when
    it targets exactly one branch and nothing else (a church-wide send is the church's)."""
    if set(audience) == {"branch_ids"} and len(audience["branch_ids"]) == 1:
        return audience["branch_ids"][0]
    return None
