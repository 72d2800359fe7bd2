"""Writes for broadcasts: sending and scheduling, cancel, resend, templates."""

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from churches.models import ApiKey, Church, User
from churches.services import audit_record
from koinonia import events, policy
from koinonia.exceptions import BusinessRuleError
from koinonia.tenancy import church_object_get
from messaging import enqueue
from messaging.broadcasts import approval, event_data
from messaging.broadcasts.audience import audience_count, budget_branch_id, clean_audience, materialize_recipients
from messaging.broadcasts.models import Message, MessageTemplate, Recipient
from messaging.numbers.services import default_sender
from messaging.segments import segment_info

MAX_SEGMENTS = 10  # Telnyx rejects more; Twilio caps Body at 1,600 characters
MAX_MEDIA = 10
MERGE_FIELDS = ("first_name", "last_name", "full_name", "church_name")
# Merge fields grow a text; estimates assume this many characters per field.
MERGE_FIELD_ESTIMATE = {"first_name": 10, "last_name": 12, "full_name": 23, "church_name": 30}
DEFAULT_EXPIRY = timedelta(hours=24)
# Audiences up to this size are counted exactly when a broadcast is accepted; a larger one is counted
# only as far as the church's plan could refuse it, and otherwise by the worker that materializes it,
# so accepting a broadcast takes the same time for ten members or a hundred thousand.
EXACT_COUNT_UP_TO = 1_000


def render_body(body: str, *, first_name: str, last_name: str, church_name: str) -> str:
    """Fill merge fields. Unknown braces are left as typed (a church may write "{{" for fun)."""
    values = {
        "first_name": first_name or "friend",
        "last_name": last_name or "",
        "full_name": f"{first_name} {last_name}".strip() or "friend",
        "church_name": church_name,
    }
    for key, value in values.items():
        body = body.replace("{" + key + "}", value)
    return body


def _estimate_text(body: str) -> str:
    for key, width in MERGE_FIELD_ESTIMATE.items():
        body = body.replace("{" + key + "}", "x" * width)
    return body


def validate_body(body: str, media_urls: list[str] | None = None) -> tuple[str, int]:
    """(encoding, segments) for a body, or a clear refusal."""
    body = body or ""
    if not body.strip() and not media_urls:
        raise BusinessRuleError("Write a message (or attach a picture).", field="body")
    if len(media_urls or []) > MAX_MEDIA:
        raise BusinessRuleError(f"At most {MAX_MEDIA} attachments per message.", field="media_urls")
    info = segment_info(_estimate_text(body))
    if info.segments > MAX_SEGMENTS or len(body) > 1600:
        raise BusinessRuleError(
            f"This message is {info.segments} segments long; the most carriers accept is {MAX_SEGMENTS}. "
            "Shorten it or split it into two messages.",
            field="body",
        )
    return info.encoding, max(info.segments, 1)


def _check_send_time(scheduled_at: datetime, *, now: datetime) -> None:
    if timezone.is_naive(scheduled_at):
        raise BusinessRuleError("Give the time with its time zone.", field="scheduled_at")
    if scheduled_at < now - timedelta(minutes=1):
        raise BusinessRuleError("That time has already passed. Pick a time in the future.", field="scheduled_at")
    if scheduled_at > now + timedelta(days=366):
        raise BusinessRuleError("Messages can be scheduled up to a year ahead.", field="scheduled_at")


