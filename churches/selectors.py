"""Reads for churches, staff and API keys."""

from collections.abc import Iterable

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Lower

from churches.crypto import email_local_hash, phone_hash
from churches.models import (
    ApiKey,
    AuditLog,
    Branch,
    Church,
    ConsentEvent,
    Group,
    GroupMembership,
    ImportJob,
    Invitation,
    Member,
    Role,
    StaffMembership,
    User,
)
from churches.phones import InvalidPhone, parse_phone
from koinonia.tenancy import access_function, church_object_get

# --- access functions: the one way to fetch a church's row by id --------------------------------------
# Each raises ``koinonia.exceptions.NotFound`` (404 in pages and API) for a missing id and for another
# church's id alike. ``queryset`` lets a caller add joins, annotations or a row lock without a second query.


@access_function(Member)
def member_get(*, church: Church, id: int, queryset: QuerySet[Member] | None = None) -> Member:
    return church_object_get(Member.objects if queryset is None else queryset, church=church, id=id)


@access_function(Branch)
def branch_get(*, church: Church, id: int, queryset: QuerySet[Branch] | None = None) -> Branch:
    return church_object_get(Branch.objects if queryset is None else queryset, church=church, id=id)


@access_function(Group)
def group_get(*, church: Church, id: int, queryset: QuerySet[Group] | None = None) -> Group:
    return church_object_get(Group.objects if queryset is None else queryset, church=church, id=id)


@access_function(ApiKey)
def api_key_get(*, church: Church, id: int, queryset: QuerySet[ApiKey] | None = None) -> ApiKey:
    return church_object_get(ApiKey.objects if queryset is None else queryset, church=church, id=id)


@access_function(ImportJob)
def import_job_get(*, church: Church, id: int, queryset: QuerySet[ImportJob] | None = None) -> ImportJob:
    return church_object_get(ImportJob.objects if queryset is None else queryset, church=church, id=id)


@access_function(StaffMembership)
def staff_membership_get(
    *, church: Church, id: int, queryset: QuerySet[StaffMembership] | None = None
) -> StaffMembership:
    return church_object_get(StaffMembership.objects if queryset is None else queryset, church=church, id=id)


def membership_list_for_user(*, user: User) -> QuerySet[StaffMembership]:
    return StaffMembership.objects.filter(user=user).select_related("church").order_by("church__name")


def team_list(*, church: Church) -> QuerySet[StaffMembership]:
    return StaffMembership.objects.for_church(church).select_related("user").order_by("user__name", "user__email")


def owner_emails(*, church: Church) -> list[str]:
    """Where a church's account emails go: its active owners, plus the church's contact address."""
    emails = list(
        StaffMembership.objects.for_church(church)
        .filter(role=Role.OWNER, user__is_active=True)
        .values_list("user__email", flat=True)
    )
    if church.contact_email and church.contact_email.lower() not in {e.lower() for e in emails}:
        emails.append(church.contact_email)
    return emails


def pending_invitation_list(*, church: Church) -> QuerySet[Invitation]:
    from django.utils import timezone

    return Invitation.objects.filter(
        church=church, accepted_at=None, revoked_at=None, expires_at__gt=timezone.now()
    ).order_by("-created_at")


def api_key_list(*, church: Church) -> QuerySet[ApiKey]:
    return ApiKey.objects.for_church(church).select_related("created_by").order_by("-created_at")


def audit_log_recent(*, church: Church, limit: int = 50) -> QuerySet[AuditLog]:
    return AuditLog.objects.for_church(church).select_related("actor", "api_key")[:limit]


# --- Directory ------------------------------------------------------------------------------------

MEMBER_SORTS = {
    "name": ("last_name", "first_name", "id"),
    "-name": ("-last_name", "-first_name", "-id"),
    # Ids grow with time, so "when added" sorts by id: one indexed column (member_church_recent).
    "created": ("id",),
    "-created": ("-id",),
}


def member_search(
    *,
    church: Church,
    q: str = "",
    branch_id: int | None = None,
    group_id: int | None = None,
    sms_status: str | None = None,
    sort: str = "name",
) -> QuerySet[Member]:
    """Members of one church matching a free-text search and filters, in a stable order.

    The search box takes a name, an email, or a phone number (found through the blind index, since
    phones are encrypted: a phone must be typed in full, in any common format)."""
    members = Member.objects.for_church(church)
    q = (q or "").replace("\x00", "").strip()  # PostgreSQL text cannot hold NUL; no name contains one
    if q:
        members = members.filter(_member_text_filter(church, q))
    if branch_id:
        members = members.filter(branch_id=branch_id)
    if group_id:
        members = members.filter(
            pk__in=GroupMembership.objects.for_church(church).filter(group_id=group_id).values("member_id")
        )
    if sms_status:
        members = members.filter(sms_status=sms_status)
    return members.order_by(*MEMBER_SORTS.get(sort, MEMBER_SORTS["name"]))


