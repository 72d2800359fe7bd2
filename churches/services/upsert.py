"""The member-upsert engine: one set of rules for every path that creates or updates members in
bulk — the CSV import run (``churches/imports``, chunks of 2,000 rows) and the API's bulk upsert
(``member_bulk_upsert`` below, up to 1,000 rows).

The rules:

- Members are matched by the phone's blind index within the church.
- A row's details (``MEMBER_DETAIL_FIELDS``) replace the member's when present; absent ones are left
  alone (the import leaves out empty cells, the API keys a row doesn't send). ``timezone`` sent empty
  means "from the area code". A member without a branch gets ``default_branch_id`` (the import's
  "put everyone in this branch") unless the row names one.
- Groups are added, never removed.
- Consent (how the church obtained permission) subscribes new and never-consented members through
  ``consent_record_many``, one ledger row each; subscribed members are left as they are. A row with
  consent for a member who opted out is not applied at all (outcome ``opted_out``, with the reason):
  only the member can opt back in, and a row claiming they agreed contradicts what they told us.
- New members count against the plan: the API refuses the whole batch; the import admits what fits
  (``FitToLimit``) and reports the rest.

Set-based: a fixed number of statements per call whatever the row count (lookup of existing members
and their groups, one INSERT of members, one UPDATE … FROM VALUES via ``koinonia.bulk``, one INSERT of
memberships, and the consent writer's three)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from churches.crypto import email_local_hash
from churches.event_data import member_data
from churches.models import ApiKey, Branch, Church, ConsentEvent, Group, GroupMembership, Member, SmsStatus, User
from churches.services.accounts import audit_record
from churches.services.consent import consent_record_many
from churches.services.member_fields import MEMBER_DETAIL_FIELDS, clean_member_fields, normalize_phone
from koinonia import events, policy
from koinonia.bulk import bulk_update_rows
from koinonia.exceptions import BusinessRuleError

__all__ = [
    "BULK_UPSERT_MAX_ROWS",
    "REASON_OPTED_OUT",
    "REASON_OVER_LIMIT",
    "BulkRowResult",
    "FitToLimit",
    "UpsertConflict",
    "UpsertOutcome",
    "UpsertRow",
    "member_bulk_upsert",
    "upsert_members",
]

REASON_OPTED_OUT = "This member opted out of texts and stays opted out; only they can opt back in, by texting START."
REASON_OVER_LIMIT = "Over the plan's member limit: {detail}"
_EXISTING_VALUES = ("pk", "phone_hash", "sms_status", *MEMBER_DETAIL_FIELDS)


@dataclass(frozen=True)
class UpsertRow:
    """One member to create or update. ``fields`` are cleaned (``clean_member_fields``) and only
    those present are written; ``branch_id`` and ``group_ids`` must be the church's (callers check)."""

    phone: str  # E.164
    phone_hash: str
    area_timezone: str = ""
    fields: Mapping = field(default_factory=dict)
    group_ids: tuple[int, ...] = ()


@dataclass
class UpsertOutcome:
    """``created`` / ``updated`` / ``unchanged``, or not applied: ``opted_out`` / ``over_limit`` (with
    ``reason``)."""

    status: str
    member_id: int | None = None
    reason: str = ""


class UpsertConflict(BusinessRuleError):
    """Another transaction added one of these phones between our lookup and our insert."""


class FitToLimit:
    """The import's member-limit policy: admit the first new members the plan allows and refuse the
    rest with the plan's reason. Once the limit is hit it stays hit for the run (later chunks admit
    none), which also spares the checker a search per chunk."""

    def __init__(self):
        self.detail = ""

    def admit(self, church: Church, wanted: int) -> int:
        if self.detail or not wanted:
            return 0 if self.detail else wanted
        try:
            policy.current().check(church=church, resource="members", adding=wanted)
            return wanted
        except BusinessRuleError as exc:
            self.detail = exc.message
        low, high = 0, wanted - 1  # the most that still fit
        while low < high:
            middle = (low + high + 1) // 2
            try:
                policy.current().check(church=church, resource="members", adding=middle)
            except BusinessRuleError:
                high = middle - 1
            else:
                low = middle
        return low