@transaction.atomic
def message_send(
    *,
    church: Church,
    author: User | None,
    body: str,
    audience: dict,
    scheduled_at: datetime | None = None,
    media_urls: list[str] | None = None,
    idempotency_key: str = "",
    api_key: ApiKey | None = None,
    resend_of: Message | None = None,
    acting_role: str | None = None,
) -> Message:
    """Accept a broadcast. Recipients are materialized by a worker (``prepare_message``) right after
    commit, so answering takes the same time for ten members or a hundred thousand. ``acting_role`` is the
    role of the person or key sending (None for the system's own sends): below admin, the church's
    send-safety rule may hold the broadcast for an admin's approval (``approval.py``)."""
    idempotency_key = (idempotency_key or "").strip()[:128]
    if idempotency_key:
        existing = Message.objects.for_church(church).filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    encoding, segments = validate_body(body, media_urls)
    audience = clean_audience(church=church, audience=audience)
    now = timezone.now()
    if scheduled_at is not None:
        _check_send_time(scheduled_at, now=now)
    sender = default_sender(church=church)
    if sender is None:
        raise BusinessRuleError(
            "Your church has no sending number yet. Add one in Settings → Numbers.", code="no_sender", status=409
        )
    estimate = _audience_estimate(church=church, audience=audience, segments=segments)
    if estimate == 0:
        raise BusinessRuleError("Nobody in this audience can receive texts (no subscribed members).", field="audience")
    policy.current().check(
        church=church,
        resource="broadcast",
        # Uncounted (None) only when nothing caps the amount: the check then looks at standing alone.
        adding=(estimate or EXACT_COUNT_UP_TO) * segments,
        audience=audience,
        branch_id=budget_branch_id(audience),
    )
    send_at = scheduled_at or now
    held = approval.approval_rule_applies(church=church, audience=audience, acting_role=acting_role)
    if held:
        status = Message.Status.HELD
    else:
        status = Message.Status.SCHEDULED if scheduled_at else Message.Status.QUEUED
    try:
        with transaction.atomic():
            message = Message.objects.create(
                church=church,
                author=author if getattr(author, "pk", None) else None,
                api_key=api_key,
                sender=sender,
                body=body,
                media_urls=media_urls or [],
                audience=audience,
                status=status,
                scheduled_at=scheduled_at,
                expires_at=send_at + DEFAULT_EXPIRY,
                encoding=encoding,
                segments=segments,
                idempotency_key=idempotency_key,
                recipient_count=estimate or 0,  # 0 with prepared_at unset: not counted yet
                queued_count=0,
                resend_of=resend_of,
            )
    except IntegrityError:  # the same Idempotency-Key raced us: return the winner
        return Message.objects.for_church(church).get(idempotency_key=idempotency_key)
    audit_record(
        church=church,
        actor=author,
        api_key=api_key,
        action="message.held" if held else "message.scheduled" if scheduled_at else "message.sent",
        target=message,
        data={"audience": audience, "estimate": estimate},
    )
    events.emit(church=church, type="message.created", data=event_data.message_data(message))
    if held:
        approval.forget_held_count(church.pk)
        message_id = message.pk
        church_id = church.pk
        transaction.on_commit(lambda: approval.notify_held(church_id=church_id, message_id=message_id))
    elif not scheduled_at:
        _enqueue_prepare(message.pk)
    elif estimate is None:
        _enqueue_estimate(message.pk)
    return message


def _decide(*, church: Church, message_id: int, acting_user: User | None, api_key: ApiKey | None) -> Message:
    message = church_object_get(Message.objects.select_for_update(), church=church, id=message_id)  # as message_get
    if message.status != Message.Status.HELD:
        raise BusinessRuleError(
            f"This message is not awaiting approval (it is {message.get_status_display().lower()}).",
            code="conflict",
            status=409,
        )
    if acting_user is not None and acting_user.pk and message.author_id == acting_user.pk:
        raise BusinessRuleError("Another admin has to approve a message you wrote.", code="forbidden", status=403)
    return message


def _after_decision(*, church: Church, message: Message, action: str, acting_user, api_key, data: dict) -> None:
    audit_record(church=church, actor=acting_user, api_key=api_key, action=action, target=message, data=data)
    approval.forget_held_count(church.pk)
    message_id, church_id = message.pk, church.pk
    transaction.on_commit(lambda: approval.notify_decided(church_id=church_id, message_id=message_id))


