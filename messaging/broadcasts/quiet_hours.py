"""Quiet hours: texts go out only inside the recipient's local sending window (default 08:00–21:00,
47 CFR 64.1200(c)(1)); anything outside waits for the window to open. DST-correct through zoneinfo."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


def _window_contains(local: time, window_start: time, window_end: time) -> bool:
    if window_start <= window_end:
        return window_start <= local < window_end
    return local >= window_start or local < window_end  # a window that spans midnight


def next_send_time(*, now: datetime, tz_name: str, quiet_start: time, quiet_end: time) -> datetime | None:
    """None when ``now`` is inside the sending window at ``tz_name``; otherwise the aware UTC instant
    the window next opens. The church's quiet hours run from ``quiet_start`` (e.g. 21:00) to
    ``quiet_end`` (e.g. 08:00); sending is allowed from ``quiet_end`` until ``quiet_start``."""
    if quiet_start == quiet_end:
        return None  # no quiet hours configured
    zone = ZoneInfo(tz_name)
    local = now.astimezone(zone)
    if _window_contains(local.time(), quiet_end, quiet_start):
        return None
    opening_day = local.date() if local.time() < quiet_end else local.date() + timedelta(days=1)
    # Wall-clock 08:00 on that day; zoneinfo resolves it to the right UTC offset across DST changes.
    opening = datetime.combine(opening_day, quiet_end, tzinfo=zone)
    return opening.astimezone(ZoneInfo("UTC"))
