"""Twilio webhooks as they arrive (docs/providers.md §2.3–§2.4): form-encoded status callbacks
(``MessageSid`` + ``MessageStatus``) and inbound texts (``MessageSid``, ``From``, ``To``, ``Body``,
``NumMedia`` + ``MediaUrl<n>``)."""

from collections.abc import Mapping

from messaging.providers.events import (
    MAX_INBOUND_MEDIA,
    DeliveryState,
    InboundText,
    MalformedPayload,
    StatusUpdate,
)

# Twilio's ``MessageStatus`` words → ours.
STATUS_WORDS = {
    "sent": DeliveryState.SENT,
    "delivered": DeliveryState.DELIVERED,
    "read": DeliveryState.DELIVERED,
    "undelivered": DeliveryState.FAILED,
    "failed": DeliveryState.FAILED,
}
# "failed": Twilio never handed the text to a carrier ("undelivered": the carrier had it).
UNBILLED_STATUSES = frozenset({"failed"})


def form_params(form) -> dict:
    """A Django ``QueryDict`` as {name: value, or [values] when repeated}."""
    return {key: form.getlist(key) if len(form.getlist(key)) > 1 else form.get(key) for key in form}


def parse_status(payload: Mapping) -> StatusUpdate:
    """A status callback (form fields, single values) → StatusUpdate."""
    sid, status = payload.get("MessageSid"), payload.get("MessageStatus")
    if not isinstance(sid, str) or not isinstance(status, str) or not sid or not status:
        raise MalformedPayload("Not a Twilio status callback.")
    return StatusUpdate(
        provider="twilio",
        event_id=f"{sid}:{status}",
        event_type=f"status.{status}",
        provider_message_id=sid,
        provider_status=status,
        occurred_at=None,
        error_code=str(payload.get("ErrorCode") or ""),
        error_detail=str(payload.get("ErrorMessage") or ""),
        payload=dict(payload),
    )


def _first(value) -> str:
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return value if isinstance(value, str) else ""


def parse_inbound(params: Mapping) -> InboundText:
    """An inbound-text webhook (``form_params`` of the POST) → InboundText."""
    sid = _first(params.get("MessageSid") or params.get("SmsMessageSid") or params.get("SmsSid"))
    from_number, to_number = _first(params.get("From")), _first(params.get("To"))
    if not sid or not from_number or not to_number:
        raise MalformedPayload("Not a Twilio inbound message.")
    try:
        count = min(int(_first(params.get("NumMedia")) or 0), MAX_INBOUND_MEDIA)
    except ValueError as exc:
        raise MalformedPayload("NumMedia is not a number.") from exc
    media = [
        (_first(params.get(f"MediaUrl{n}")), _first(params.get(f"MediaContentType{n}")) or "application/octet-stream")
        for n in range(count)
        if _first(params.get(f"MediaUrl{n}"))
    ]
    return InboundText(
        provider="twilio",
        event_id=sid,
        message_id=sid,
        from_number=from_number.strip(),
        to_number=to_number.strip(),
        text=_first(params.get("Body")),
        media=media,
        provider_autoreply=_first(params.get("OptOutType")).upper(),
        payload=dict(params),
    )
