"""Handing queued conversation texts to the provider, and their delivery status. Runs in the task
(``conversations.tasks.send_conversation_message``) after the text was queued by ``outbound``; below
``outbound`` and the tasks, it imports neither. Consent is checked again here: an opt-out that landed
since the text was queued blocks every text except the ones the rules allow an opted-out member (the
one confirmation, HELP answers)."""

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from churches.models import ConsentEvent, Member, SmsStatus
from churches.services import consent_record
from conversations.models import Conversation, ConversationMessage
from koinonia import metrics
from koinonia.hooks import segments_sent
from messaging.broadcasts import ratelimit
from messaging.broadcasts.delivery import apply_pending_events
from messaging.broadcasts.pipeline import webhook_url_for
from messaging.numbers.services import default_sender
from messaging.providers import PermanentSendError, TransientSendError, get_provider
from messaging.providers.events import StatusUpdate
from messaging.segments import segment_info

Kind = ConversationMessage.Kind
Status = ConversationMessage.Status
# Texts an opted-out member may still receive (providers.md §5.1: one confirmation; HELP answers).
ALLOWED_WHEN_OPTED_OUT = {Kind.CONFIRMATION, Kind.HELP}
MAX_SEND_ATTEMPTS = 5
_RANK = {Status.QUEUED: 0, Status.SENDING: 1, Status.SENT: 2, Status.DELIVERED: 3, Status.FAILED: 3}


def public_media_url(path: str) -> str:
    """An absolute URL the provider can fetch a stored picture from."""
    url = default_storage.url(path)
    if url.startswith(("http://", "https://")):
        return url
    return settings.PUBLIC_BASE_URL + (url if url.startswith("/") else "/" + url)


def recipient_opted_out(conversation: Conversation) -> bool:
    if conversation.member_id:
        return conversation.member.sms_status == SmsStatus.UNSUBSCRIBED
    return conversation.visitor_opted_out


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
        # The share of the account and number limits kept for one-to-one texts: never behind a broadcast.
        ratelimit.wait_for_capacity(
            provider=provider.name,
            sender_number=sender.phone_number,
            segments=segment_info(message.body).segments,
            registered=bool(sender.campaign_id),
            priority=True,
        )
    except Exception as exc:  # Redis away: not the recipient's fault and nothing was sent, so retry
        ConversationMessage.objects.filter(pk=message.pk).update(status=Status.QUEUED)
        return min(300.0, 5.0 * 2 ** (attempt - 1)) if attempt < MAX_SEND_ATTEMPTS else _give_up(message, exc)
    try:
        result = provider.send(
            from_number=sender.phone_number,
            to_number=to_number,
            body=message.body,
            media_urls=[public_media_url(item["path"]) for item in message.media if item.get("path")],
            webhook_url=webhook_url_for(provider.name),
        )
    except PermanentSendError as exc:
        metrics.count_sends(provider=provider.name, kind="conversation", outcomes=["failed"])
        _fail(message, exc.reason)
        return None
    except TransientSendError as exc:
        metrics.count_sends(provider=provider.name, kind="conversation", outcomes=["retry"])
        if exc.maybe_sent or attempt >= MAX_SEND_ATTEMPTS:
            # A retry could text them twice (a confirmation must go once): stop and say so.
            _fail(message, f"{exc.reason} It may or may not have been sent.")
            return None
        ConversationMessage.objects.filter(pk=message.pk).update(status=Status.QUEUED, error_reason=exc.reason)
        return exc.retry_after or min(300.0, 5.0 * 2 ** (attempt - 1))
    _record_sent(message, result, provider_name=provider.name)
    metrics.count_sends(provider=provider.name, kind="conversation", outcomes=["sent"])
    apply_pending_events(provider_message_ids=[result.provider_message_id])
    provider.sends_recorded([result.provider_message_id])
    return None


def _give_up(message: ConversationMessage, exc: Exception) -> None:
    _fail(message, f"Could not be sent: our rate limiter was unavailable ({type(exc).__name__}).")


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
    """messaging.broadcasts.delivery listener: delivery callbacks for our texts (not broadcast recipients)."""
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
