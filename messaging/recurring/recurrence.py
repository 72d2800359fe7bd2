"""Schedule math for recurring messages: pure functions, no database.

A schedule is a wall-clock time in a time zone ("9:00 AM in America/Chicago") repeated daily, weekly on
chosen days, monthly on a day of the month or on the nth weekday ("second Sunday", "last Friday"), or by
a custom RFC 5545 RRULE, from a start date until an end date or for a number of times.

Rules we chose (and test):

- Send times are computed on the local wall clock and only then turned into UTC, so "9:00 AM" stays
  9:00 AM across daylight-saving changes.
- A time that doesn't exist on a spring-forward day (02:30 in New York on the second Sunday of March)
  is sent the same length of time after the change instead: 03:30 local. A time that happens twice on a
  fall-back day (01:30) is sent once, the first time (the daylight-saving one).
- Monthly on the 29th, 30th or 31st: in months without that day it is sent on the month's last day
  (the 31st means "the end of every month"; the 30th gives February 28 or 29).
- Weeks start on Sunday, which matters for "every 2 weeks on Sunday and Wednesday".
- ``count`` counts the schedule's occurrences from its start date (as iCalendar's COUNT does), so the
  preview and the series end are known in advance; ``end_date`` includes the end day itself.
- Custom rules more frequent than daily (HOURLY, MINUTELY) are elapsed time from the start: "every 2
  hours" is every 120 minutes, even across a clock change.
"""

import calendar
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from dateutil import rrule as du

from koinonia.exceptions import BusinessRuleError
from messaging.recurring.rrule_words import FALLBACK, rrule_words

DAILY, WEEKLY, MONTHLY, CUSTOM = "daily", "weekly", "monthly", "rrule"
FREQUENCIES = (DAILY, WEEKLY, MONTHLY, CUSTOM)
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
NTH_NAMES = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}
MAX_INTERVAL = 99
MAX_COUNT = 1000
# The shortest gap a church may choose between sends of a custom rule (the scheduler ticks every minute).
MIN_CUSTOM_FREQUENCY = du.MINUTELY
_SUB_DAILY = (du.HOURLY, du.MINUTELY, du.SECONDLY)
_DU_WEEKDAYS = (du.MO, du.TU, du.WE, du.TH, du.FR, du.SA, du.SU)
_RRULE_FREQ_NAMES = {"YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY"}


@dataclass(frozen=True)
class Schedule:
    """When a recurring message is sent. Weekdays are 0 (Monday) to 6 (Sunday), as in Python."""

    frequency: str
    time_of_day: time
    timezone: str
    start_date: date
    interval: int = 1
    weekdays: tuple[int, ...] = field(default_factory=tuple)
    month_day: int | None = None
    nth_week: int | None = None
    nth_weekday: int | None = None
    rrule: str = ""
    end_date: date | None = None
    count: int | None = None

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


def _refuse(message: str, field_name: str) -> BusinessRuleError:
    return BusinessRuleError(message, field=field_name)


def normalize_rrule(text: str) -> str:
    """The RRULE's parameters without an ``RRULE:`` prefix, upper-cased; DTSTART/UNTIL/COUNT are ours."""
    text = (text or "").strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    parts = [part.strip() for part in text.split(";") if part.strip()]
    names = {part.split("=", 1)[0].upper() for part in parts}
    if "\n" in text or "DTSTART" in text.upper():
        raise _refuse("Give only the rule (e.g. FREQ=WEEKLY;BYDAY=SU); the start date has its own field.", "rrule")
    if names & {"COUNT", "UNTIL"}:
        raise _refuse("Use the end date or the number of times instead of UNTIL or COUNT in the rule.", "rrule")
    return ";".join(parts).upper()


def _base_rule(schedule: Schedule, dtstart: datetime) -> du.rrule:
    """The schedule as a dateutil rule starting at ``dtstart`` (naive local, or aware UTC for custom
    rules more frequent than daily), without its end."""
    if schedule.frequency == DAILY:
        return du.rrule(du.DAILY, interval=schedule.interval, dtstart=dtstart)
    if schedule.frequency == WEEKLY:
        return du.rrule(
            du.WEEKLY, interval=schedule.interval, byweekday=sorted(schedule.weekdays), dtstart=dtstart, wkst=du.SU
        )
    if schedule.frequency == MONTHLY:
        if schedule.nth_week is not None:
            weekday = _DU_WEEKDAYS[schedule.nth_weekday](schedule.nth_week)
            return du.rrule(du.MONTHLY, interval=schedule.interval, byweekday=weekday, dtstart=dtstart)
        if schedule.month_day <= 28:
            return du.rrule(du.MONTHLY, interval=schedule.interval, bymonthday=schedule.month_day, dtstart=dtstart)
        # 29-31: the last of the days 28..N that the month has, so short months get their last day.
        return du.rrule(
            du.MONTHLY,
            interval=schedule.interval,
            bymonthday=tuple(range(28, schedule.month_day + 1)),
            bysetpos=-1,
            dtstart=dtstart,
        )
    return du.rrulestr(normalize_rrule(schedule.rrule), dtstart=dtstart)