@dataclass
class _Work:
    """What a call will write, gathered before any write."""

    new: list[int] = field(default_factory=list)  # row indexes
    changed: list[Member] = field(default_factory=list)
    changed_fields: set[str] = field(default_factory=set)
    memberships: list[tuple[int, int]] = field(default_factory=list)  # (member id, group id)
    to_consent: list[int] = field(default_factory=list)  # existing member ids


def _plan_existing(rows, existing, current_groups, *, consent: str, default_branch_id, now, outcomes, work) -> None:
    """Decide, for rows matching an existing member, what changes (the rules of the module docstring);
    rows without a member are queued in ``work.new``. Reads nothing and writes nothing."""
    for i, row in enumerate(rows):
        current = existing.get(row.phone_hash)
        if current is None:
            work.new.append(i)
            continue
        if consent and current["sms_status"] == SmsStatus.UNSUBSCRIBED:
            outcomes[i] = UpsertOutcome("opted_out", current["pk"], REASON_OPTED_OUT)
            continue
        wanted = dict(row.fields)
        if "timezone" in wanted:
            wanted["timezone"] = wanted["timezone"] or row.area_timezone
        if "branch_id" not in wanted and current["branch_id"] is None and default_branch_id:
            wanted["branch_id"] = default_branch_id
        changed = {key: value for key, value in wanted.items() if current[key] != value}
        if changed:
            member = Member(
                pk=current["pk"],
                updated_at=now,
                sms_status=current["sms_status"],
                **{k: current[k] for k in MEMBER_DETAIL_FIELDS},
            )
            for key, value in changed.items():
                setattr(member, key, value)
            work.changed.append(member)
            work.changed_fields.update(changed)
        added = [g for g in row.group_ids if (current["pk"], g) not in current_groups]
        work.memberships.extend((current["pk"], g) for g in added)
        subscribes = bool(consent) and current["sms_status"] == SmsStatus.NEVER_CONSENTED
        if subscribes:
            work.to_consent.append(current["pk"])
        outcomes[i] = UpsertOutcome("updated" if changed or added or subscribes else "unchanged", current["pk"])


def _admit(church: Church, new: list[int], limit: FitToLimit | None, outcomes: list) -> list[int]:
    """The new rows the plan allows. Without ``limit`` the plan's refusal is raised for all of them."""
    if limit is None:
        if new:
            policy.current().check(church=church, resource="members", adding=len(new))
        return new
    admitted = limit.admit(church, len(new))
    for i in new[admitted:]:
        outcomes[i] = UpsertOutcome("over_limit", reason=REASON_OVER_LIMIT.format(detail=limit.detail))
    return new[:admitted]


def _insert_new(church, rows, indexes, *, default_branch_id, acting_user, now) -> list[Member]:
    members = [
        Member(
            church=church,
            phone=rows[i].phone,
            phone_hash=rows[i].phone_hash,
            first_name=rows[i].fields.get("first_name", ""),
            last_name=rows[i].fields.get("last_name", ""),
            email=rows[i].fields.get("email", ""),
            email_local_hash=email_local_hash(rows[i].fields.get("email", "")),
            branch_id=rows[i].fields.get("branch_id", default_branch_id),
            timezone=rows[i].fields.get("timezone") or rows[i].area_timezone,
            language=rows[i].fields.get("language", ""),
            created_by=acting_user if getattr(acting_user, "pk", None) else None,
            created_at=now,
            updated_at=now,
        )
        for i in indexes
    ]
    try:
        # No savepoint: on a conflict the caller's whole transaction is void anyway (the API answers 409,
        # the import retries the chunk), so marking it for rollback is all that is needed.
        with transaction.atomic(savepoint=False):
            Member.objects.bulk_create(members, batch_size=1000)
    except IntegrityError as exc:
        raise UpsertConflict(
            "Some of these members were added by another request at the same time; send the batch again.",
            code="conflict",
            status=409,
        ) from exc
    if any(member.pk is None for member in members):  # backends that can't return ids from INSERT
        ids = dict(
            Member.objects.for_church(church)
            .filter(phone_hash__in=[m.phone_hash for m in members])
            .values_list("phone_hash", "pk")
        )
        for member in members:
            member.pk = ids[member.phone_hash]
    return members


