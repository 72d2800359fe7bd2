"""Writes for the directory: branches, groups and members one at a time. Consent is written by
``consent.py``; members in bulk (CSV import, API) by ``upsert.py``; both use the normalisation of
``member_fields.py`` like ``member_create`` and ``member_update`` here."""

from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from churches.event_data import member_data
from churches.models import ApiKey, Branch, Church, ConsentEvent, Group, GroupMembership, Member, User
from churches.services.accounts import audit_record
from churches.services.consent import consent_record
from churches.services.member_fields import clean_member_fields, normalize_phone
from koinonia import events, policy
from koinonia.exceptions import BusinessRuleError

__all__ = [
    "branch_create",
    "branch_delete",
    "branch_update",
    "group_create",
    "group_delete",
    "group_members_add",
    "group_members_remove",
    "group_update",
    "member_create",
    "member_delete_many",
    "member_update",
]


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
    policy.current().check(church=church, resource="branches", adding=1)
    if Branch.objects.for_church(church).filter(name__iexact=name).exists():
        raise _unique_name_error("branch", name)
    return Branch.objects.create(church=church, name=name, address=address.strip(), timezone=timezone_name)


@transaction.atomic
def branch_update(*, church: Church, branch: Branch, acting_user: User | None, **fields) -> Branch:
    if "name" in fields:
        fields["name"] = _clean_name(fields["name"], what="branch")
        if Branch.objects.for_church(church).filter(name__iexact=fields["name"]).exclude(pk=branch.pk).exists():
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
    members = Member.objects.for_church(church).filter(branch=branch).update(branch=None, updated_at=timezone.now())
    groups = Group.objects.for_church(church).filter(branch=branch).update(branch=None)
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
    clash = Group.objects.for_church(church).filter(keyword__iexact=keyword)
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
    found = Branch.objects.for_church(church).filter(pk=branch).first()
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
    if Group.objects.for_church(church).filter(name__iexact=name).exists():
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
        if Group.objects.for_church(church).filter(name__iexact=fields["name"]).exclude(pk=group.pk).exists():
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
    removed = GroupMembership.objects.for_church(church).filter(group=group).delete()[0]
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
    return list(Member.objects.for_church(church).filter(pk__in=ids).values_list("pk", flat=True))


@transaction.atomic
def group_members_add(
    *, church: Church, group: Group, member_ids: Iterable[int], acting_user: User | None = None
) -> int:
    """Adds members (ignoring ids of other churches and existing memberships). Returns how many were added."""
    ids = _church_member_ids(church, member_ids)
    before = GroupMembership.objects.for_church(church).filter(group=group).count()
    GroupMembership.objects.bulk_create(
        [GroupMembership(church=church, group=group, member_id=i) for i in ids],
        ignore_conflicts=True,
        batch_size=2000,
    )
    return GroupMembership.objects.for_church(church).filter(group=group).count() - before


@transaction.atomic
def group_members_remove(
    *, church: Church, group: Group, member_ids: Iterable[int], acting_user: User | None = None
) -> int:
    ids = {int(i) for i in member_ids}
    return GroupMembership.objects.for_church(church).filter(group=group, member_id__in=ids).delete()[0]


# --- Members --------------------------------------------------------------------------


def _groups_of(church: Church, group_ids: Iterable[int] | None) -> list[int]:
    if not group_ids:
        return []
    wanted = {int(i) for i in group_ids}
    found = set(Group.objects.for_church(church).filter(pk__in=wanted).values_list("pk", flat=True))
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
    language: str = "",
    consent: str = "",
    source: str = ConsentEvent.Source.STAFF,
    api_key: ApiKey | None = None,
) -> Member:
    """Add a member. ``consent`` is how the church obtained permission to text them (the church
    attests it); with it the member starts subscribed, without it "no consent yet"."""
    e164, hashed, area_timezone = normalize_phone(church=church, raw=phone)
    details = clean_member_fields(
        {"first_name": first_name, "last_name": last_name, "email": email, "language": language}
    )
    if Member.objects.for_church(church).filter(phone_hash=hashed).exists():
        raise BusinessRuleError(
            "A member with this phone number already exists.", field="phone", code="conflict", status=409
        )
    policy.current().check(church=church, resource="members", adding=1)
    groups = _groups_of(church, group_ids)
    try:
        with transaction.atomic():
            member = Member.objects.create(
                church=church,
                phone=e164,
                phone_hash=hashed,
                **details,
                branch=_branch_of(church, branch),
                timezone=timezone_name or area_timezone or "",
                created_by=acting_user if getattr(acting_user, "pk", None) else None,
            )
    except IntegrityError as exc:  # a concurrent insert of the same phone
        raise BusinessRuleError(
            "A member with this phone number already exists.", field="phone", code="conflict", status=409
        ) from exc
    GroupMembership.objects.bulk_create([GroupMembership(church=church, group_id=g, member=member) for g in groups])
    events.emit(church=church, type="member.created", data=member_data(member))
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
    allowed = {"first_name", "last_name", "phone", "email", "branch", "timezone", "language"}
    unknown = set(fields) - allowed
    if unknown:
        raise BusinessRuleError(f"These fields can't be changed here: {', '.join(sorted(unknown))}.")
    if "phone" in fields:
        e164, hashed, _ = normalize_phone(church=church, raw=fields["phone"])
        if e164 != member.phone:
            if Member.objects.for_church(church).filter(phone_hash=hashed).exclude(pk=member.pk).exists():
                raise BusinessRuleError(
                    "Another member already has this phone number.", field="phone", code="conflict", status=409
                )
            fields["phone_hash"] = hashed
        fields["phone"] = e164
    if "branch" in fields:
        fields["branch"] = _branch_of(church, fields["branch"])
    fields.update(clean_member_fields(fields))
    changed = [key for key, value in fields.items() if getattr(member, key) != value]
    for key in changed:
        setattr(member, key, fields[key])
    if changed:
        member.updated_at = timezone.now()
        member.save(update_fields=[*changed, "updated_at"])
        events.emit(church=church, type="member.updated", data=member_data(member))
    if group_ids is not None:
        wanted = set(_groups_of(church, group_ids))
        current = set(
            GroupMembership.objects.for_church(church).filter(member=member).values_list("group_id", flat=True)
        )
        GroupMembership.objects.for_church(church).filter(member=member, group_id__in=current - wanted).delete()
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
    GroupMembership.objects.for_church(church).filter(member_id__in=ids).delete()
    ConsentEvent.objects.for_church(church).filter(member_id__in=ids).delete()
    deleted = Member.objects.filter(Q(church=church) & Q(pk__in=ids)).delete()[0]
    events.emit_many(church=church, type="member.deleted", items=({"id": i} for i in ids))
    audit_record(church=church, actor=acting_user, action="members.deleted", data={"count": deleted})
    return deleted
