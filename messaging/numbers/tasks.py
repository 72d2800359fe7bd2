"""Sender numbers' Celery tasks: phone-linking checks and 10DLC registration polling (thin; the work is in
``messaging.numbers.linking`` and ``messaging.numbers.tendlc``)."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


# --- Phone-linking recovery ------------------------------------------------------------------------


@shared_task
def check_sender_numbers() -> dict:
    """Runs every SENDER_NUMBER_CHECK_SECONDS (celery-beat): checks and repairs every sender number.
    One number's failure is logged and the rest still run; a run already in progress makes a second
    one return at once (each check is also safe on its own: the verdict is written under a row lock)."""
    from django.core.cache import cache

    from messaging.numbers import linking

    lock_key, lock_seconds = "messaging:check_sender_numbers", 30 * 60
    if not cache.add(lock_key, "1", lock_seconds):
        return {"skipped": "already running"}
    stats = {"checked": 0, "failed": 0, "errors": 0}
    try:
        for sender_id in linking.sender_numbers_due():
            try:
                check = linking.sender_number_check(sender_id=sender_id)
            except Exception:
                logger.exception("sender number check crashed", extra={"sender_id": sender_id})
                stats["errors"] += 1
                continue
            if check is not None:
                stats["checked"] += 1
                stats["failed"] += check.outcome == "failed"
        stats["pruned"] = linking.number_checks_prune()
    finally:
        cache.delete(lock_key)
    if stats["failed"] or stats["errors"]:
        logger.info("sender numbers checked", extra=stats)
    return stats


# --- 10DLC registration ---------------------------------------------------------------------------


@shared_task
def poll_tendlc_registrations() -> int:
    """Periodic (celery-beat): ask the registrar about every pending brand, campaign and number link,
    in case a webhook was lost. Safe to run twice: unchanged answers change nothing."""
    from messaging.numbers import tendlc

    return sum(tendlc.church_poll(church_id=church_id) for church_id in tendlc.pending_church_ids())


@shared_task
def poll_tendlc_church(church_id: int) -> int:
    """One church's registration, checked soon after a submission."""
    from messaging.numbers import tendlc

    return tendlc.church_poll(church_id=church_id)


@shared_task(acks_late=True)
def tendlc_assign_numbers(campaign_id: int) -> int:
    """Link the church's active numbers to its newly live campaign (idempotent)."""
    from messaging.numbers import tendlc

    return tendlc.campaign_assign_numbers(campaign_id=campaign_id)


@shared_task
def tendlc_submit_campaign(church_id: int) -> int | None:
    """The church's details were approved: submit the campaign staff already asked to submit."""
    from messaging.numbers import tendlc

    campaign = tendlc.campaign_submit_when_ready(church_id=church_id)
    return campaign.pk if campaign is not None else None
