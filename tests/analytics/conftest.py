import datetime as dt
from zoneinfo import ZoneInfo

from churches.models import ConsentEvent
from conversations.models import Conversation, ConversationMessage
from messaging.broadcasts.models import Message, Recipient

UTC = dt.UTC
CHICAGO = ZoneInfo("America/Chicago")


def at(day: str, hour: int, minute: int = 0) -> dt.datetime:
    """An instant in UTC ("2026-01-10", 5, 30 = 23:30 on Jan 9 in Chicago, UTC-6 in winter)."""
    return dt.datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)


def broadcast(church, *, started, audience=None, reasons=(), prepared=True, **counts) -> Message:
    """A broadcast with its counters as given and one failed recipient per (code, reason) in ``reasons``."""
    message = Message.objects.create(
        church=church,
        body="Hello",
        audience=audience or {"all": True},
        status=Message.Status.SENT,
        prepared_at=started if prepared else None,
        created_at=started,
        failed_count=len(reasons),
        **counts,
    )
    failed = Recipient.Status.FAILED
    Recipient.objects.bulk_create(
        [
            Recipient(church=church, message=message, phone="+1312", status=failed, error_code=code, error_reason=why)
            for code, why in reasons
        ]
    )
    # Recipients in other states are not read by the rollup: one delivered row proves it.
    Recipient.objects.create(church=church, message=message, phone="+13125550101", status=Recipient.Status.DELIVERED)
    return message


def consent(member, kind, when) -> ConsentEvent:
    return ConsentEvent.objects.create(
        church_id=member.church_id, member=member, kind=kind, source=ConsentEvent.Source.KEYWORD, created_at=when
    )


def inbound(church, member, when, direction=ConversationMessage.Direction.INBOUND) -> ConversationMessage:
    conversation, _ = Conversation.objects.get_or_create(church=church, member=member)
    return ConversationMessage.objects.create(
        church=church, conversation=conversation, direction=direction, body="Hi", status="received", created_at=when
    )
