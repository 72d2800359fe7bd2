"""Texts we send inside a conversation: staff replies (text and picture) and the automatic replies the
inbound rules call for (opt-out confirmation, HELP, keyword welcome, after-hours, welcome).

Each is a ConversationMessage queued in the caller's transaction and handed to the provider by a task
after commit. Consent is checked again at hand-off: an opt-out that lands before then blocks every text
except the ones the rules allow an opted-out member (the one confirmation, HELP answers).
"""

import logging
import mimetypes
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from churches.models import ApiKey, Church, ConsentEvent, Member, SmsStatus, User
from churches.services import consent_record
from conversations.models import Conversation, ConversationMessage
from koinonia.exceptions import BusinessRuleError
from koinonia.hooks import check_limit, segments_sent
from messaging.delivery import apply_pending_events
from messaging.pipeline import webhook_url_for
from messaging.providers import PermanentSendError, TransientSendError, get_provider
from messaging.providers.events import StatusUpdate
from messaging.segments import segment_info
from messaging.services import default_sender, validate_body

logger = logging.getLogger(__name__)

Kind = ConversationMessage.Kind
Status = ConversationMessage.Status
# Texts an opted-out member may still receive (providers.md §5.1: one confirmation; HELP answers).
ALLOWED_WHEN_OPTED_OUT = {Kind.CONFIRMATION, Kind.HELP}
ALLOWED_IMAGE_TYPES = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n", "image/gif": b"GIF8"}
MAX_SEND_ATTEMPTS = 5
_RANK = {Status.QUEUED: 0, Status.SENDING: 1, Status.SENT: 2, Status.DELIVERED: 3, Status.FAILED: 3}


def media_max_bytes() -> int:
    return int(getattr(settings, "CONVERSATION_MEDIA_MAX_BYTES", 5 * 1024 * 1024))


def public_media_url(path: str) -> str:
    """An absolute URL the provider can fetch a stored picture from."""
    url = default_storage.url(path)
    if url.startswith(("http://", "https://")):
        return url
    return settings.PUBLIC_BASE_URL + (url if url.startswith("/") else "/" + url)


def _preview(body: str, media: list) -> str:
    text = " ".join((body or "").split())
    if not text and media:
        return "📷 Picture"
    return text[:160]


def touch_conversation(conversation: Conversation, message: ConversationMessage, *, unread: bool = False) -> None:
    """Denormalize the latest message onto the conversation (the inbox list reads only this table)."""
    fields = {
        "last_message_at": message.created_at,
        "last_message_preview": _preview(message.body, message.media),
        "last_message_direction": message.direction,
    }
    if unread:
        fields["unread_count"] = F("unread_count") + 1
        fields["last_inbound_at"] = message.created_at
    Conversation.objects.filter(pk=conversation.pk).update(**fields)


def queue_text(
    *,
    conversation: Conversation,
    kind: str,
    body: str,
    author: User | None = None,
    api_key: ApiKey | None = None,
    media: list | None = None,
    dedupe_key: str = "",
) -> ConversationMessage | None:
    """Queue one outbound text; None when ``dedupe_key`` was already used (the text exists)."""
    try:
        with transaction.atomic():
            message = ConversationMessage.objects.create(
                church_id=conversation.church_id,
                conversation=conversation,
                direction=ConversationMessage.Direction.OUTBOUND,
                kind=kind,
                body=body,
                media=media or [],
                status=Status.QUEUED,
                author=author if getattr(author, "pk", None) else None,
                api_key=api_key,
                dedupe_key=dedupe_key[:128],
            )
    except IntegrityError:
        if not dedupe_key:
            raise
        return None
    touch_conversation(conversation, message)
    message_id = message.pk

    def enqueue():
        from conversations.tasks import send_conversation_message

        send_conversation_message.delay(message_id)

    transaction.on_commit(enqueue)
    return message


