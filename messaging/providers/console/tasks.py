"""The console provider's stand-in for a carrier posting delivery reports to our webhook.

The carrier's side of a callback is an HTTP POST; ours is the function the webhook views call once the
signature is verified (``messaging.webhooks.ingest_status``), registered here by ``MessagingConfig.ready()``
with :func:`set_status_receiver` (the providers know nothing of delivery, so they are handed the function).
"""

import logging
from collections.abc import Callable

from celery import shared_task

logger = logging.getLogger(__name__)

StatusReceiver = Callable[[str, dict], object]
_receiver: StatusReceiver | None = None


def set_status_receiver(receiver: StatusReceiver | None) -> StatusReceiver | None:
    """Register who receives the console's delivery reports (``None`` switches simulation off); returns the
    previous receiver so a caller (or a test) can put it back."""
    global _receiver
    previous, _receiver = _receiver, receiver
    return previous


def status_receiver() -> StatusReceiver | None:
    return _receiver


# On the webhooks queue, beside the batches that apply what it stores: the same path as a carrier's reports.
@shared_task(acks_late=True, queue="webhooks")
def report_statuses(payloads: list[dict]) -> int:
    """Post each report to the receiver, as a carrier would post its callbacks (each is stored once, so a
    re-run after a lost acknowledgement changes nothing)."""
    receiver = _receiver
    if receiver is None:
        logger.info("console delivery reports dropped: no receiver registered", extra={"count": len(payloads)})
        return 0
    for payload in payloads:
        receiver("console", payload)
    return len(payloads)
