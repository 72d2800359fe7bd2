"""Writes for the directory: branches, groups, members and the consent ledger."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from churches.crypto import email_local_hash, phone_hash
from churches.models import (
    ApiKey,
    Branch,
    Church,
    ConsentEvent,
    Group,
    GroupMembership,
    Member,
    SmsStatus,
    User,
)
from churches.phones import InvalidPhone, parse_phone
from churches.services.accounts import audit_record
from churches.signals import announce_members_subscribed
from koinonia.exceptions import BusinessRuleError
from koinonia.hooks import check_limit

__all__ = [
    "BULK_UPSERT_MAX_ROWS",
    "MEMBER_INITIATED_SOURCES",
    "BulkRowResult",
    "branch_create",
    "branch_delete",
    "branch_update",
    "consent_record",
    "group_create",
    "group_delete",
    "group_members_add",
    "group_members_remove",
    "group_update",
    "member_bulk_upsert",
    "member_create",
    "member_delete_many",
    "member_update",
    "normalize_phone",
]

# After an opt-out only the member can opt back in (CTIA / TCPA): by texting START or similar, through
# a form they filled in themselves, or as reported by the carrier. Staff, imports and the API cannot.
MEMBER_INITIATED_SOURCES = {
    ConsentEvent.Source.KEYWORD,
    ConsentEvent.Source.WEB_FORM,
    ConsentEvent.Source.PROVIDER_REPORT,
}
_STATUS_AFTER = {ConsentEvent.Kind.OPT_IN: SmsStatus.SUBSCRIBED, ConsentEvent.Kind.OPT_OUT: SmsStatus.UNSUBSCRIBED}


def normalize_phone(*, church: Church, raw: str) -> tuple[str, str, str | None]:
    """(E.164, blind index, area-code time zone) or BusinessRuleError with a person-readable reason."""
    try:
        parsed = parse_phone(raw, default_region=church.default_region)
    except InvalidPhone as exc:
        raise BusinessRuleError(str(exc), field="phone", code="invalid_phone") from exc
    return parsed.e164, phone_hash(parsed.e164), parsed.timezone


def _clean_name(value: str, *, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise BusinessRuleError(f"Give the {what} a name.", field="name")
    return value


def _unique_name_error(what: str, name: str) -> BusinessRuleError:
    return BusinessRuleError(f"There is already a {what} called “{name}”.", field="name", code="conflict", status=409)


# --- Branches -------------------------------------------------------------------------------------


@transaction.atomic
def branch_create(
    *, church: Church, acting_user: User | None, name: str, address: str = "", timezone_name: str = ""
) -> Branch:
    name = _clean_name(name, what="branch")
    check_limit(church=church, resource="branches", adding=1)
    if Branch.objects.filter(church=church, name__iexact=name).exists():
        raise _unique_name_error("branch", name)
    return Branch.objects.create(church=church, name=name, address=address.strip(), timezone=timezone_name)


@transaction.atomic
def branch_update(*, church: Church, branch: Branch, acting_user: User | None, **fields) -> Branch:
    if "name" in fields:
        fields["name"] = _clean_name(fields["name"], what="branch")
        if Branch.objects.filter(church=church, name__iexact=fields["name"]).exclude(pk=branch.pk).exists():
            raise _unique_name_error("branch", fields["name"])
    changed = [key for key, value in fields.items() if getattr(branch, key) != value]
    for key in changed:
        setattr(branch, key, fields[key])
    if changed:
        branch.save(update_fields=changed)
    return branch


@transaction.atomic
def branch_delete(*, church: Church, branch: Branch, acting_user: User | None) -> dict[str, int]:
    """Members and groups of the branch stay, without a branch. Returns how many of each were moved."""
    members = Member.objects.filter(church=church, branch=branch).update(branch=None, updated_at=timezone.now())
    groups = Group.objects.filter(church=church, branch=branch).update(branch=None)
    audit_record(
        church=church,
        actor=acting_user,
        action="branch.deleted",
        target=branch,
        data={"name": branch.name, "members_unassigned": members, "groups_unassigned": groups},
    )
    branch.delete()
    return {"members": members, "groups": groups}


# --- Groups ---------------------------------------------------------------------------------------


def _clean_keyword(church: Church, keyword: str, *, exclude_pk: int | None = None) -> str:
    keyword = (keyword or "").strip().upper()
    if not keyword:
        return ""
    if not keyword.isalnum():
        raise BusinessRuleError("A keyword is one word of letters and digits, like YOUTH.", field="keyword")
    from churches.keywords import RESERVED_KEYWORDS

    if keyword in RESERVED_KEYWORDS:
        raise BusinessRuleError(f"{keyword} is reserved for opt-out, opt-in and help texts.", field="keyword")
    clash = Group.objects.filter(church=church, keyword__iexact=keyword)
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise BusinessRuleError(
            f"Another group already uses the keyword {keyword}.", field="keyword", code="conflict", status=409
        )
    return keyword


def _branch_of(church: Church, branch: Branch | int | None) -> Branch | None:
    if branch is None or isinstance(branch, Branch):
        if branch is not None and branch.church_id != church.pk:
            raise BusinessRuleError("Unknown branch.", field="branch_id")
        return branch
    found = Branch.objects.filter(church=church, pk=branch).first()
    if found is None:
        raise BusinessRuleError("Unknown branch.", field="branch_id")
    return found


@transaction.atomic
def group_create(
    *,
    church: Church,
    acting_user: User | None,
    name: str,
    description: str = "",
    branch=None,
    keyword: str = "",
    welcome_text: str = "",
) -> Group:
    name = _clean_name(name, what="group")
    if Group.objects.filter(church=church, name__iexact=name).exists():
        raise _unique_name_error("group", name)
    return Group.objects.create(
        church=church,
        name=name,
        description=description.strip(),
        branch=_branch_of(church, branch),
        keyword=_clean_keyword(church, keyword),
        welcome_text=welcome_text.strip(),
    )


@transaction.atomic
def group_update(*, church: Church, group: Group, acting_user: User | None, **fields) -> Group:
    if "name" in fields:
        fields["name"] = _clean_name(fields["name"], what="group")
        if Group.objects.filter(church=church, name__iexact=fields["name"]).exclude(pk=group.pk).exists():
            raise _unique_name_error("group", fields["name"])
    if "keyword" in fields:
        fields["keyword"] = _clean_keyword(church, fields["keyword"], exclude_pk=group.pk)
    if "branch" in fields:
        fields["branch"] = _branch_of(church, fields["branch"])
    changed = [key for key, value in fields.items() if getattr(group, key) != value]
    for key in changed:
        setattr(group, key, fields[key])
    if changed:
        group.save(update_fields=changed)
    return group


@transaction.atomic
def group_delete(*, church: Church, group: Group, acting_user: User | None) -> int:
    """Deletes the group and its memberships; the members themselves stay. Returns members affected."""
    removed = GroupMembership.objects.filter(church=church, group=group).delete()[0]
    audit_record(
        church=church,
        actor=acting_user,
        action="group.deleted",
        target=group,
        data={"name": group.name, "members_removed": removed},
    )
    group.delete()
    return removed


def _church_member_ids(church: Church, member_ids: Iterable[int]) -> list[int]:
    ids = {int(i) for i in member_ids}
    return list(Member.objects.filter(church=church, pk__in=ids).values_list("pk", flat=True))


@transaction.atomic
def group_members_add(
    *, church: Church, group: Group, member_ids: Iterable[int], acting_user: User | None = None
) -> int:
    """Adds members (ignoring ids of other churches and existing memberships). Returns how many were added."""
    ids = _church_member_ids(church, member_ids)
    before = GroupMembership.objects.filter(church=church, group=group).count()
    GroupMembership.objects.bulk_create(
        [GroupMembership(church=church, group=group, member_id=i) for i in ids],
        ignore_conflicts=True,
        batch_size=2000,
    )
    return GroupMembership.objects.filter(church=church, group=group).count() - before


@transaction.atomic
def group_members_remove(
    *, church: Church, group: Group, member_ids: Iterable[int], acting_user: User | None = None
) -> int:
    ids = {int(i) for i in member_ids}
    return GroupMembership.objects.filter(church=church, group=group, member_id__in=ids).delete()[0]


# --- Members and consent --------------------------------------------------------------------------


@transaction.atomic
def consent_record(
    *,
    church: Church,
    member: Member,
    kind: str,
    source: str,
    raw_text: str = "",
    actor: User | None = None,
    api_key: ApiKey | None = None,
) -> ConsentEvent:
    """Append to the ledger and move the member's sms_status with it, in one transaction."""
    if kind not in ConsentEvent.Kind.values or source not in ConsentEvent.Source.values:
        raise BusinessRuleError("Unknown consent kind or source.", field="kind")
    locked = Member.objects.select_for_update().get(church=church, pk=member.pk)
    new_status = _STATUS_AFTER.get(kind)
    if (
        kind == ConsentEvent.Kind.OPT_IN
        and locked.sms_status == SmsStatus.UNSUBSCRIBED
        and source not in MEMBER_INITIATED_SOURCES
    ):
        raise BusinessRuleError(
            "This member opted out. Only they can opt back in, by texting START to your number.",
            field="sms_status",
            code="opted_out",
            status=409,
        )
    event = ConsentEvent.objects.create(
        church=church,
        member=locked,
        kind=kind,
        source=source,
        raw_text=raw_text[:2000],
        actor=actor if actor is not None and getattr(actor, "pk", None) else None,
        api_key=api_key,
    )
    if new_status and locked.sms_status != new_status:
        now = timezone.now()
        Member.objects.filter(pk=locked.pk).update(sms_status=new_status, updated_at=now)
        member.sms_status = new_status
        member.updated_at = now
        if new_status == SmsStatus.SUBSCRIBED:
            announce_members_subscribed(church_id=church.pk, member_ids=[locked.pk])
    return event


