"""What the provider packages read out of a callback, in a shape no provider owns.

Each provider package (``messaging/providers/<name>/``) turns its own wire format into these: a delivery
report becomes a :class:`StatusUpdate` (applied by ``messaging.broadcasts.delivery``), an inbound text an
:class:`InboundText` (handled by whoever registered with ``messaging.webhooks.register_inbound_handler``,
i.e. conversations). A body that is signed but not the promised shape raises :class:`MalformedPayload`,
answered with a 400; a signature that does not verify raises :class:`SignatureError`, answered with a 403.
"""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from django.utils.dateparse import parse_datetime


class DeliveryState(StrEnum):
    """The provider-neutral states a delivery report can move a text to (provider words map onto these;
    words we don't track, like queued or sending at the provider, map to nothing)."""

    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"


class MalformedPayload(ValueError):
    """A verified callback that is not what its type promised; the message is safe to answer with."""


class SignatureError(Exception):
    """The webhook is not provably from the provider; the message is a short reason for logs."""


@dataclass(frozen=True)
class StatusUpdate:
    """One delivery report. ``provider_status`` stays in the provider's words (the provider maps it with
    ``SmsProvider.delivery_state``); ``payload`` is the callback as received, stored with the event and
    re-parsed when a stored event is applied."""

    provider: str
    event_id: str
    event_type: str
    provider_message_id: str
    provider_status: str
    occurred_at: datetime | None
    error_code: str = ""
    error_detail: str = ""
    payload: dict | None = None


@dataclass(frozen=True)
class InboundText:
    """One inbound text, whichever provider carried it."""

    provider: str
    event_id: str  # the provider's id of this delivery of the event (dedupe key)
    message_id: str  # the provider's id of the text itself
    from_number: str
    to_number: str
    text: str
    media: list[tuple[str, str]] = field(default_factory=list)  # (url, content type)
    provider_autoreply: str = ""  # STOP / START / HELP when the provider's own engine already answered
    occurred_at: datetime | None = None
    payload: dict = field(default_factory=dict)


MAX_INBOUND_MEDIA = 10


def parse_time(value) -> datetime | None:
    """A provider timestamp (ISO 8601, or with a space for the ``T``) → datetime; None when absent or not a
    string; ValueError for a well-formed date that cannot exist."""
    if not value:
        return None
    return parse_datetime(str(value).replace(" ", "T", 1)) if isinstance(value, str) else None
