"""Telnyx webhooks as they arrive (docs/providers.md §1.5–§1.6): the event envelope
``{"data": {"id", "event_type", "occurred_at", "payload": {...}}}``, delivery reports
(``message.sent`` / ``message.finalized``) and inbound texts (``message.received``)."""

import json

from messaging.providers.events import (
    MAX_INBOUND_MEDIA,
    DeliveryState,
    InboundText,
    MalformedPayload,
    StatusUpdate,
    parse_time,
)

STATUS_EVENT_TYPES = frozenset({"message.sent", "message.finalized"})
INBOUND_EVENT_TYPE = "message.received"

# Telnyx's words in ``to[0].status`` → ours.
STATUS_WORDS = {
    "sent": DeliveryState.SENT,
    "delivered": DeliveryState.DELIVERED,
    "delivery_unconfirmed": DeliveryState.SENT,
    "sending_failed": DeliveryState.FAILED,
    "delivery_failed": DeliveryState.FAILED,
    "expired": DeliveryState.FAILED,
}
# Telnyx never handed these to a carrier.
UNBILLED_STATUSES = frozenset({"sending_failed"})


def envelope(raw: bytes) -> tuple[dict, str]:
    """The signed body as a Telnyx event envelope and its event type; MalformedPayload when it is not one,
    so no handler ever sees a malformed shape."""
    try:
        payload = json.loads(raw)
    except RecursionError:
        raise MalformedPayload("nested too deeply") from None
    except ValueError:
        raise MalformedPayload("not JSON") from None
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        raise MalformedPayload("no data object")
    event_type, event_id = data.get("event_type"), data.get("id")
    if not isinstance(event_type, str) or not event_type or not isinstance(event_id, (str, int)) or event_id == "":
        raise MalformedPayload("no event type or id")
    if "payload" in data and not isinstance(data["payload"], dict):
        raise MalformedPayload("payload is not an object")
    try:
        parse_time(data.get("occurred_at"))
    except ValueError:  # a well-formed but impossible date
        raise MalformedPayload("occurred_at is not a date") from None
    return payload, event_type


def parse_status(payload: dict) -> StatusUpdate:
    """A ``message.sent`` / ``message.finalized`` event → StatusUpdate."""
    try:
        data = payload["data"]
        message = data["payload"]
        to = message.get("to")
        if isinstance(to, list) and to:
            status = to[0].get("status", "")
        else:  # older payloads carry "to" as a plain string
            status = message.get("status", "")
        errors = message.get("errors") or []
        first_error = errors[0] if errors and isinstance(errors[0], dict) else {}
        return StatusUpdate(
            provider="telnyx",
            event_id=str(data["id"]),
            event_type=str(data["event_type"]),
            provider_message_id=str(message["id"]),
            provider_status=str(status),
            occurred_at=parse_time(data.get("occurred_at")),
            error_code=str(first_error.get("code") or ""),
            error_detail=str(first_error.get("detail") or first_error.get("title") or ""),
            payload=payload,
        )
    except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
        raise MalformedPayload("Not a Telnyx message event.") from exc


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def parse_inbound(payload: dict) -> InboundText:
    """A ``message.received`` event → InboundText."""
    try:
        data = payload["data"]
        message = data["payload"]
        from_number = message["from"]["phone_number"] if isinstance(message["from"], dict) else message["from"]
        to = message.get("to")
        if isinstance(to, list):  # current payloads: an array of recipients
            to_number = to[0]["phone_number"]
        else:  # older payloads carry "to" as a plain string
            to_number = to
        media = [
            (str(item["url"]), str(item.get("content_type") or "application/octet-stream"))
            for item in (message.get("media") or [])[:MAX_INBOUND_MEDIA]
            if isinstance(item, dict) and item.get("url")
        ]
        event_id, message_id = str(data["id"]), str(message["id"])
        occurred_at = parse_time(data.get("occurred_at"))  # ValueError: a date that cannot exist
    except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
        raise MalformedPayload("Not a Telnyx inbound message.") from exc
    if not isinstance(from_number, str) or not isinstance(to_number, str) or not from_number or not to_number:
        raise MalformedPayload("Not a Telnyx inbound message.")
    return InboundText(
        provider="telnyx",
        event_id=event_id,
        message_id=message_id,
        from_number=from_number.strip(),
        to_number=to_number.strip(),
        text=_text(message.get("text")),
        media=media,
        provider_autoreply=_text(message.get("autoresponse_type")).upper(),
        occurred_at=occurred_at,
        payload=payload,
    )