def _member_text_filter(church: Church, q: str) -> Q:
    digits = sum(ch.isdigit() for ch in q)
    if digits >= 7:
        try:
            parsed = parse_phone(q, default_region=church.default_region)
        except InvalidPhone:
            return Q(pk__in=[])
        return Q(phone_hash=phone_hash(parsed.e164))
    if "@" in q:
        return member_email_prefix_filter(Member.objects.for_church(church), q)
    condition = Q()
    for word in q.split()[:3]:  # "mary jo smith": every word must match a first or last name
        condition &= Q(first_name__istartswith=word) | Q(last_name__istartswith=word)
    return condition


def member_email_prefix_filter(members: QuerySet[Member], q: str) -> Q:
    """Members among ``members`` whose email starts with ``q`` (case-insensitive), which must hold
    the whole part before the "@" ("ruth@exa"). Emails are encrypted: the keyed hash of that part
    finds the few candidates, whose decrypted addresses are then compared here."""
    hashed = email_local_hash(q)
    if not hashed:
        return Q(pk__in=[])
    prefix = q.strip().lower()
    candidates = members.filter(email_local_hash=hashed).values_list("pk", "email")
    return Q(pk__in=[pk for pk, email in candidates if email.lower().startswith(prefix)])


def member_group_ids(*, church: Church, member_ids: list[int]) -> dict[int, list[int]]:
    """Group ids for a page of members, in one query (no N+1 in lists)."""
    result: dict[int, list[int]] = {member_id: [] for member_id in member_ids}
    rows = (
        GroupMembership.objects.for_church(church).filter(member_id__in=member_ids).values_list("member_id", "group_id")
    )
    for member_id, group_id in rows.order_by("group_id"):
        result[member_id].append(group_id)
    return result


def consent_history(*, church: Church, member: Member) -> QuerySet[ConsentEvent]:
    return ConsentEvent.objects.for_church(church).filter(member=member).select_related("actor", "api_key")


def _member_count(rows: QuerySet, key: str) -> Coalesce:
    """``rows`` counted per ``key`` = the outer row, as a correlated subquery (one per listed row, served by
    the FK / unique index), so lists stay one query whatever their size."""
    counted = rows.filter(**{key: OuterRef("pk")}).order_by().values(key).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def branch_list_with_member_counts(*, church: Church) -> QuerySet[Branch]:
    """Branches by name with their member and group counts: one query however many branches."""
    return (
        Branch.objects.for_church(church)
        .annotate(
            member_count=_member_count(Member.objects.for_church(church), "branch"),
            group_count=_member_count(Group.objects.for_church(church), "branch"),
        )
        .order_by(Lower("name"))
    )


def group_list_with_member_counts(*, church: Church) -> QuerySet[Group]:
    """Groups by name with their member counts: one query however many groups."""
    return (
        Group.objects.for_church(church)
        .annotate(member_count=_member_count(GroupMembership.objects.for_church(church), "group"))
        .select_related("branch")
        .order_by(Lower("name"))
    )


def directory_ids_in_church(*, church: Church, model: type[Branch | Group | Member], ids: Iterable[int]) -> set[int]:
    """Which of ``ids`` are this church's branches / groups / members (others' ids look missing)."""
    # An id past the 64-bit range names no row (and SQLite refuses to bind it): unknown, not an error.
    wanted = {int(i) for i in ids if 0 < int(i) < 2**63}
    if not wanted:
        return set()
    return set(model.objects.for_church(church).filter(pk__in=wanted).values_list("pk", flat=True))


def directory_object(*, church: Church, model: type[Branch | Group], pk: int) -> Branch | Group | None:
    """This church's branch or group with this id, or None (another church's id is None too)."""
    return model.objects.for_church(church).filter(pk=pk).first()


def member_status_counts(*, church: Church) -> dict[str, int]:
    """Members by SMS status, in one aggregate (index-only on (church, sms_status, branch))."""
    from django.db.models import Count

    rows = Member.objects.for_church(church).values_list("sms_status").annotate(n=Count("id"))
    counts = dict(rows)
    counts["total"] = sum(counts.values())
    return counts
