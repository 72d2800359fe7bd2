"""Readings for /metrics (koinonia/metrics.py), registered by ``MessagingConfig.ready``: how far behind
the webhook ingest and the send queue are. Each is one query on a partial index."""

from django.utils import timezone

from messaging.broadcasts.models import ProviderEvent, Recipient


def oldest_pending_callback_age():
    """Seconds the oldest stored delivery callback has waited to be applied (0 when none waits)."""
    oldest = (
        ProviderEvent.objects.filter(outcome=ProviderEvent.Outcome.PENDING)
        .order_by("received_at")
        .values_list("received_at", flat=True)
        .first()
    )
    yield {}, (timezone.now() - oldest).total_seconds() if oldest else 0.0


def oldest_queued_recipient_age():
    """Seconds the oldest due, queued broadcast recipient has waited since its broadcast was fanned out (0 when
    none waits): at a peak, how long the slowest church has been waiting for its texts to go."""
    now = timezone.now()
    oldest = (
        Recipient.objects.filter(status=Recipient.Status.QUEUED, send_after__isnull=True)
        .order_by("message_id")
        .values_list("message__prepared_at", flat=True)
        .first()
    )
    yield {}, max(0.0, (now - oldest).total_seconds()) if oldest else 0.0


def register() -> None:
    from koinonia.metrics import register_gauge

    register_gauge(
        "koinonia_webhook_ingest_lag_seconds",
        "Age of the oldest stored delivery callback not yet applied.",
        oldest_pending_callback_age,
    )
    register_gauge(
        "koinonia_oldest_queued_recipient_age_seconds",
        "Age of the broadcast of the oldest due, queued recipient.",
        oldest_queued_recipient_age,
    )
