"""The console provider's delivery reports and simulated inbound texts: its own small wire shapes, built
here and read back here, so they take the same road as a carrier's callbacks (stored once as a
ProviderEvent, applied in batches).

``{"provider_message_id": "console-…", "status": "delivered" | "delivery_failed", "error_code": …, "at": ISO}``
``{"event_id", "message_id", "from", "to", "text", "at"}`` (an inbound text, from support's "simulate")
"""

from collections.abc import Mapping

from django.utils import timezone

from messaging.providers.console.errors import SIMULATED_FAILURE_CODE
from messaging.providers.events import DeliveryState, InboundText, MalformedPayload, StatusUpdate, parse_time

STATUS_WORDS = {
    "sent": DeliveryState.SENT,
    "delivered": DeliveryState.DELIVERED,
    "delivery_failed": DeliveryState.FAILED,
    "sending_failed": DeliveryState.FAILED,
}
UNBILLED_STATUSES = frozenset({"sending_failed"})


def status_payload(provider_message_id: str, *, failed: bool) -> dict:
    """The report a carrier would post for one console send."""
    return {
        "provider_message_id": provider_message_id,
        "status": "delivery_failed" if failed else "delivered",
        "error_code": SIMULATED_FAILURE_CODE if failed else None,
        "at": timezone.now().isoformat(),
    }


def parse_status(payload: Mapping) -> StatusUpdate:
    try:
        message_id, status = payload["provider_message_id"], payload["status"]
        if not isinstance(message_id, str) or not isinstance(status, str) or not message_id or not status:
            raise MalformedPayload("Not a console delivery report.")
        return StatusUpdate(
            provider="console",
            event_id=f"{message_id}:{status}",
            event_type="message.finalized",
            provider_message_id=message_id,
            provider_status=status,
            occurred_at=parse_time(payload.get("at")),
            error_code=str(payload.get("error_code") or ""),
            payload=dict(payload),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedPayload("Not a console delivery report.") from exc


def inbound_payload(*, event_id: str, message_id: str, from_number: str, to_number: str, text: str) -> dict:
    """A simulated inbound text as the console "carrier" would post it."""
    return {
        "event_id": event_id,
        "message_id": message_id,
        "from": from_number,
        "to": to_number,
        "text": text,
        "at": timezone.now().isoformat(),
    }


def parse_inbound(payload: Mapping) -> InboundText:
    try:
        fields = {key: payload[key] for key in ("event_id", "message_id", "from", "to", "text")}
        if not all(isinstance(value, str) for value in fields.values()):
            raise MalformedPayload("Not a console inbound text.")
        return InboundText(
            provider="console",
            event_id=fields["event_id"],
            message_id=fields["message_id"],
            from_number=fields["from"],
            to_number=fields["to"],
            text=fields["text"],
            occurred_at=parse_time(payload.get("at")),
            payload=dict(payload),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedPayload("Not a console inbound text.") from exc