def queue_auto_reply(
    *, conversation: Conversation, kind: str, body: str, dedupe_key: str
) -> ConversationMessage | None:
    """An automatic reply that costs the church a text (keyword welcome, after-hours, welcome): skipped,
    not refused, when the plan allows no more replies. Confirmations and HELP answers never come here."""
    body = (body or "").strip()
    if not body:
        return None
    try:
        check_limit(church=conversation.church, resource="reply", adding=segment_info(body).segments)
    except BusinessRuleError as exc:
        logger.info(
            "automatic reply skipped by plan limit", extra={"conversation": conversation.pk, "why": exc.message}
        )
        return None
    return queue_text(conversation=conversation, kind=kind, body=body, dedupe_key=dedupe_key)


# --- Staff replies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """A picture attached to a reply: its name, declared content type and bytes-like file object."""

    name: str
    content_type: str
    size: int
    file: object


def _check_upload(upload: Upload) -> tuple[str, str]:
    """(content type, file extension) of an acceptable picture, or a refusal staff understand."""
    limit = media_max_bytes()
    if upload.size > limit:
        raise BusinessRuleError(
            f"This picture is {upload.size / 1_048_576:.1f} MB; the largest a text can carry is "
            f"{limit / 1_048_576:.0f} MB. Use a smaller picture.",
            field="media",
            code="media_too_large",
            status=413,
        )
    upload.file.seek(0)
    head = upload.file.read(16)
    upload.file.seek(0)
    for content_type, magic in ALLOWED_IMAGE_TYPES.items():
        if head.startswith(magic):
            return content_type, mimetypes.guess_extension(content_type) or ""
    raise BusinessRuleError(
        "Only pictures can be attached: a JPEG, PNG or GIF file.", field="media", code="media_type_not_allowed"
    )


def store_upload(*, church: Church, upload: Upload) -> dict:
    content_type, extension = _check_upload(upload)
    # Unguessable names: outbound pictures must be publicly fetchable by the provider.
    path = default_storage.save(f"conversations/{church.pk}/out/{uuid.uuid4().hex}{extension}", upload.file)
    return {"content_type": content_type, "path": path, "size": upload.size, "source_url": ""}


def recipient_opted_out(conversation: Conversation) -> bool:
    if conversation.member_id:
        return conversation.member.sms_status == SmsStatus.UNSUBSCRIBED
    return conversation.visitor_opted_out


@transaction.atomic
def reply_send(
    *,
    church: Church,
    conversation: Conversation,
    acting_user: User | None,
    body: str,
    upload: Upload | None = None,
    api_key: ApiKey | None = None,
) -> ConversationMessage:
    """A staff reply: refused to an opted-out member, checked against the plan, then queued."""
    body = (body or "").strip()
    if recipient_opted_out(conversation):
        raise BusinessRuleError(
            "This person opted out of texts, so they can't be sent replies. They can text START to opt back in.",
            field="body",
            code="opted_out",
            status=409,
        )
    _, segments = validate_body(body, ["picture"] if upload else [])
    check_limit(church=church, resource="reply", adding=segments)
    media = [store_upload(church=church, upload=upload)] if upload else []
    message = queue_text(
        conversation=conversation, kind=Kind.TEXT, body=body, author=acting_user, api_key=api_key, media=media
    )
    # Answering a thread reads it and keeps it open.
    Conversation.objects.filter(pk=conversation.pk).update(unread_count=0, status=Conversation.Status.OPEN)
    return message


# --- Hand-off to the provider -----------------------------------------------------------------------


def _claim(message_id: int) -> ConversationMessage | None:
    """Move a queued text to ``sending`` if it may still go; block it if its recipient opted out."""
    with transaction.atomic():
        message = (
            ConversationMessage.objects.select_for_update(of=("self",))
            .select_related("conversation", "conversation__sender", "church")
            .filter(pk=message_id, status=Status.QUEUED)
            .first()
        )
        if message is None:
            return None
        conversation = message.conversation
        if conversation.member_id:
            # Locks the member like consent_record does, so a concurrent opt-out is seen or waits.
            conversation.member = Member.objects.select_for_update().get(pk=conversation.member_id)
        if message.kind not in ALLOWED_WHEN_OPTED_OUT and recipient_opted_out(conversation):
            message.status = Status.BLOCKED
            message.error_reason = "Not sent: they opted out before it went out."
            message.save(update_fields=["status", "error_reason"])
            return None
        message.status = Status.SENDING
        message.save(update_fields=["status"])
    return message


