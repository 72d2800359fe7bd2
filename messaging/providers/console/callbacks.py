"""The console provider's delivery reports: its own small wire shape, built here and read back here, so
they take the same road as a carrier's callbacks (stored once as a ProviderEvent, applied in batches).

``{"provider_message_id": "console-…", "status": "delivered" | "delivery_failed", "error_code": …, "at": ISO}``
"""

from collections.abc import Mapping

from django.utils import timezone

from messaging.providers.console.errors import SIMULATED_FAILURE_CODE
from messaging.providers.events import DeliveryState, MalformedPayload, StatusUpdate, parse_time

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