def _groups_of(church: Church, group_ids: Iterable[int] | None) -> list[int]:
    if not group_ids:
        return []
    wanted = {int(i) for i in group_ids}
    found = set(Group.objects.filter(church=church, pk__in=wanted).values_list("pk", flat=True))
    if wanted - found:
        raise BusinessRuleError("Unknown group.", field="group_ids")
    return sorted(found)


@transaction.atomic
def member_create(
    *,
    church: Church,
    acting_user: User | None,
    phone: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    branch=None,
    group_ids: Iterable[int] | None = None,
    timezone_name: str = "",
    consent: str = "",
    source: str = ConsentEvent.Source.STAFF,
    api_key: ApiKey | None = None,
) -> Member:
    """Add a member. ``consent`` is how the church obtained permission to text them (the church
    attests it); with it the member starts subscribed, without it "no consent yet"."""
    e164, hashed, area_timezone = normalize_phone(church=church, raw=phone)
    if Member.objects.filter(church=church, phone_hash=hashed).exists():
        raise BusinessRuleError(
            "A member with this phone number already exists.", field="phone", code="conflict", status=409
        )
    check_limit(church=church, resource="members", adding=1)
    groups = _groups_of(church, group_ids)
    try:
        with transaction.atomic():
            member = Member.objects.create(
                church=church,
                first_name=first_name.strip(),
                last_name=last_name.strip(),
                phone=e164,
                phone_hash=hashed,
                email=email.strip().lower(),
                branch=_branch_of(church, branch),
                timezone=timezone_name or area_timezone or "",
                created_by=acting_user if getattr(acting_user, "pk", None) else None,
            )
    except IntegrityError as exc:  # a concurrent insert of the same phone
        raise BusinessRuleError(
            "A member with this phone number already exists.", field="phone", code="conflict", status=409
        ) from exc
    GroupMembership.objects.bulk_create([GroupMembership(church=church, group_id=g, member=member) for g in groups])
    if consent.strip():
        consent_record(
            church=church,
            member=member,
            kind=ConsentEvent.Kind.OPT_IN,
            source=source,
            raw_text=consent.strip(),
            actor=acting_user,
            api_key=api_key,
        )
    return member


