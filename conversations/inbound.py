"""Inbound texts from the providers' webhooks (reference/providers.md §1.6 and §2.4), read into one
shape. messaging's webhook views verify the signature and call the handlers registered in
``ConversationsConfig.ready()`` (``conversations.services.inbound.handle_telnyx`` / ``handle_twilio``,
which read the payload here); a payload that is not an inbound text is refused with a 400
(``BadRequest``) and nothing is stored. Parsing only: this module imports no service."""

import logging
from dataclasses import dataclass, field

from django.core.exceptions import BadRequest

from messaging.delivery import parse_time

logger = logging.getLogger(__name__)

MAX_MEDIA = 10


@dataclass(frozen=True)
class InboundText:
    provider: str
    event_id: str  # the provider's id of this delivery of the event (dedupe key)
    message_id: str  # the provider's id of the text itself
    from_number: str
    to_number: str
    text: str
    media: list[tuple[str, str]] = field(default_factory=list)  # (url, content type)
    provider_autoreply: str = ""  # STOP / START / HELP when the provider's own engine already answered
    occurred_at: object = None
    payload: dict = field(default_factory=dict)


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def parse_telnyx(payload: dict) -> InboundText:
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
            for item in (message.get("media") or [])[:MAX_MEDIA]
            if isinstance(item, dict) and item.get("url")
        ]
        event_id, message_id = str(data["id"]), str(message["id"])
        occurred_at = parse_time(data.get("occurred_at"))  # ValueError: a date that cannot exist
    except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
        raise BadRequest("Not a Telnyx inbound message.") from exc
    if not isinstance(from_number, str) or not isinstance(to_number, str) or not from_number or not to_number:
        raise BadRequest("Not a Telnyx inbound message.")
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


def _first(value) -> str:
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return value if isinstance(value, str) else ""


def parse_twilio(params: dict) -> InboundText:
    sid = _first(params.get("MessageSid") or params.get("SmsMessageSid") or params.get("SmsSid"))
    from_number, to_number = _first(params.get("From")), _first(params.get("To"))
    if not sid or not from_number or not to_number:
        raise BadRequest("Not a Twilio inbound message.")
    try:
        count = min(int(_first(params.get("NumMedia")) or 0), MAX_MEDIA)
    except ValueError as exc:
        raise BadRequest("NumMedia is not a number.") from exc
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