def _is_sub_daily(schedule: Schedule) -> bool:
    if schedule.frequency != CUSTOM:
        return False
    return _base_rule(schedule, datetime.combine(schedule.start_date, schedule.time_of_day))._freq in _SUB_DAILY


def local_to_utc(local: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    """A wall-clock time in ``tz`` as UTC. ``fold=0``: a time skipped by spring-forward lands as far
    after the change as it was after the hour (02:30 → 03:30), a repeated time is its first pass."""
    return local.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _rule(schedule: Schedule) -> tuple[du.rrule, bool]:
    """(the full rule with its end, whether it runs in UTC rather than on the local wall clock)."""
    local_start = datetime.combine(schedule.start_date, schedule.time_of_day)
    in_utc = _is_sub_daily(schedule)
    dtstart = local_to_utc(local_start, schedule.tz) if in_utc else local_start
    until = None
    if schedule.end_date is not None:
        until = datetime.combine(schedule.end_date, time.max)
        if in_utc:
            until = local_to_utc(until, schedule.tz)
    rule = _base_rule(schedule, dtstart).replace(until=until, count=schedule.count)
    return rule, in_utc


def occurrences(schedule: Schedule, *, after: datetime, inclusive: bool = False) -> Iterator[datetime]:
    """Send times (aware UTC, ascending, each once) after ``after`` (or at it, with ``inclusive``)."""
    rule, in_utc = _rule(schedule)
    after = after.astimezone(UTC)
    if in_utc:
        candidates = rule.xafter(after, inc=inclusive)
        yield from candidates
        return
    # Local wall-clock to UTC is monotonic (never decreasing) with fold=0, so start a day early on the
    # wall clock and skip what turns out to be before ``after``.
    local_after = after.astimezone(schedule.tz).replace(tzinfo=None) - timedelta(days=1)
    previous = None
    for local in rule.xafter(local_after, inc=True):
        at = local_to_utc(local, schedule.tz)
        if at < after or (at == after and not inclusive) or at == previous:
            continue
        previous = at
        yield at


def next_run(schedule: Schedule, *, after: datetime, inclusive: bool = False) -> datetime | None:
    return next(occurrences(schedule, after=after, inclusive=inclusive), None)


def preview_next(schedule: Schedule, *, after: datetime, n: int = 5) -> list[datetime]:
    """The next ``n`` send times from ``after`` (inclusive), fewer if the schedule ends first."""
    found = []
    for at in occurrences(schedule, after=after, inclusive=True):
        found.append(at)
        if len(found) >= n:
            break
    return found


def latest_due(schedule: Schedule, *, since: datetime, now: datetime) -> datetime | None:
    """The last send time in [since, now]: after an outage only the most recent missed time is sent."""
    latest = None
    for at in occurrences(schedule, after=since, inclusive=True):
        if at > now:
            break
        latest = at
    return latest


# --- Validation ----------------------------------------------------------------------------------


def validate(schedule: Schedule, *, now: datetime | None = None) -> None:
    """Refuse schedules that are malformed, impossible or already over, with a message per field."""
    if schedule.frequency not in FREQUENCIES:
        raise _refuse("Choose daily, weekly, monthly or a custom rule.", "frequency")
    try:
        zoneinfo.ZoneInfo(schedule.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _refuse(f"{schedule.timezone!r} is not a time zone we know.", "timezone") from None
    if not 1 <= schedule.interval <= MAX_INTERVAL:
        raise _refuse(f"Repeat every 1 to {MAX_INTERVAL} periods.", "interval")
    if schedule.frequency == WEEKLY:
        if not schedule.weekdays:
            raise _refuse("Pick at least one day of the week.", "weekdays")
        if any(day not in range(7) for day in schedule.weekdays):
            raise _refuse("Days of the week are 0 (Monday) to 6 (Sunday).", "weekdays")
    if schedule.frequency == MONTHLY:
        _validate_monthly(schedule)
    if schedule.frequency == CUSTOM:
        _validate_custom(schedule)
    if schedule.end_date is not None and schedule.count is not None:
        raise _refuse("Choose an end date or a number of times, not both.", "end_date")
    if schedule.end_date is not None and schedule.end_date < schedule.start_date:
        raise _refuse(
            f"The end date ({schedule.end_date:%b %-d, %Y}) is before the start date "
            f"({schedule.start_date:%b %-d, %Y}).",
            "end_date",
        )
    if schedule.count is not None and not 1 <= schedule.count <= MAX_COUNT:
        raise _refuse(f"Send it between 1 and {MAX_COUNT} times.", "count")
    first = next_run(schedule, after=datetime.combine(schedule.start_date, time.min, tzinfo=UTC) - timedelta(days=2))
    if first is None:
        raise _refuse("This schedule never happens (for example, February has no 30th). Check the rule.", "rrule")
    if now is not None and next_run(schedule, after=now, inclusive=True) is None:
        raise _refuse(
            "This schedule has no send times left: move the end date later or send it more times.", "end_date"
        )


def _validate_monthly(schedule: Schedule) -> None:
    by_day = schedule.month_day is not None
    by_weekday = schedule.nth_week is not None or schedule.nth_weekday is not None
    if by_day == by_weekday:
        raise _refuse('Choose a day of the month (e.g. the 15th) or a weekday (e.g. "second Sunday").', "month_day")
    if by_day and not 1 <= schedule.month_day <= 31:
        raise _refuse("Days of the month are 1 to 31 (29–31 fall on the last day of shorter months).", "month_day")
    if by_weekday:
        if schedule.nth_week not in NTH_NAMES:
            raise _refuse('Pick first, second, third, fourth or last (e.g. "last Friday").', "nth_week")
        if schedule.nth_weekday not in range(7):
            raise _refuse("Pick the day of the week.", "nth_weekday")


def _validate_custom(schedule: Schedule) -> None:
    text = normalize_rrule(schedule.rrule)
    if not text:
        raise _refuse("Write the rule, e.g. FREQ=WEEKLY;BYDAY=SU.", "rrule")
    names = {part.split("=", 1)[0] for part in text.split(";")}
    freq = next((part.split("=", 1)[1] for part in text.split(";") if part.startswith("FREQ=")), "")
    if freq not in _RRULE_FREQ_NAMES:
        raise _refuse("The rule needs FREQ (YEARLY, MONTHLY, WEEKLY, DAILY, HOURLY or MINUTELY).", "rrule")
    try:
        rule = du.rrulestr(text, dtstart=datetime.combine(schedule.start_date, schedule.time_of_day))
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise _refuse(f"This rule can't be read: {exc}.", "rrule") from None
    if rule._freq > MIN_CUSTOM_FREQUENCY:
        raise _refuse("Recurring messages can be sent at most once a minute.", "rrule")
    if rule._freq in _SUB_DAILY and names & {"BYHOUR", "BYMINUTE", "BYSECOND"}:
        raise _refuse("Hourly and minutely rules can't pick hours or minutes; use a daily rule instead.", "rrule")


def impossible_date_message(text: str) -> str | None:
    """For "2026-02-30"-like input: a sentence saying why it isn't a date (None when it is one, or
    when it isn't shaped like YYYY-MM-DD at all)."""
    parts = str(text).strip().split("-")
    if len(parts) != 3 or not all(part.isdigit() for part in parts) or len(parts[0]) != 4:
        return None
    year, month, day = (int(part) for part in parts)
    if not 1 <= month <= 12:
        return f"{text} is not a date: months go from 01 to 12."
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        return f"{text} is not a date: {calendar.month_name[month]} {year} has {days} days."
    return None


# --- Words ---------------------------------------------------------------------------------------


def _time_words(value: time) -> str:
    hour = value.hour % 12 or 12
    return f"{hour}:{value.minute:02d} {'AM' if value.hour < 12 else 'PM'}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _days_words(days: tuple[int, ...]) -> str:
    names = [WEEKDAY_NAMES[d] for d in sorted(days, key=lambda d: (d + 1) % 7)]  # Sunday first
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def describe(schedule: Schedule) -> str:
    """The schedule in words: "Every 2 weeks on Sunday and Wednesday at 9:00 AM (America/Chicago)"."""
    n = schedule.interval
    at = f"at {_time_words(schedule.time_of_day)}"
    if schedule.frequency == DAILY:
        text = f"Every day {at}" if n == 1 else f"Every {n} days {at}"
    elif schedule.frequency == WEEKLY:
        every = "Every week" if n == 1 else f"Every {n} weeks"
        text = f"{every} on {_days_words(schedule.weekdays)} {at}"
    elif schedule.frequency == MONTHLY:
        every = "Every month" if n == 1 else f"Every {n} months"
        if schedule.nth_week is not None:
            text = f"{every} on the {NTH_NAMES[schedule.nth_week]} {WEEKDAY_NAMES[schedule.nth_weekday]} {at}"
        elif schedule.month_day >= 29:
            text = f"{every} on the {_ordinal(schedule.month_day)} (or the month's last day) {at}"
        else:
            text = f"{every} on the {_ordinal(schedule.month_day)} {at}"
    else:
        words = rrule_words(schedule.rrule)
        if words == FALLBACK or " at " not in f"{words} ":
            # Sub-daily rules count from the first send; the others send at the chosen time.
            sub_daily = any(unit in schedule.rrule.upper() for unit in ("HOURLY", "MINUTELY"))
            words = f"{words}, starting {at}" if sub_daily or words == FALLBACK else f"{words} {at}"
        text = words
    text += f" ({schedule.timezone})"
    if schedule.end_date is not None:
        text += f", until {schedule.end_date:%b %-d, %Y}"
    elif schedule.count is not None:
        text += f", {schedule.count} time{'s' if schedule.count != 1 else ''}"
    return text