@transaction.atomic
def member_update(
    *,
    church: Church,
    member: Member,
    acting_user: User | None,
    group_ids: Iterable[int] | None = None,
    **fields,
) -> Member:
    """Edit a member's details. ``sms_status`` is not editable here: consent changes go through
    ``consent_record`` so that each has a ledger row."""
    allowed = {"first_name", "last_name", "phone", "email", "branch", "timezone"}
    unknown = set(fields) - allowed
    if unknown:
        raise BusinessRuleError(f"These fields can't be changed here: {', '.join(sorted(unknown))}.")
    if "phone" in fields:
        e164, hashed, _ = normalize_phone(church=church, raw=fields["phone"])
        if e164 != member.phone:
            if Member.objects.filter(church=church, phone_hash=hashed).exclude(pk=member.pk).exists():
                raise BusinessRuleError(
                    "Another member already has this phone number.", field="phone", code="conflict", status=409
                )
            fields["phone_hash"] = hashed
        fields["phone"] = e164
    if "branch" in fields:
        fields["branch"] = _branch_of(church, fields["branch"])
    if "email" in fields:
        fields["email"] = (fields["email"] or "").strip().lower()
    changed = [key for key, value in fields.items() if getattr(member, key) != value]
    for key in changed:
        setattr(member, key, fields[key])
    if changed:
        member.updated_at = timezone.now()
        member.save(update_fields=[*changed, "updated_at"])
    if group_ids is not None:
        wanted = set(_groups_of(church, group_ids))
        current = set(GroupMembership.objects.filter(church=church, member=member).values_list("group_id", flat=True))
        GroupMembership.objects.filter(church=church, member=member, group_id__in=current - wanted).delete()
        GroupMembership.objects.bulk_create(
            [GroupMembership(church=church, group_id=g, member=member) for g in wanted - current], ignore_conflicts=True
        )
    return member


