"""Schedule math: wall-clock times across clock changes, month ends, nth weekdays, ends by date and by
count, and the refusals for schedules that can't happen."""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from koinonia.exceptions import BusinessRuleError
from messaging.recurring import recurrence
from messaging.recurring.recurrence import Schedule, describe, latest_due, next_run, preview_next, validate

NEW_YORK = "America/New_York"
LONDON = "Europe/London"


def schedule(**kwargs) -> Schedule:
    kwargs.setdefault("frequency", "daily")
    kwargs.setdefault("time_of_day", time(9, 0))
    kwargs.setdefault("timezone", NEW_YORK)
    kwargs.setdefault("start_date", date(2026, 1, 1))
    if "weekdays" in kwargs:
        kwargs["weekdays"] = tuple(kwargs["weekdays"])
    return Schedule(**kwargs)


def local(times: list[datetime], tz: str) -> list[str]:
    return [t.astimezone(ZoneInfo(tz)).strftime("%a %Y-%m-%d %H:%M %Z") for t in times]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- Daylight-saving changes ----------------------------------------------------------------------


def test_daily_time_stays_on_the_wall_clock_across_spring_forward_in_new_york():
    s = schedule(time_of_day=time(9, 0), start_date=date(2026, 3, 6))
    times = preview_next(s, after=utc(2026, 3, 6), n=4)
    assert local(times, NEW_YORK) == [
        "Fri 2026-03-06 09:00 EST",
        "Sat 2026-03-07 09:00 EST",
        "Sun 2026-03-08 09:00 EDT",
        "Mon 2026-03-09 09:00 EDT",
    ]
    # The same wall-clock time is an hour earlier in UTC after the change.
    assert [t.hour for t in times] == [14, 14, 13, 13]


def test_a_time_skipped_by_spring_forward_is_sent_just_after_the_change():
    s = schedule(time_of_day=time(2, 30), start_date=date(2026, 3, 7))
    times = preview_next(s, after=utc(2026, 3, 7), n=3)
    assert local(times, NEW_YORK) == [
        "Sat 2026-03-07 02:30 EST",
        "Sun 2026-03-08 03:30 EDT",  # 02:30 doesn't exist that night
        "Mon 2026-03-09 02:30 EDT",
    ]


def test_a_time_repeated_by_fall_back_is_sent_once():
    s = schedule(time_of_day=time(1, 30), start_date=date(2026, 10, 31))
    times = preview_next(s, after=utc(2026, 10, 31), n=3)
    assert local(times, NEW_YORK) == [
        "Sat 2026-10-31 01:30 EDT",
        "Sun 2026-11-01 01:30 EDT",  # the first of the two 01:30s, and only that one
        "Mon 2026-11-02 01:30 EST",
    ]
    assert len(set(times)) == 3


def test_weekly_sunday_service_reminder_across_both_london_changes():
    s = schedule(frequency="weekly", weekdays=[6], time_of_day=time(8, 0), timezone=LONDON, start_date=date(2026, 3, 1))
    spring = preview_next(s, after=utc(2026, 3, 21), n=2)
    assert local(spring, LONDON) == ["Sun 2026-03-22 08:00 GMT", "Sun 2026-03-29 08:00 BST"]
    assert [t.hour for t in spring] == [8, 7]
    autumn = preview_next(s, after=utc(2026, 10, 20), n=2)
    assert local(autumn, LONDON) == ["Sun 2026-10-25 08:00 GMT", "Sun 2026-11-01 08:00 GMT"]


def test_london_one_am_on_spring_forward_day_moves_to_two():
    s = schedule(time_of_day=time(1, 15), timezone=LONDON, start_date=date(2026, 3, 28))
    assert local(preview_next(s, after=utc(2026, 3, 28), n=2), LONDON) == [
        "Sat 2026-03-28 01:15 GMT",
        "Sun 2026-03-29 02:15 BST",
    ]


def test_custom_hourly_rule_is_elapsed_time_across_a_clock_change():
    s = schedule(frequency="rrule", rrule="FREQ=HOURLY;INTERVAL=1", time_of_day=time(0, 0), start_date=date(2026, 3, 8))
    times = preview_next(s, after=utc(2026, 3, 8, 5), n=4)
    assert [t.hour for t in times] == [5, 6, 7, 8]  # four sends an hour apart...
    assert local(times, NEW_YORK)[1:3] == ["Sun 2026-03-08 01:00 EST", "Sun 2026-03-08 03:00 EDT"]  # ...over 2 AM


