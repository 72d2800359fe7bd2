"""Recurring messages' Celery task: the minute tick (thin; the work is in ``messaging.recurring.services``)."""

import logging

from celery import shared_task
from django.utils import timezone

logger = logging.getLogger(__name__)


@shared_task
def recurring_tick() -> dict:
    """Runs every minute (celery-beat, RECURRING_TICK_SECONDS): sends the recurring messages that are
    due and releases scheduled one-off messages whose time has come. Safe to run twice at once."""
    from koinonia.jobs import monitor as jobs
    from messaging.recurring import services as recurring_services

    now = timezone.now()
    stats = recurring_services.recurring_fire_due(now=now)
    stats["scheduled_released"] = recurring_services.scheduled_messages_release(now=now)
    jobs.jobs_prune(now=now)
    if stats["fired"] or stats["refused"] or stats["missed"]:
        logger.info("recurring tick", extra=stats)
    return stats
