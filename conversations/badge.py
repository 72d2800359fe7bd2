"""The unread badge in the main navigation: how many open threads the signed-in person may open have
unread texts. Every signed-in page shows it, so it costs one COUNT over the partial unread index and is
then cached for ``TTL`` seconds per person and church; opening a thread forgets the reader's cached
count, and the inbox's polling keeps the badge live while the inbox is open."""

import logging

from django.core.cache import cache

from churches.models import Church, User
from conversations import selectors

TTL = 15
log = logging.getLogger(__name__)


def _key(church_id: int, user_id: int) -> str:
    return f"inbox-unread:{church_id}:{user_id}"


def unread_badge_count(*, church: Church, user: User, role: str | None) -> int:
    key = _key(church.pk, user.pk)
    try:
        cached = cache.get(key)
    except Exception:  # the cache (Redis) is down: the page still renders, with a fresh count
        log.warning("unread badge: cache unavailable", exc_info=True)
        return selectors.unread_conversation_count(church=church, user=user, role=role)
    if cached is not None:
        return cached
    count = selectors.unread_conversation_count(church=church, user=user, role=role)
    try:
        cache.set(key, count, TTL)
    except Exception:
        log.warning("unread badge: cache unavailable", exc_info=True)
    return count


def unread_badge_forget(*, church: Church, user: User) -> None:
    try:
        cache.delete(_key(church.pk, user.pk))
    except Exception:
        log.warning("unread badge: cache unavailable", exc_info=True)