# --- Month ends and nth weekdays ------------------------------------------------------------------


def test_monthly_on_the_31st_falls_on_the_last_day_of_shorter_months():
    s = schedule(frequency="monthly", month_day=31, start_date=date(2026, 1, 1))
    days = [t.astimezone(ZoneInfo(NEW_YORK)).date() for t in preview_next(s, after=utc(2026, 1, 1), n=5)]
    assert days == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30), date(2026, 5, 31)]


def test_monthly_on_the_30th_uses_february_29_in_a_leap_year_and_never_sends_twice():
    s = schedule(frequency="monthly", month_day=30, start_date=date(2028, 1, 1))
    days = [t.astimezone(ZoneInfo(NEW_YORK)).date() for t in preview_next(s, after=utc(2028, 1, 1), n=4)]
    assert days == [date(2028, 1, 30), date(2028, 2, 29), date(2028, 3, 30), date(2028, 4, 30)]


def test_monthly_on_the_29th_outside_a_leap_year():
    s = schedule(frequency="monthly", month_day=29, start_date=date(2027, 1, 1))
    days = [t.astimezone(ZoneInfo(NEW_YORK)).date() for t in preview_next(s, after=utc(2027, 1, 1), n=3)]
    assert days == [date(2027, 1, 29), date(2027, 2, 28), date(2027, 3, 29)]


def test_custom_yearly_rule_on_february_29_only_happens_in_leap_years():
    s = schedule(frequency="rrule", rrule="FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", start_date=date(2025, 1, 1))
    years = [t.year for t in preview_next(s, after=utc(2025, 1, 1), n=3)]
    assert years == [2028, 2032, 2036]


def test_second_sunday_of_the_month():
    s = schedule(frequency="monthly", nth_week=2, nth_weekday=6, start_date=date(2026, 1, 1))
    days = [t.astimezone(ZoneInfo(NEW_YORK)).date() for t in preview_next(s, after=utc(2026, 1, 1), n=4)]
    assert days == [date(2026, 1, 11), date(2026, 2, 8), date(2026, 3, 8), date(2026, 4, 12)]
    assert describe(s) == "Every month on the second Sunday at 9:00 AM (America/New_York)"


def test_last_friday_of_the_month():
    s = schedule(frequency="monthly", nth_week=-1, nth_weekday=4, time_of_day=time(18, 30), start_date=date(2026, 1, 1))
    days = [t.astimezone(ZoneInfo(NEW_YORK)).date() for t in preview_next(s, after=utc(2026, 1, 1), n=4)]
    assert days == [date(2026, 1, 30), date(2026, 2, 27), date(2026, 3, 27), date(2026, 4, 24)]


def test_every_two_weeks_on_sunday_and_wednesday_weeks_start_on_sunday():
    s = schedule(frequency="weekly", interval=2, weekdays=[6, 2], start_date=date(2026, 1, 4))
    days = [t.astimezone(ZoneInfo(NEW_YORK)).date() for t in preview_next(s, after=utc(2026, 1, 1), n=4)]
    assert days == [date(2026, 1, 4), date(2026, 1, 7), date(2026, 1, 18), date(2026, 1, 21)]
    assert describe(s) == "Every 2 weeks on Sunday and Wednesday at 9:00 AM (America/New_York)"


# --- Ends -----------------------------------------------------------------------------------------


def test_end_by_date_includes_the_end_day():
    s = schedule(start_date=date(2026, 5, 1), end_date=date(2026, 5, 3))
    assert len(preview_next(s, after=utc(2026, 4, 1), n=5)) == 3
    assert next_run(s, after=utc(2026, 5, 3, 12, 59)) == utc(2026, 5, 3, 13, 0)  # 9:00 EDT on the end day
    assert next_run(s, after=utc(2026, 5, 3, 13, 0)) is None