def upsert_members(
    *,
    church: Church,
    rows: Sequence[UpsertRow],
    consent: str,
    source: str,
    acting_user: User | None,
    api_key: ApiKey | None = None,
    default_branch_id: int | None = None,
    limit: FitToLimit | None = None,
) -> list[UpsertOutcome]:
    """Create or update ``rows`` (phones unique among them) by the rules above; one outcome per row,
    in order. Must run inside the caller's transaction: existing members are locked until it commits.
    Without ``limit`` a plan refusal is raised for the whole call. Raises UpsertConflict when another
    transaction inserted one of the phones meanwhile (nothing of this call is kept)."""
    consent = (consent or "").strip()[:2000]
    now = timezone.now()
    outcomes: list[UpsertOutcome | None] = [None] * len(rows)
    existing = {
        values["phone_hash"]: values
        for values in Member.objects.select_for_update()
        .filter(church=church, phone_hash__in=[row.phone_hash for row in rows])
        .order_by("pk")
        .values(*_EXISTING_VALUES)
    }
    current_groups: set[tuple[int, int]] = set()
    if existing and any(row.group_ids for row in rows):
        current_groups = set(
            GroupMembership.objects.filter(
                church=church, member_id__in=[values["pk"] for values in existing.values()]
            ).values_list("member_id", "group_id")
        )
    work = _Work()
    _plan_existing(
        rows,
        existing,
        current_groups,
        consent=consent,
        default_branch_id=default_branch_id,
        now=now,
        outcomes=outcomes,
        work=work,
    )

    new = _admit(church, work.new, limit, outcomes)
    created = _insert_new(church, rows, new, default_branch_id=default_branch_id, acting_user=acting_user, now=now)
    events.emit_many(church=church, type="member.created", items=[member_data(m) for m in created])
    for i, member in zip(new, created, strict=True):
        outcomes[i] = UpsertOutcome("created", member.pk)
        work.memberships.extend((member.pk, g) for g in rows[i].group_ids)

    if work.changed:
        if "email" in work.changed_fields:  # a bulk update skips pre_save: the email's blind index goes along
            work.changed_fields.add("email_local_hash")
            for member in work.changed:
                member.email_local_hash = email_local_hash(member.email)
        bulk_update_rows(Member.objects.for_church(church), work.changed, [*sorted(work.changed_fields), "updated_at"])
        events.emit_many(church=church, type="member.updated", items=(member_data(m) for m in work.changed))
    if work.memberships:
        GroupMembership.objects.bulk_create(
            [GroupMembership(church=church, member_id=m, group_id=g, created_at=now) for m, g in work.memberships],
            ignore_conflicts=True,
            batch_size=2000,
        )
    if consent:
        consent_record_many(
            church=church,
            member_ids=[m.pk for m in created] + work.to_consent,
            kind=ConsentEvent.Kind.OPT_IN,
            source=source,
            acting_user=acting_user,
            raw_text=consent,
            api_key=api_key,
        )
    return outcomes


# --- The API's bulk upsert --------------------------------------------------------------------------

BULK_UPSERT_MAX_ROWS = 1000


@dataclass
class BulkRowResult:
    """What happened to one row: ``created`` / ``updated`` / ``unchanged`` / ``rejected`` (with ``errors``)."""

    status: str
    member_id: int | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    note: str = ""


def _bulk_reject(field_name: str, message: str) -> BulkRowResult:
    return BulkRowResult(status="rejected", errors={field_name: [message]})


