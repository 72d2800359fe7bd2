"""Texts we send inside a conversation: staff replies (text and picture) and the automatic replies the
inbound rules call for (opt-out confirmation, HELP, keyword welcome, after-hours, welcome).

Each is a ConversationMessage queued in the caller's transaction and handed to the provider by a task
after commit (``conversations.tasks.send_conversation_message`` → ``services/handoff.py``, which
imports nothing of this module, so services and tasks form no cycle). Consent is checked again at
hand-off: an opt-out that lands before then blocks every text except the ones the rules allow an
opted-out member (the one confirmation, HELP answers).
"""

import logging
import mimetypes
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F

from churches.models import ApiKey, Church, User
from conversations.models import Conversation, ConversationMessage
from conversations.services.handoff import recipient_opted_out
from koinonia import policy
from koinonia.exceptions import BusinessRuleError
from messaging.broadcasts.services import validate_body
from messaging.segments import segment_info

logger = logging.getLogger(__name__)

Kind = ConversationMessage.Kind
Status = ConversationMessage.Status
ALLOWED_IMAGE_TYPES = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n", "image/gif": b"GIF8"}


def media_max_bytes() -> int:
    return int(getattr(settings, "CONVERSATION_MEDIA_MAX_BYTES", 5 * 1024 * 1024))


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
        # Imported here: a worker imports conversations.tasks first, which loads this package (its
        # __init__ imports this module) before the task exists. The tasks never import this module.
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
        policy.current().check(church=conversation.church, resource="reply", adding=segment_info(body).segments)
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
    policy.current().check(church=church, resource="reply", adding=segments)
    media = [store_upload(church=church, upload=upload)] if upload else []
    message = queue_text(
        conversation=conversation, kind=Kind.TEXT, body=body, author=acting_user, api_key=api_key, media=media
    )
    # Answering a thread reads it and keeps it open.
    Conversation.objects.filter(pk=conversation.pk).update(unread_count=0, status=Conversation.Status.OPEN)
    return message