def test_end_by_count_counts_from_the_start_date():
    s = schedule(frequency="weekly", weekdays=[6], start_date=date(2026, 1, 1), count=3)
    all_times = preview_next(s, after=utc(2025, 12, 1), n=10)
    assert len(all_times) == 3
    # From the middle of the series only what is left remains.
    assert preview_next(s, after=all_times[1], n=10) == all_times[1:]
    assert next_run(s, after=all_times[-1]) is None


def test_start_date_in_the_future_starts_there():
    s = schedule(start_date=date(2026, 6, 1))
    assert next_run(s, after=utc(2026, 1, 1)) == utc(2026, 6, 1, 13, 0)


def test_latest_due_sends_only_the_most_recent_missed_time():
    s = schedule(frequency="rrule", rrule="FREQ=MINUTELY;INTERVAL=5", time_of_day=time(0, 0))
    assert latest_due(s, since=utc(2026, 2, 1, 10, 0), now=utc(2026, 2, 1, 10, 17, 30)) == utc(2026, 2, 1, 10, 15)
    assert latest_due(s, since=utc(2026, 2, 1, 10, 0), now=utc(2026, 2, 1, 10, 0)) == utc(2026, 2, 1, 10, 0)


# --- Refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"end_date": date(2025, 12, 31)}, "end_date", "before the start date"),
        ({"end_date": date(2026, 2, 1), "count": 3}, "end_date", "not both"),
        ({"frequency": "rrule", "rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "rrule", "never happens"),
        ({"frequency": "rrule", "rrule": "FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=31"}, "rrule", "never happens"),
        ({"frequency": "monthly", "month_day": 32}, "month_day", "1 to 31"),
        ({"frequency": "monthly", "month_day": 0}, "month_day", "1 to 31"),
        ({"frequency": "monthly"}, "month_day", "second Sunday"),
        ({"frequency": "monthly", "month_day": 3, "nth_week": 2, "nth_weekday": 6}, "month_day", "or a weekday"),
        ({"frequency": "monthly", "nth_week": 5, "nth_weekday": 6}, "nth_week", "last"),
        ({"frequency": "weekly"}, "weekdays", "at least one day"),
        ({"frequency": "weekly", "weekdays": [7]}, "weekdays", "0 (Monday)"),
        ({"frequency": "rrule", "rrule": "FREQ=SECONDLY"}, "rrule", "once a minute"),
        ({"frequency": "rrule", "rrule": "BYDAY=SU"}, "rrule", "needs FREQ"),
        ({"frequency": "rrule", "rrule": "FREQ=WEEKLY;BYDAY=XX"}, "rrule", "can't be read"),
        ({"frequency": "rrule", "rrule": "FREQ=WEEKLY;COUNT=3"}, "rrule", "number of times"),
        ({"frequency": "rrule", "rrule": ""}, "rrule", "Write the rule"),
        ({"frequency": "hourly"}, "frequency", "daily, weekly"),
        ({"interval": 0}, "interval", "every 1 to"),
        ({"count": 0}, "count", "between 1 and"),
        ({"timezone": "Mars/Olympus"}, "timezone", "time zone"),
    ],
)
def test_impossible_or_malformed_schedules_are_refused_with_a_clear_message(kwargs, field, words):
    with pytest.raises(BusinessRuleError) as refused:
        validate(schedule(**kwargs))
    assert refused.value.field == field
    assert words.lower() in refused.value.message.lower(), refused.value.message


def test_a_schedule_that_already_ended_is_refused():
    s = schedule(start_date=date(2026, 1, 1), end_date=date(2026, 1, 10))
    validate(s)  # fine on its own...
    with pytest.raises(BusinessRuleError, match="no send times left"):
        validate(s, now=utc(2026, 2, 1))  # ...but not when saved after it ended


def test_describe_reads_well():
    assert describe(schedule()) == "Every day at 9:00 AM (America/New_York)"
    assert describe(schedule(frequency="monthly", month_day=31, count=6, time_of_day=time(19, 5))) == (
        "Every month on the 31st (or the month's last day) at 7:05 PM (America/New_York), 6 times"
    )
    assert describe(schedule(frequency="monthly", month_day=2, interval=3)) == (
        "Every 3 months on the 2nd at 9:00 AM (America/New_York)"
    )
    assert describe(schedule(end_date=date(2026, 2, 1))).endswith("until Feb 1, 2026")
    assert recurrence.FREQUENCIES == ("daily", "weekly", "monthly", "rrule")
