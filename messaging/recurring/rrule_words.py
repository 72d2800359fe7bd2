"""A custom RRULE in words, so staff never read "FREQ=MONTHLY;BYDAY=2SU" on a page: "Every month on the
second Sunday". Pure; reads the parts churches use (FREQ, INTERVAL, BYDAY with an optional position,
BYMONTHDAY, BYMONTH, BYHOUR, BYMINUTE, BYSETPOS) and says "On a custom schedule" for anything else rather
than showing the rule."""

import calendar

UNITS = {
    "YEARLY": ("year", "years"),
    "MONTHLY": ("month", "months"),
    "WEEKLY": ("week", "weeks"),
    "DAILY": ("day", "days"),
    "HOURLY": ("hour", "hours"),
    "MINUTELY": ("minute", "minutes"),
}
DAY_CODES = {"MO": "Monday", "TU": "Tuesday", "WE": "Wednesday", "TH": "Thursday", "FR": "Friday"}
DAY_CODES |= {"SA": "Saturday", "SU": "Sunday"}
POSITIONS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", -1: "last", -2: "second-to-last"}
KNOWN = {"FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYHOUR", "BYMINUTE", "BYSETPOS", "WKST"}
FALLBACK = "On a custom schedule"


def _ordinal(n: int) -> str:
    if n == -1:
        return "last day"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _day(code: str, setpos: int | None) -> str | None:
    """ "2SU" → "second Sunday"; "SU" → "Sunday" (or, with BYSETPOS=-1, "last Sunday")."""
    name = DAY_CODES.get(code[-2:])
    if name is None:
        return None
    prefix = code[:-2]
    if prefix:
        try:
            position = int(prefix)
        except ValueError:
            return None
    else:
        position = setpos
    if position is None:
        return name
    return f"{POSITIONS[position]} {name}" if position in POSITIONS else None


def _ints(value: str) -> list[int] | None:
    try:
        return [int(part) for part in value.split(",") if part]
    except ValueError:
        return None


def rrule_words(rule: str) -> str:
    """The rule in a sentence, without the time of day (``describe`` adds the time and zone)."""
    text = (rule or "").strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    try:
        parts = dict(part.split("=", 1) for part in text.upper().split(";") if part)
    except ValueError:
        return FALLBACK
    freq = parts.get("FREQ")
    if freq not in UNITS or set(parts) - KNOWN:
        return FALLBACK
    interval = _ints(parts.get("INTERVAL", "1"))
    if not interval or interval[0] < 1:
        return FALLBACK
    n = interval[0]
    singular, plural = UNITS[freq]
    words = [f"Every {singular}" if n == 1 else f"Every {n} {plural}"]
    setpos = _ints(parts.get("BYSETPOS", ""))
    if setpos is None or len(setpos) > 1:
        return FALLBACK
    if "BYMONTH" in parts:
        months = _ints(parts["BYMONTH"])
        if not months or any(not 1 <= m <= 12 for m in months):
            return FALLBACK
        words.append("in " + _join([calendar.month_name[m] for m in months]))
    if "BYDAY" in parts:
        codes = parts["BYDAY"].split(",")
        several = len(codes) > 1 and bool(setpos)  # BYSETPOS picks one of the matching days
        days = [_day(code, None if several else setpos[0] if setpos else None) for code in codes]
        if not days or None in days or (several and setpos[0] not in POSITIONS):
            return FALLBACK
        if several:
            words.append(f"on the {POSITIONS[setpos[0]]} of {_join(days)}")
        else:
            words.append(("on the " if any(" " in d for d in days) else "on ") + _join(days))
    if "BYMONTHDAY" in parts:
        month_days = _ints(parts["BYMONTHDAY"])
        if not month_days or any(d == 0 or not -1 <= d <= 31 for d in month_days):
            return FALLBACK
        words.append("on the " + _join([_ordinal(d) for d in month_days]))
    hours = _ints(parts.get("BYHOUR", ""))
    minutes = _ints(parts.get("BYMINUTE", ""))
    if hours is None or minutes is None:
        return FALLBACK
    if hours:
        minute = minutes[0] if minutes else 0
        words.append("at " + _join([f"{h % 12 or 12}:{minute:02d} {'AM' if h < 12 else 'PM'}" for h in hours]))
    return " ".join(words)