@transaction.atomic
def message_approve(
    *, church: Church, message_id: int, acting_user: User | None, api_key: ApiKey | None = None
) -> Message:
    """Release a held broadcast: it goes out now (or at its scheduled time, if that is still ahead).
    The plan is checked again, since the allowance may have been used while it waited."""
    message = _decide(church=church, message_id=message_id, acting_user=acting_user, api_key=api_key)
    estimate = message.recipient_count or EXACT_COUNT_UP_TO
    policy.current().check(
        church=church,
        resource="broadcast",
        adding=estimate * message.segments,
        audience=message.audience,
        branch_id=budget_branch_id(message.audience),
    )
    now = timezone.now()
    later = message.scheduled_at is not None and message.scheduled_at > now
    message.status = Message.Status.SCHEDULED if later else Message.Status.QUEUED
    if not later:
        # The 24 h expiry counts from when it may go out, not from when it was written.
        message.expires_at = now + DEFAULT_EXPIRY
    message.approval_decided_by = acting_user if getattr(acting_user, "pk", None) else None
    message.approval_decided_at = now
    message.save(update_fields=["status", "expires_at", "approval_decided_by", "approval_decided_at"])
    _after_decision(
        church=church, message=message, action="message.approved", acting_user=acting_user, api_key=api_key, data={}
    )
    if not later:
        _enqueue_prepare(message.pk)
    return message


@transaction.atomic
def message_reject(
    *, church: Church, message_id: int, acting_user: User | None, api_key: ApiKey | None = None, reason: str = ""
) -> Message:
    """Refuse a held broadcast: nothing is sent, and the author is told why."""
    message = _decide(church=church, message_id=message_id, acting_user=acting_user, api_key=api_key)
    reason = (reason or "").strip()[:500]
    now = timezone.now()
    message.status = Message.Status.REJECTED
    message.status_detail = f"Not approved: {reason}" if reason else "Not approved by an admin."
    message.approval_decided_by = acting_user if getattr(acting_user, "pk", None) else None
    message.approval_decided_at = now
    message.completed_at = now
    message.save(
        update_fields=["status", "status_detail", "approval_decided_by", "approval_decided_at", "completed_at"]
    )
    _after_decision(
        church=church,
        message=message,
        action="message.rejected",
        acting_user=acting_user,
        api_key=api_key,
        data={"reason": reason},
    )
    return message


