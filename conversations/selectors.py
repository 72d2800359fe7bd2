"""Reads for the inbox. Every read starts from ``visible_conversations``: a church's threads minus the
restricted ones the reader may not open (owners and admins see all; others see a restricted thread
only when it is assigned to them)."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet, Sum

from churches.crypto import phone_hash
from churches.models import Church, Member, Role, StaffMembership, User
from churches.phones import InvalidPhone, parse_phone
from conversations.models import CannedReply, ConsentReview, Conversation, ConversationMessage, InboxSettings
from koinonia.tenancy import access_function, church_object_get
from messaging.broadcasts.services import render_body
from messaging.models import Recipient

FILTERS = ("open", "mine", "unassigned", "restricted", "closed", "archived", "all")


def visible_conversations(*, church: Church, user: User | None, role: str | None) -> QuerySet[Conversation]:
    rows = Conversation.objects.for_church(church)
    if Role.at_least(role, Role.ADMIN):
        return rows
    if user is not None and getattr(user, "pk", None):
        return rows.filter(Q(restricted=False) | Q(assignee_id=user.pk))
    return rows.filter(restricted=False)


# --- access functions: the one way to fetch a church's row by id --------------------------------------
# Each raises ``koinonia.exceptions.NotFound`` (404 in pages and API) for a missing id and for another
# church's id alike; ``queryset`` lets a caller add joins, annotations or a row lock without a second query.


@access_function(Conversation)
def conversation_get(
    *,
    church: Church,
    id: int,
    queryset: QuerySet[Conversation] | None = None,
    user: User | None = None,
    role: str | None = None,
) -> Conversation:
    """A thread the reader may open: without ``queryset``, among ``visible_conversations`` (a restricted
    thread needs an admin ``role`` or assignment to ``user``); a hidden one is as missing as another's."""
    rows = visible_conversations(church=church, user=user, role=role) if queryset is None else queryset
    return church_object_get(rows, church=church, id=id)


@access_function(CannedReply)
def canned_reply_get(*, church: Church, id: int, queryset: QuerySet[CannedReply] | None = None) -> CannedReply:
    return church_object_get(CannedReply.objects if queryset is None else queryset, church=church, id=id)


@access_function(ConsentReview)
def consent_review_get(*, church: Church, id: int, queryset: QuerySet[ConsentReview] | None = None) -> ConsentReview:
    return church_object_get(ConsentReview.objects if queryset is None else queryset, church=church, id=id)


def _phone_hash_of(church: Church, q: str) -> str | None:
    if sum(ch.isdigit() for ch in q) < 7:
        return None
    try:
        return phone_hash(parse_phone(q, default_region=church.default_region).e164)
    except InvalidPhone:
        return None


def conversation_list(
    *, church: Church, user: User | None, role: str | None, filter_by: str = "open", q: str = ""
) -> QuerySet[Conversation]:
    """The inbox list, latest message first; one query whatever the page size."""
    rows = visible_conversations(church=church, user=user, role=role).select_related("member", "assignee")
    if filter_by == "open":
        rows = rows.filter(status=Conversation.Status.OPEN)
    elif filter_by in ("closed", "archived"):
        rows = rows.filter(status=filter_by)
    elif filter_by == "mine":
        rows = rows.filter(assignee_id=getattr(user, "pk", None) or -1).exclude(status=Conversation.Status.ARCHIVED)
    elif filter_by == "unassigned":
        rows = rows.filter(assignee__isnull=True, status=Conversation.Status.OPEN)
    elif filter_by == "restricted":
        rows = rows.filter(restricted=True)
    q = (q or "").replace("\x00", "").strip()  # PostgreSQL text cannot hold NUL; no message contains one
    if q:
        text = Q(last_message_preview__icontains=q)
        # Names: the church's own members whose first or last name starts with each word (the member
        # search's rule), found by the (church, UPPER(name)) prefix indexes, not by joining every
        # conversation to a scan of all churches' members.
        name = Q()
        for word in q.split()[:3]:
            name &= Q(first_name__istartswith=word) | Q(last_name__istartswith=word)
        text |= Q(member_id__in=Member.objects.for_church(church).filter(name).values("id"))
        hashed = _phone_hash_of(church, q)
        if hashed:
            text |= Q(member__phone_hash=hashed) | Q(visitor_phone_hash=hashed)
        rows = rows.filter(text)
    return rows.order_by("-last_message_at", "-id")


def unread_total(*, church: Church, user: User | None, role: str | None) -> int:
    rows = visible_conversations(church=church, user=user, role=role).filter(
        status=Conversation.Status.OPEN, unread_count__gt=0
    )
    return rows.aggregate(total=Sum("unread_count"))["total"] or 0


