"""Staff work on threads: status, assignment, the restricted flag, notes, reading; canned replies; the
consent review queue; inbox settings and notification preferences."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from churches.models import Church, ConsentEvent, Role, SmsStatus, StaffMembership, User
from churches.services import audit_record, consent_record
from conversations.models import (
    CannedReply,
    ConsentReview,
    Conversation,
    ConversationMessage,
    InboxSettings,
    StaffNotificationPreference,
)
from conversations.services.inbound import _promote_to_member, _Sender, send_opt_out_confirmation
from conversations.services.outbound import touch_conversation
from koinonia.exceptions import BusinessRuleError

_UNSET = object()


def can_manage_restricted(*, role: str | None, user: User | None, conversation: Conversation) -> bool:
    if Role.at_least(role, Role.ADMIN):
        return True
    return user is not None and user.pk is not None and conversation.assignee_id == user.pk


@transaction.atomic
def conversation_update(
    *,
    church: Church,
    conversation: Conversation,
    acting_user: User | None,
    acting_role: str | None,
    status: str | None = None,
    assignee_id=_UNSET,
    restricted: bool | None = None,
    api_key=None,
) -> Conversation:
    """Change status, assignee and/or the restricted flag. Only owners, admins and the assignee may
    restrict or unrestrict a thread; the change is audited."""
    fields = []
    if status is not None:
        if status not in Conversation.Status.values:
            raise BusinessRuleError("Status must be open, closed or archived.", field="status")
        conversation.status = status
        fields.append("status")
    if assignee_id is not _UNSET:
        if assignee_id in (None, ""):
            conversation.assignee = None
        else:
            membership = (
                StaffMembership.objects.select_related("user")
                .filter(church=church, user_id=assignee_id, role__in=[Role.OWNER, Role.ADMIN, Role.STAFF])
                .first()
            )
            if membership is None:
                raise BusinessRuleError("Assign the conversation to someone on your team.", field="assignee_id")
            conversation.assignee = membership.user
        fields.append("assignee")
    if restricted is not None and restricted != conversation.restricted:
        if not can_manage_restricted(role=acting_role, user=acting_user, conversation=conversation):
            raise BusinessRuleError(
                "Only owners, admins and the assigned person can change who may read this conversation.",
                field="restricted",
                code="permission_denied",
                status=403,
            )
        conversation.restricted = restricted
        fields.append("restricted")
        audit_record(
            church=church,
            actor=acting_user,
            api_key=api_key,
            action="conversation.restricted" if restricted else "conversation.unrestricted",
            target=conversation,
        )
    if fields:
        conversation.save(update_fields=fields)
    return conversation


def conversation_mark_read(*, church: Church, conversation: Conversation) -> None:
    if conversation.unread_count:
        Conversation.objects.for_church(church).filter(pk=conversation.pk).update(unread_count=0)
        conversation.unread_count = 0


@transaction.atomic
def note_add(*, church: Church, conversation: Conversation, acting_user: User | None, body: str) -> ConversationMessage:
    body = (body or "").strip()
    if not body:
        raise BusinessRuleError("Write the note first.", field="body")
    note = ConversationMessage.objects.create(
        church=church,
        conversation=conversation,
        direction=ConversationMessage.Direction.NOTE,
        body=body[:5000],
        status=ConversationMessage.Status.NOTE,
        author=acting_user if getattr(acting_user, "pk", None) else None,
    )
    touch_conversation(conversation, note)
    return note


# --- Canned replies ---------------------------------------------------------------------------------


def _clean_canned(title: str, body: str) -> tuple[str, str]:
    title, body = (title or "").strip(), (body or "").strip()
    if not title:
        raise BusinessRuleError("Give the canned reply a title.", field="title")
    if not body:
        raise BusinessRuleError("Write the reply text.", field="body")
    return title[:80], body


def canned_reply_create(*, church: Church, acting_user: User | None, title: str, body: str) -> CannedReply:
    title, body = _clean_canned(title, body)
    try:
        with transaction.atomic():
            return CannedReply.objects.create(
                church=church,
                title=title,
                body=body,
                created_by=acting_user if getattr(acting_user, "pk", None) else None,
            )
    except IntegrityError as exc:
        raise BusinessRuleError(
            f"There is already a canned reply called “{title}”.", field="title", code="conflict", status=409
        ) from exc


def canned_reply_update(
    *, church: Church, canned: CannedReply, acting_user: User | None, title: str | None = None, body: str | None = None
) -> CannedReply:
    """Only the fields given change."""
    title, body = _clean_canned(canned.title if title is None else title, canned.body if body is None else body)
    try:
        with transaction.atomic():
            CannedReply.objects.for_church(church).filter(pk=canned.pk).update(title=title, body=body)
    except IntegrityError as exc:
        raise BusinessRuleError(
            f"There is already a canned reply called “{title}”.", field="title", code="conflict", status=409
        ) from exc
    canned.title, canned.body = title, body
    return canned


def canned_reply_delete(*, church: Church, canned: CannedReply, acting_user: User | None) -> None:
    CannedReply.objects.for_church(church).filter(pk=canned.pk).delete()


# --- Consent review queue ----------------------------------------------------------------------------


def _decided(review: ConsentReview) -> None:
    if review.status != ConsentReview.Status.PENDING:
        raise BusinessRuleError("Someone already decided this one.", code="conflict", status=409)


@transaction.atomic
def review_confirm(*, church: Church, review: ConsentReview, acting_user: User | None) -> ConsentReview:
    """Staff read the text as a revocation: record the opt-out with the member's own words, and send
    the one confirmation (none if they had already opted out)."""
    review = (
        ConsentReview.objects.select_for_update(of=("self",)).select_related("conversation", "member").get(pk=review.pk)
    )
    _decided(review)
    conversation = review.conversation
    conversation.church = church
    member = review.member or conversation.member
    if member is None and conversation.visitor_phone:
        who = _Sender(e164=conversation.visitor_phone, hashed=conversation.visitor_phone_hash, member=None)
        if _promote_to_member(church, who):
            member = who.member
            Conversation.objects.filter(pk=conversation.pk).update(
                member=member, visitor_phone=None, visitor_phone_hash=""
            )
            conversation.member = member
    if member is not None:
        newly = member.sms_status != SmsStatus.UNSUBSCRIBED
        consent_record(
            church=church,
            member=member,
            kind=ConsentEvent.Kind.OPT_OUT,
            source=ConsentEvent.Source.REASONABLE_MANNER,
            raw_text=review.raw_text,
            actor=acting_user,
        )
    else:
        newly = not conversation.visitor_opted_out
        Conversation.objects.filter(pk=conversation.pk).update(visitor_opted_out=True)
        conversation.visitor_opted_out = True
    if newly:
        send_opt_out_confirmation(
            conversation=conversation,
            member=member,
            provider="",
            provider_autoreply="",
            dedupe_key=f"confirm:review:{review.pk}",
        )
    review.status = ConsentReview.Status.CONFIRMED
    review.member = member
    review.decided_by = acting_user if getattr(acting_user, "pk", None) else None
    review.decided_at = timezone.now()
    review.save(update_fields=["status", "member", "decided_by", "decided_at"])
    return review


@transaction.atomic
def review_dismiss(*, church: Church, review: ConsentReview, acting_user: User | None) -> ConsentReview:
    review = ConsentReview.objects.select_for_update().get(pk=review.pk)
    _decided(review)
    review.status = ConsentReview.Status.DISMISSED
    review.decided_by = acting_user if getattr(acting_user, "pk", None) else None
    review.decided_at = timezone.now()
    review.save(update_fields=["status", "decided_by", "decided_at"])
    return review


# --- Settings ---------------------------------------------------------------------------------------


def inbox_settings_update(*, church: Church, acting_user: User | None, **fields) -> InboxSettings:
    row, _ = InboxSettings.objects.get_or_create(church=church)
    allowed = {
        "unknown_sender",
        "office_hours_enabled",
        "office_days",
        "office_opens",
        "office_closes",
        "welcome_new_members",
        "show_broadcasts",
    }
    unknown = set(fields) - allowed
    if unknown:
        raise BusinessRuleError(f"Unknown settings: {', '.join(sorted(unknown))}.")
    if "office_days" in fields:
        days = "".join(sorted(set(str(fields["office_days"])) & set("0123456")))
        fields["office_days"] = days
    changed = [key for key, value in fields.items() if getattr(row, key) != value]
    for key in changed:
        setattr(row, key, fields[key])
    if changed:
        row.save(update_fields=changed)
    return row


def notification_preference_set(*, church: Church, user: User, email_on_inbound: bool) -> StaffNotificationPreference:
    pref, _ = StaffNotificationPreference.objects.update_or_create(
        church=church, user=user, defaults={"email_on_inbound": email_on_inbound}
    )
    return pref
