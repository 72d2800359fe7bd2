"""The ``data`` of conversations' integrator events (``koinonia.events``; docs/webhooks.md shows them).
The sender is named by member id (null for someone who is not a member), never by phone number."""

from conversations.models import ConversationMessage


def message_received_data(message: ConversationMessage, *, member_id: int | None, to: str) -> dict:
    return {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "member_id": member_id,
        "to": to,  # the church's own number that received it
        "body": message.body,
        "media_count": len(message.media or []),
        "consent_intent": message.consent_intent,
        "received_at": message.created_at,
    }