def inbox_version(*, church: Church, user: User | None, role: str | None, unread: int | None = None) -> str:
    """Changes whenever anything the list shows changes: the live page polls it. ``unread``: the
    caller's unread_total, when it already has it."""
    latest = (
        visible_conversations(church=church, user=user, role=role)
        .order_by("-last_message_at")
        .values_list("last_message_at", flat=True)
        .first()
    )
    if unread is None:
        unread = unread_total(church=church, user=user, role=role)
    return f"{latest.isoformat() if latest else ''}:{unread}"


def thread_message_rows(*, conversation: Conversation) -> QuerySet[ConversationMessage]:
    return ConversationMessage.objects.filter(
        church_id=conversation.church_id, conversation=conversation
    ).select_related("author")


def thread_messages(*, conversation: Conversation, after_id: int = 0, limit: int = 200) -> list[ConversationMessage]:
    rows = ConversationMessage.objects.filter(
        church_id=conversation.church_id, conversation=conversation
    ).select_related("author")
    if after_id:
        return list(rows.filter(id__gt=after_id).order_by("id")[:limit])
    return list(reversed(rows.order_by("-id")[:limit]))


@dataclass(frozen=True)
class BroadcastItem:
    """A broadcast the member received, shown in the thread as context."""

    created_at: datetime
    body: str
    status: str
    message_id: int
    direction: str = "broadcast"


def thread_broadcasts(*, conversation: Conversation, limit: int = 50) -> list[BroadcastItem]:
    """The broadcasts this member was sent, each as they received it: merge fields ({first_name}…)
    filled by the send pipeline's own ``render_body`` with the member's (current) name."""
    if not conversation.member_id:
        return []
    member, church = conversation.member, conversation.church
    rows = (
        Recipient.objects.for_church(conversation.church_id)
        .filter(member_id=conversation.member_id)
        .select_related("message")
        .order_by("-id")[:limit]
    )
    return [
        BroadcastItem(
            created_at=r.sent_at or r.queued_at,
            body=render_body(
                r.message.body, first_name=member.first_name, last_name=member.last_name, church_name=church.name
            ),
            status=r.get_status_display(),
            message_id=r.message_id,
        )
        for r in rows
    ]


def reply_statuses(*, conversation: Conversation, ids: list[int]) -> QuerySet[ConversationMessage]:
    """Some of a thread's outbound texts (the ones a page shows as still on their way) with their
    current status, so a live page can update their badges: one query, at most 50 ids."""
    return ConversationMessage.objects.filter(
        church_id=conversation.church_id,
        conversation=conversation,
        direction=ConversationMessage.Direction.OUTBOUND,
        id__in=ids[:50],
    ).only("id", "status", "direction")


def unread_conversation_count(*, church: Church, user: User | None, role: str | None) -> int:
    """How many open threads the reader may open have unread texts: the main navigation's badge.
    One COUNT over the partial unread index (conversation_church_unread)."""
    return (
        visible_conversations(church=church, user=user, role=role)
        .filter(status=Conversation.Status.OPEN, unread_count__gt=0)
        .count()
    )


def thread_items(*, conversation: Conversation, settings_row: InboxSettings) -> list:
    """Messages, notes and (if the church wants) broadcasts, oldest first."""
    items: list = thread_messages(conversation=conversation)
    if settings_row.show_broadcasts:
        items = sorted([*items, *thread_broadcasts(conversation=conversation)], key=lambda i: i.created_at)
    return items


def member_for_conversation(*, conversation: Conversation) -> Member | None:
    return conversation.member if conversation.member_id else None


def pending_reviews(*, church: Church, user: User | None, role: str | None) -> QuerySet[ConsentReview]:
    visible = visible_conversations(church=church, user=user, role=role).values("id")
    return (
        ConsentReview.objects.for_church(church)
        .filter(status=ConsentReview.Status.PENDING, conversation_id__in=visible)
        .select_related("member", "conversation")
        .order_by("created_at", "id")
    )


def review_list(*, church: Church) -> QuerySet[ConsentReview]:
    return ConsentReview.objects.for_church(church).select_related("member", "conversation")


def canned_replies(*, church: Church) -> QuerySet[CannedReply]:
    return CannedReply.objects.for_church(church).order_by("title")


def assignable_staff(*, church: Church) -> QuerySet[StaffMembership]:
    return (
        StaffMembership.objects.for_church(church)
        .filter(role__in=[Role.OWNER, Role.ADMIN, Role.STAFF])
        .select_related("user")
        .order_by("user__name", "user__email")
    )


def notification_preference(*, church: Church, user: User) -> bool:
    from conversations.models import StaffNotificationPreference

    pref = StaffNotificationPreference.objects.for_church(church).filter(user=user).first()
    return True if pref is None else pref.email_on_inbound


def message_with_media(*, church: Church, message_id: int) -> ConversationMessage | None:
    return ConversationMessage.objects.for_church(church).filter(pk=message_id).select_related("conversation").first()