@transaction.atomic
def member_delete_many(*, church: Church, member_ids: Iterable[int], acting_user: User | None) -> int:
    """Deletes members (their group memberships and consent history go with them). The deletion is
    audited with counts only, since the point of deleting is to stop holding the data."""
    ids = _church_member_ids(church, member_ids)
    if not ids:
        return 0
    # Rows elsewhere that must survive deletion (sent messages, conversations) reference members with
    # on_delete rules of their own; here we only remove what the directory owns.
    GroupMembership.objects.filter(church=church, member_id__in=ids).delete()
    ConsentEvent.objects.filter(church=church, member_id__in=ids).delete()
    deleted = Member.objects.filter(Q(church=church) & Q(pk__in=ids)).delete()[0]
    audit_record(church=church, actor=acting_user, action="members.deleted", data={"count": deleted})
    return deleted


# --- Bulk upsert (API) ----------------------------------------------------------------------------

BULK_UPSERT_MAX_ROWS = 1000
_BULK_FIELDS = ("first_name", "last_name", "email", "branch_id", "timezone")


@dataclass
class BulkRowResult:
    """What happened to one row: ``created`` / ``updated`` / ``unchanged`` / ``rejected`` (with ``errors``)."""

    status: str
    member_id: int | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    note: str = ""


def _bulk_reject(field_name: str, message: str) -> BulkRowResult:
    return BulkRowResult(status="rejected", errors={field_name: [message]})


