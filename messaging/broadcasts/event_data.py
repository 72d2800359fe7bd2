"""The ``data`` of messaging's integrator events (``koinonia.events``; docs/webhooks.md shows them).
Ids are the API's; no member's phone number is ever included (integrators read it through the API)."""

from collections.abc import Iterable, Iterator

from messaging.broadcasts.models import Message, Recipient


def message_data(message: Message) -> dict:
    return {
        "id": message.pk,
        "status": message.status,
        "status_detail": message.status_detail,
        "scheduled_at": message.scheduled_at,
        "segments": message.segments,
        "counts": {
            "recipients": message.recipient_count if message.recipients_counted else None,
            "sent": message.sent_count,
            "delivered": message.delivered_count,
            "failed": message.failed_count,
            "skipped": message.skipped_count,
        },
        "created_at": message.created_at,
        "completed_at": message.completed_at,
    }


_RECIPIENT_EVENTS = {Recipient.Status.DELIVERED: "recipient.delivered", Recipient.Status.FAILED: "recipient.failed"}


def recipient_data(r: Recipient) -> dict:
    return {
        "id": r.pk,
        "message_id": r.message_id,
        "member_id": r.member_id,
        "status": r.status,
        "error_code": r.error_code,
        "error_reason": r.error_reason,
        "occurred_at": r.last_event_at or r.failed_at,
    }


def recipient_events(recipients: Iterable[Recipient]) -> Iterator[tuple[int, str, dict]]:
    """``(church id, type, data)`` for the recipients that just became delivered or failed (for
    ``koinonia.events.emit_each``: a batch of receipts spans churches)."""
    for r in recipients:
        if r.status in _RECIPIENT_EVENTS:
            yield r.church_id, _RECIPIENT_EVENTS[r.status], recipient_data(r)


def failed_sends(*, message: Message, recipient_ids: list[int], failed_at) -> Iterator[dict]:
    """Sends the provider refused outright (no receipt will follow), read back only when someone listens:
    the rows this write-back actually failed (a row whose lease was lost is not among them)."""
    rows = Recipient.objects.filter(message=message, pk__in=recipient_ids, status=Recipient.Status.FAILED)
    for r in rows.filter(failed_at=failed_at).order_by("pk"):
        yield recipient_data(r)