def _audience_estimate(*, church: Church, audience: dict, segments: int) -> int | None:
    """The audience's size when it matters now, else None (the worker counts it).

    Small audiences are counted exactly. A larger one is counted up to the point where the plan would
    refuse it (allowance without overage, spend cap, branch budget): past that point the send is refused
    and the refusal is worth a full count for its message. With no cap on the amount there is nothing
    to decide, so nothing more is counted here."""
    headroom = policy.current().headroom(church=church, branch_id=budget_branch_id(audience))
    bound = EXACT_COUNT_UP_TO if headroom is None else max(EXACT_COUNT_UP_TO, headroom // max(segments, 1) + 1)
    counted = audience_count(church=church, audience=audience, upto=bound)
    if counted < bound:
        return counted
    if headroom is None:
        return None
    return audience_count(church=church, audience=audience)


def _enqueue_estimate(message_id: int) -> None:
    enqueue.message_count_audience_later(message_id)


def message_count_audience(*, message_id: int) -> int | None:
    """Fill in the size of a scheduled broadcast's audience that was too large to count on acceptance
    (staff see it in the message list until the message goes out). Safe to repeat; a prepared message
    already has its exact count."""
    message = Message.objects.filter(pk=message_id, prepared_at__isnull=True, recipient_count=0).first()
    if message is None:
        return None
    total = audience_count(church=message.church, audience=message.audience)
    Message.objects.filter(pk=message_id, prepared_at__isnull=True).update(recipient_count=total)
    return total


def _enqueue_prepare(message_id: int) -> None:
    enqueue.message_prepare_later(message_id)


@transaction.atomic
def message_prepare(*, message_id: int) -> Message | None:
    """Materialize the recipients of a queued (or due scheduled) message, once. Safe to repeat."""
    message = Message.objects.select_for_update().filter(pk=message_id).first()
    if message is None or message.prepared_at is not None or message.is_finished:
        return message
    if message.status == Message.Status.SCHEDULED and message.scheduled_at > timezone.now():
        return message
    total = materialize_recipients(message=message)
    message.recipient_count = total
    message.queued_count = total
    message.prepared_at = timezone.now()
    message.status = Message.Status.SENDING if total else Message.Status.SENT
    if not total:
        message.completed_at = message.prepared_at
        message.status_detail = "Nobody in the audience could receive texts when it was sent."
    message.save(
        update_fields=["recipient_count", "queued_count", "prepared_at", "status", "status_detail", "completed_at"]
    )
    if not total:
        events.emit(church=message.church_id, type="message.completed", data=event_data.message_data(message))
    return message


@transaction.atomic
def message_cancel(
    *, church: Church, message_id: int, acting_user: User | None, api_key: ApiKey | None = None
) -> Message:
    """Stop a scheduled or sending broadcast. Texts already handed to the provider can't be recalled;
    everything still waiting is skipped."""
    # messaging.broadcasts.selectors.message_get's body (selectors import this module, so not the function itself).
    message = church_object_get(Message.objects.select_for_update(), church=church, id=message_id)
    if message.is_finished:
        raise BusinessRuleError(
            f"This message is already {message.get_status_display().lower()}.", code="conflict", status=409
        )
    if message.status == Message.Status.HELD:
        approval.forget_held_count(church.pk)
    now = timezone.now()
    skipped = Recipient.objects.filter(message=message, status=Recipient.Status.QUEUED).update(
        status=Recipient.Status.SKIPPED, error_reason="Canceled before it was sent.", claimed_until=None
    )
    message.status = Message.Status.CANCELED
    message.canceled_at = now
    message.completed_at = now
    message.save(update_fields=["status", "canceled_at", "completed_at"])
    Message.objects.filter(pk=message.pk).update(
        queued_count=F("queued_count") - skipped, skipped_count=F("skipped_count") + skipped
    )
    message.refresh_from_db()
    events.emit(church=church, type="message.cancelled", data=event_data.message_data(message))
    audit_record(
        church=church,
        actor=acting_user,
        api_key=api_key,
        action="message.canceled",
        target=message,
        data={"skipped": skipped},
    )
    return message


def message_resend_failed(
    *, church: Church, message_id: int, author: User | None, api_key: ApiKey | None = None
) -> Message:
    """A new broadcast of the same text to the members whose texts failed (and are still subscribed)."""
    original = church_object_get(Message.objects, church=church, id=message_id)  # as message_get
    member_ids = list(
        Recipient.objects.filter(message=original, status=Recipient.Status.FAILED, member__isnull=False).values_list(
            "member_id", flat=True
        )
    )
    if not member_ids:
        raise BusinessRuleError("No failed texts to resend.", code="conflict", status=409)
    return message_send(
        church=church,
        author=author,
        body=original.body,
        media_urls=original.media_urls,
        audience={"member_ids": member_ids},
        api_key=api_key,
        resend_of=original,
    )


# --- Templates ------------------------------------------------------------------------------------


def _check_template(church: Church, name: str, body: str, exclude_pk: int | None = None) -> tuple[str, str]:
    name, body = (name or "").strip(), (body or "").strip()
    if not name:
        raise BusinessRuleError("Give the template a name.", field="name")
    validate_body(body)
    clash = MessageTemplate.objects.for_church(church).filter(name__iexact=name)
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise BusinessRuleError(
            f"There is already a template called “{name}”.", field="name", code="conflict", status=409
        )
    return name, body


@transaction.atomic
def template_create(*, church: Church, acting_user: User | None, name: str, body: str) -> MessageTemplate:
    name, body = _check_template(church, name, body)
    return MessageTemplate.objects.create(
        church=church, name=name, body=body, created_by=acting_user if getattr(acting_user, "pk", None) else None
    )


@transaction.atomic
def template_update(
    *,
    church: Church,
    template: MessageTemplate,
    acting_user: User | None,
    name: str | None = None,
    body: str | None = None,
) -> MessageTemplate:
    name, body = _check_template(
        church, template.name if name is None else name, template.body if body is None else body, template.pk
    )
    template.name, template.body, template.updated_at = name, body, timezone.now()
    template.save(update_fields=["name", "body", "updated_at"])
    return template


@transaction.atomic
def template_delete(*, church: Church, template: MessageTemplate, acting_user: User | None) -> None:
    template.delete()
