"""The few hooks churches exposes, so other apps can react without churches importing them."""

import logging
from collections.abc import Iterable

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

# Sent after commit with church=, owner= when a church signs up (billing starts its trial).
church_created = Signal()

# Sent after commit with church_id=, member_ids= when members become subscribed (an opt-in was recorded,
# by staff, import, the API or a keyword). Messaging sends the church's welcome text from it. Send it
# with ``announce_members_subscribed`` inside the transaction that subscribes them.
members_subscribed = Signal()


def announce_members_subscribed(*, church_id: int, member_ids: Iterable[int]) -> None:
    ids = sorted({int(member_id) for member_id in member_ids})
    if ids:
        transaction.on_commit(lambda: _send_robustly(members_subscribed, church_id=church_id, member_ids=ids))


def _send_robustly(signal: Signal, **kwargs) -> None:
    # After commit the members are saved whatever a listener does; a listener's failure is logged,
    # never turned into an error for the person who subscribed them.
    for receiver, result in signal.send_robust(sender=None, **kwargs):
        if isinstance(result, Exception):
            logger.error("signal receiver failed", extra={"receiver": repr(receiver)}, exc_info=result)
