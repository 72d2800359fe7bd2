"""The recurring form shows only the chosen frequency's fields (the page's own rendering, so it holds
without JavaScript too; tests/e2e covers the live switch), and schedules read as sentences, never as raw
RRULE text, on the form, the list and the detail page."""

import re
from datetime import date, time

import pytest

from churches.models import Role
from messaging.recurring import services as recurring_services
from messaging.recurring.rrule_words import FALLBACK, rrule_words

pytestmark = pytest.mark.django_db


def visible_blocks(page: str) -> set[str]:
    """The data-frequency-show / data-monthly-show / data-ends-show blocks rendered without ``hidden``."""
    shown = set()
    for kind, value, rest in re.findall(r'data-(frequency|monthly|ends)-show="([^"]+)"( hidden)?', page):
        if not rest:
            shown.add(f"{kind}:{value}")
    return shown


def test_a_new_form_shows_only_the_weekly_fields(world):
    page = world.page_client(Role.STAFF).get("/messages/recurring/new/").content.decode()
    assert visible_blocks(page) == {"frequency:daily weekly monthly", "frequency:weekly", "monthly:day"}
    assert "RRULE" not in page


def test_a_posted_monthly_form_shows_the_monthly_weekday_fields_and_the_chosen_end(world):
    data = {
        "frequency": "monthly",
        "monthly_mode": "weekday",
        "ends": "after",
        "interval": "1",
        "audience_kind": "all",
        "body": "Hi",
        "time_of_day": "09:00",
        "start_date": "",  # missing: the form comes back with the choices kept
    }
    page = world.page_client(Role.STAFF).post("/messages/recurring/new/", data).content.decode()
    shown = visible_blocks(page)
    assert {"frequency:monthly", "monthly:weekday", "ends:after"} <= shown
    assert "frequency:weekly" not in shown and "frequency:rrule" not in shown and "ends:on" not in shown
    assert "month(s)" in page


def test_custom_schedules_read_as_sentences_on_every_page(world):
    recurring = recurring_services.recurring_create(
        church=world.church,
        acting_user=world.staff,
        body="Youth night",
        audience={"all": True},
        frequency="rrule",
        rrule="FREQ=MONTHLY;BYDAY=2SU",
        time_of_day=time(18, 0),
        start_date=date(2030, 1, 1),
    )
    client = world.page_client(Role.STAFF)
    for url in (
        "/messages/recurring/",
        f"/messages/recurring/{recurring.pk}/",
        f"/messages/recurring/{recurring.pk}/edit/",
    ):
        page = client.get(url).content.decode()
        assert "Every month on the second Sunday at 6:00 PM" in page, url
        assert "Custom rule FREQ" not in page and "BYDAY=2SU," not in page, url


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("FREQ=WEEKLY;BYDAY=SU,WE", "Every week on Sunday and Wednesday"),
        ("RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=SU", "Every 2 weeks on Sunday"),
        ("FREQ=MONTHLY;BYDAY=-1FR", "Every month on the last Friday"),
        ("FREQ=MONTHLY;BYMONTHDAY=-1", "Every month on the last day"),
        ("FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=24", "Every year in December on the 24th"),
        ("FREQ=HOURLY;INTERVAL=3", "Every 3 hours"),
        ("FREQ=WEEKLY;BYDAY=SU;BYHOUR=9,18", "Every week on Sunday at 9:00 AM and 6:00 PM"),
        (
            "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
            "Every month on the last of Monday, Tuesday, Wednesday, Thursday and Friday",
        ),
        ("FREQ=WEEKLY;BYEASTER=1", FALLBACK),
        ("FREQ=FORTNIGHTLY", FALLBACK),
        ("not a rule", FALLBACK),
        ("FREQ=MONTHLY;BYDAY=9SU", FALLBACK),
    ],
)
def test_rrule_words(rule, words):
    assert rrule_words(rule) == words