def _bulk_rows(church: Church, rows: Sequence[Mapping]) -> tuple[dict[int, UpsertRow], dict[int, BulkRowResult]]:
    """The API rows read into UpsertRows by position, and the rejected ones with their reasons."""
    ready: dict[int, UpsertRow] = {}
    rejected: dict[int, BulkRowResult] = {}
    first_row_of: dict[str, int] = {}
    for i, row in enumerate(rows):
        try:
            e164, hashed, area_timezone = normalize_phone(church=church, raw=row.get("phone") or "")
            fields = clean_member_fields(row)
        except BusinessRuleError as exc:
            rejected[i] = _bulk_reject(exc.field or "phone", exc.message)
            continue
        if hashed in first_row_of:  # a phone repeated in the request is refused after its first row
            rejected[i] = _bulk_reject("phone", f"Same phone number as row {first_row_of[hashed]} of this request.")
            continue
        first_row_of[hashed] = i
        if "branch_id" in row:
            fields["branch_id"] = int(row["branch_id"]) if row["branch_id"] is not None else None
        groups = tuple(sorted({int(g) for g in row.get("group_ids") or ()}))
        ready[i] = UpsertRow(e164, hashed, area_timezone or "", fields, groups)

    # Branch and group ids must be this church's: two lookups for the whole request.
    wanted_branches = {r.fields["branch_id"] for r in ready.values() if r.fields.get("branch_id") is not None}
    wanted_groups = {g for r in ready.values() for g in r.group_ids}
    known_branches = set(
        Branch.objects.for_church(church).filter(pk__in=wanted_branches).values_list("pk", flat=True)
        if wanted_branches
        else ()
    )
    known_groups = set(
        Group.objects.for_church(church).filter(pk__in=wanted_groups).values_list("pk", flat=True)
        if wanted_groups
        else ()
    )
    for i, row in list(ready.items()):
        branch_id = row.fields.get("branch_id")
        if branch_id is not None and branch_id not in known_branches:
            rejected[i] = _bulk_reject("branch_id", "Unknown branch.")
        elif any(g not in known_groups for g in row.group_ids):
            rejected[i] = _bulk_reject("group_ids", "Unknown group.")
        else:
            continue
        del ready[i]
    return ready, rejected


@transaction.atomic
def member_bulk_upsert(
    *,
    church: Church,
    acting_user: User | None,
    rows: Sequence[Mapping],
    consent: str = "",
    source: str = ConsentEvent.Source.API,
    api_key: ApiKey | None = None,
) -> list[BulkRowResult]:
    """Create or update up to 1000 members matched by phone, by the engine's rules (module docstring).
    Rows carry ``phone`` and optionally ``first_name``, ``last_name``, ``email``, ``branch_id``,
    ``group_ids`` and ``timezone``. A row for an opted-out member sent with consent changes nothing and
    answers ``unchanged`` with the reason in ``note``. Returns one result per row, in order."""
    if len(rows) > BULK_UPSERT_MAX_ROWS:
        raise BusinessRuleError(f"Send at most {BULK_UPSERT_MAX_ROWS} members at a time.", field="members")
    ready, rejected = _bulk_rows(church, rows)
    positions = sorted(ready)
    outcomes = upsert_members(
        church=church,
        rows=[ready[i] for i in positions],
        consent=consent,
        source=source,
        acting_user=acting_user,
        api_key=api_key,
    )
    results: list[BulkRowResult] = [rejected.get(i) for i in range(len(rows))]
    for i, outcome in zip(positions, outcomes, strict=True):
        if outcome.status == "opted_out":
            results[i] = BulkRowResult(status="unchanged", member_id=outcome.member_id, note=outcome.reason)
        else:
            results[i] = BulkRowResult(status=outcome.status, member_id=outcome.member_id)
    counts = {status: sum(r.status == status for r in results) for status in ("created", "updated", "unchanged")}
    counts["rejected"] = sum(r.status == "rejected" for r in results)
    audit_record(church=church, actor=acting_user, api_key=api_key, action="members.bulk_upserted", data=counts)
    return results