def _fail(message: ConversationMessage, reason: str) -> None:
    ConversationMessage.objects.filter(pk=message.pk).update(status=Status.FAILED, error_reason=reason[:1000])


def message_deliver(*, message_id: int, attempt: int = 1) -> float | None:
    """Hand one queued text to the provider. Returns a delay in seconds when it should be retried."""
    message = _claim(message_id)
    if message is None:
        return None
    conversation = message.conversation
    sender = conversation.sender or default_sender(church=message.church)
    if sender is None:
        _fail(message, "No sending number is set up for this church.")
        return None
    to_number = conversation.phone
    provider = get_provider(sender.provider)
    try:
        result = provider.send(
            from_number=sender.phone_number,
            to_number=to_number,
            body=message.body,
            media_urls=[public_media_url(item["path"]) for item in message.media if item.get("path")],
            webhook_url=webhook_url_for(provider.name),
        )
    except PermanentSendError as exc:
        _fail(message, exc.reason)
        return None
    except TransientSendError as exc:
        if exc.maybe_sent or attempt >= MAX_SEND_ATTEMPTS:
            # A retry could text them twice (a confirmation must go once): stop and say so.
            _fail(message, f"{exc.reason} It may or may not have been sent.")
            return None
        ConversationMessage.objects.filter(pk=message.pk).update(status=Status.QUEUED, error_reason=exc.reason)
        return exc.retry_after or min(300.0, 5.0 * 2 ** (attempt - 1))
    _record_sent(message, result, provider_name=provider.name)
    apply_pending_events(provider_message_ids=[result.provider_message_id])
    provider.sends_recorded([result.provider_message_id])
    return None


@transaction.atomic
def _record_sent(message: ConversationMessage, result, *, provider_name: str) -> None:
    now = timezone.now()
    segments = result.segments or segment_info(message.body).segments
    ConversationMessage.objects.filter(pk=message.pk, status=Status.SENDING).update(
        status=Status.SENT,
        provider=provider_name,
        provider_message_id=result.provider_message_id[:64],
        segments=segments,
        sent_at=now,
        error_reason="",
    )
    conversation = message.conversation
    if message.kind == Kind.CONFIRMATION and conversation.member_id:
        consent_record(
            church=message.church,
            member=conversation.member,
            kind=ConsentEvent.Kind.CONFIRMATION_SENT,
            source=ConsentEvent.Source.SYSTEM,
            raw_text=message.body,
        )
    church_id = message.church_id
    transaction.on_commit(
        lambda: segments_sent.send(
            sender=ConversationMessage,
            church_id=church_id,
            segments=segments,
            message_id=None,
            branch_id=None,
            occurred_at=now,
        )
    )


_STATUS_FROM_DELIVERY = {"sent": Status.SENT, "delivered": Status.DELIVERED, "failed": Status.FAILED}


def on_delivery_status(update: StatusUpdate, new_status: str | None) -> bool:
    """messaging.delivery listener: delivery callbacks for our texts (not broadcast recipients)."""
    if not update.provider_message_id:
        return False
    message = (
        ConversationMessage.objects.select_for_update()
        .filter(provider_message_id=update.provider_message_id, direction=ConversationMessage.Direction.OUTBOUND)
        .first()
    )
    if message is None:
        return False
    status = _STATUS_FROM_DELIVERY.get(new_status or "")
    if status is not None and _RANK[status] > _RANK.get(message.status, 3):
        message.status = status
        fields = ["status"]
        if status == Status.FAILED:
            message.error_reason = get_provider(update.provider).describe_error(update.error_code, update.error_detail)
            fields.append("error_reason")
        message.save(update_fields=fields)
    return True
