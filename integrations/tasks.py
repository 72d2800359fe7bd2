"""Thin, idempotent tasks for outgoing webhooks. Ids in, never model instances."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from integrations import delivery
from integrations.ids import event_id_floor
from integrations.models import WebhookEvent

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def deliver_webhooks(delivery_ids: list[int]) -> int:
    """Make the due attempts among ``delivery_ids`` (claimed one by one: a duplicate task does nothing)."""
    made = 0
    for delivery_id in delivery_ids:
        if delivery.deliver(delivery_id=delivery_id) is not None:
            made += 1
    return made


@shared_task
def sweep_webhook_deliveries() -> dict:
    """Every WEBHOOK_SWEEP_SECONDS (celery-beat): enqueue the attempts that are due — retries, and first
    attempts whose task was lost — and forget events older than WEBHOOK_LOG_RETENTION_DAYS (their
    delivery log goes with them). Safe to run twice at once."""
    due = delivery.due_delivery_ids()
    for start in range(0, len(due), 25):
        deliver_webhooks.delay(due[start : start + 25])
    cutoff = timezone.now() - timedelta(days=int(getattr(settings, "WEBHOOK_LOG_RETENTION_DAYS", 30)))
    # By id, not created_at: event ids sort by time, so the primary key's index finds them.
    old = list(WebhookEvent.objects.filter(pk__lt=event_id_floor(cutoff)).values_list("pk", flat=True)[:1000])
    pruned = WebhookEvent.objects.filter(pk__in=old).delete()[0] if old else 0
    stats = {"enqueued": len(due), "pruned": pruned}
    if any(stats.values()):
        logger.info("webhook sweep", extra=stats)
    return stats
