"""Event ids: ``evt_`` + a ULID (48 bits of milliseconds, 80 random bits, Crockford base32), so they
sort by time as plain strings — the retention sweep finds old events through the primary key."""

import secrets

from django.utils import timezone

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_event_id(now=None) -> str:
    """``evt_`` + a ULID: 48 bits of milliseconds then 80 random bits, Crockford base32 (sortable by time)."""
    return _ulid((int((now or timezone.now()).timestamp() * 1000) << 80) | secrets.randbits(80))


def event_id_floor(when) -> str:
    """The smallest event id of the millisecond ``when``: ids sort by time as plain strings, so
    ``pk < event_id_floor(t)`` finds the events before ``t`` through the primary key's index."""
    return _ulid(int(when.timestamp() * 1000) << 80)


def _ulid(value: int) -> str:
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "evt_" + "".join(reversed(chars))