def _bulk_clean(row: Mapping) -> dict:
    """The row's member fields, normalized as member_create/member_update would; absent keys stay absent."""
    cleaned = {}
    for key in ("first_name", "last_name"):
        if key in row:
            cleaned[key] = (row[key] or "").strip()
    if "email" in row:
        cleaned["email"] = (row["email"] or "").strip().lower()
    if "branch_id" in row:
        cleaned["branch_id"] = int(row["branch_id"]) if row["branch_id"] is not None else None
    if "timezone" in row:
        cleaned["timezone"] = row["timezone"] or ""
    return cleaned


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
    """Create or update up to 1000 members matched by phone (blind index), set-based: a fixed number of
    queries whatever the row count. Rows carry ``phone`` and optionally ``first_name``, ``last_name``,
    ``email``, ``branch_id``, ``group_ids`` and ``timezone``; keys a row leaves out are left alone on
    existing members. ``group_ids`` are added (never removed). With ``consent`` (how the church obtained
    permission), new and never-consented members become subscribed with a ledger row each; opted-out
    members are never re-subscribed. Returns one result per row, in order."""
    if len(rows) > BULK_UPSERT_MAX_ROWS:
        raise BusinessRuleError(f"Send at most {BULK_UPSERT_MAX_ROWS} members at a time.", field="members")
    consent = (consent or "").strip()[:2000]
    results: list[BulkRowResult | None] = [None] * len(rows)

    # 1. Phones → blind index; a phone repeated in the request is refused after its first row.
    hashes: dict[int, tuple[str, str, str | None]] = {}
    first_row_of: dict[str, int] = {}
    for i, row in enumerate(rows):
        try:
            e164, hashed, area_timezone = normalize_phone(church=church, raw=row.get("phone") or "")
        except BusinessRuleError as exc:
            results[i] = _bulk_reject("phone", exc.message)
            continue
        if hashed in first_row_of:
            results[i] = _bulk_reject("phone", f"Same phone number as row {first_row_of[hashed]} of this request.")
            continue
        first_row_of[hashed] = i
        hashes[i] = (e164, hashed, area_timezone)

    # 2. Branch and group ids must be this church's.
    wanted_branches = {int(rows[i]["branch_id"]) for i in hashes if rows[i].get("branch_id") is not None}
    wanted_groups = {int(g) for i in hashes for g in rows[i].get("group_ids") or ()}
    known_branches = set(
        Branch.objects.filter(church=church, pk__in=wanted_branches).values_list("pk", flat=True)
        if wanted_branches
        else ()
    )
    known_groups = set(
        Group.objects.filter(church=church, pk__in=wanted_groups).values_list("pk", flat=True) if wanted_groups else ()
    )
    for i in list(hashes):
        branch_id = rows[i].get("branch_id")
        if branch_id is not None and int(branch_id) not in known_branches:
            results[i] = _bulk_reject("branch_id", "Unknown branch.")
        elif any(int(g) not in known_groups for g in rows[i].get("group_ids") or ()):
            results[i] = _bulk_reject("group_ids", "Unknown group.")
        else:
            continue
        del hashes[i]

    # 3. Existing members by blind index, locked so consent decisions hold until commit.
    existing = {
        m.phone_hash: m
        for m in Member.objects.select_for_update()
        .filter(church=church, phone_hash__in=[h for _, h, _ in hashes.values()])
        .defer("phone")
    }
    current_groups: set[tuple[int, int]] = set()
    if existing and wanted_groups:
        current_groups = set(
            GroupMembership.objects.filter(
                church=church, member_id__in=[m.pk for m in existing.values()], group_id__in=known_groups
            ).values_list("member_id", "group_id")
        )

    now = timezone.now()
    to_create: list[tuple[int, Member]] = []
    to_update: dict[int, Member] = {}
    update_fields: set[str] = set()
    to_subscribe: list[Member] = []
    new_memberships: list[tuple[int, int]] = []  # (row, group) for new members; resolved after insert
    memberships: list[GroupMembership] = []
    for i, (e164, hashed, area_timezone) in hashes.items():
        row = rows[i]
        fields = _bulk_clean(row)
        if "timezone" in fields:
            fields["timezone"] = fields["timezone"] or area_timezone or ""
        groups = sorted({int(g) for g in row.get("group_ids") or ()})
        member = existing.get(hashed)
        if member is None:
            member = Member(
                church=church,
                phone=e164,
                phone_hash=hashed,
                first_name=fields.get("first_name", ""),
                last_name=fields.get("last_name", ""),
                email=fields.get("email", ""),
                branch_id=fields.get("branch_id"),
                timezone=fields.get("timezone") or area_timezone or "",
                sms_status=SmsStatus.SUBSCRIBED if consent else SmsStatus.NEVER_CONSENTED,
                created_by=acting_user if getattr(acting_user, "pk", None) else None,
                created_at=now,
                updated_at=now,
            )
            to_create.append((i, member))
            new_memberships.extend((i, g) for g in groups)
            results[i] = BulkRowResult(status="created")
            continue
        changed = [key for key in _BULK_FIELDS if key in fields and getattr(member, key) != fields[key]]
        for key in changed:
            setattr(member, key, fields[key])
        added_groups = [g for g in groups if (member.pk, g) not in current_groups]
        memberships.extend(GroupMembership(church=church, group_id=g, member_id=member.pk) for g in added_groups)
        note = ""
        subscribes = bool(consent) and member.sms_status == SmsStatus.NEVER_CONSENTED
        if subscribes:
            to_subscribe.append(member)
        elif consent and member.sms_status == SmsStatus.UNSUBSCRIBED:
            note = "This member opted out; only they can opt back in, so they stay unsubscribed."
        if changed:
            to_update[member.pk] = member
            update_fields.update(changed)
        status = "updated" if changed or added_groups or subscribes else "unchanged"
        results[i] = BulkRowResult(status=status, member_id=member.pk, note=note)

    # 4. Writes, each one statement (per batch).
    if to_create:
        check_limit(church=church, resource="members", adding=len(to_create))
        try:
            with transaction.atomic():
                Member.objects.bulk_create([m for _, m in to_create], batch_size=500)
        except IntegrityError as exc:  # another request added one of these phones meanwhile
            raise BusinessRuleError(
                "Some of these members were added by another request at the same time; send the batch again.",
                code="conflict",
                status=409,
            ) from exc
        for i, member in to_create:
            results[i].member_id = member.pk
        new_ids = {i: member.pk for i, member in to_create}
        memberships.extend(GroupMembership(church=church, group_id=g, member_id=new_ids[i]) for i, g in new_memberships)
    if to_update:
        for member in to_update.values():
            member.updated_at = now
        if "email" in update_fields:  # bulk_update skips pre_save: the email's blind index goes along
            update_fields.add("email_local_hash")
            for member in to_update.values():
                member.email_local_hash = email_local_hash(member.email)
        Member.objects.bulk_update(list(to_update.values()), [*sorted(update_fields), "updated_at"], batch_size=500)
    if to_subscribe:
        Member.objects.filter(church=church, pk__in=[m.pk for m in to_subscribe]).update(
            sms_status=SmsStatus.SUBSCRIBED, updated_at=now
        )
    if consent:
        consented = [m for _, m in to_create] + to_subscribe
        ConsentEvent.objects.bulk_create(
            [
                ConsentEvent(
                    church=church,
                    member_id=m.pk,
                    kind=ConsentEvent.Kind.OPT_IN,
                    source=source,
                    raw_text=consent,
                    actor=acting_user if getattr(acting_user, "pk", None) else None,
                    api_key=api_key,
                    created_at=now,
                )
                for m in consented
            ],
            batch_size=1000,
        )
        announce_members_subscribed(church_id=church.pk, member_ids=[m.pk for m in consented])
    if memberships:
        GroupMembership.objects.bulk_create(memberships, ignore_conflicts=True, batch_size=2000)

    counts = {status: sum(r.status == status for r in results) for status in ("created", "updated", "unchanged")}
    counts["rejected"] = sum(r.status == "rejected" for r in results)
    audit_record(church=church, actor=acting_user, api_key=api_key, action="members.bulk_upserted", data=counts)
    return results
