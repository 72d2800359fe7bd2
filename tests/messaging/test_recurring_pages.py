"""Pages under /messages/recurring/: list, detail with the next five send times, the form (with its
preview step and clear refusals), pause, resume, delete. Other churches' schedules are 404s; viewers
read but don't change."""

from datetime import UTC, date, datetime, time

import pytest
import time_machine

from churches.models import Role
from messaging.models import RecurringMessage
from messaging.recurring import services as recurring_services
from tests.factories import GroupFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, 14, 0, tzinfo=UTC)  # Sunday 8:00 in Chicago


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def form_data(**changes) -> dict:
    data = {
        "name": "Prayer night",
        "template": "",
        "body": "Prayer night at 7, {first_name}.",
        "audience_kind": "all",
        "frequency": "monthly",
        "interval": "1",
        "monthly_mode": "weekday",
        "nth_week": "2",
        "nth_weekday": "6",
        "time_of_day": "18:30",
        "start_date": "2026-03-01",
        "ends": "never",
    }
    data.update(changes)
    return data


def schedule_for(world, **kwargs) -> RecurringMessage:
    kwargs = {
        "body": "Service at 10",
        "audience": {"all": True},
        "frequency": "weekly",
        "weekdays": [6],
        "time_of_day": time(9, 0),
        "start_date": date(2026, 3, 1),
        **kwargs,
    }
    return recurring_services.recurring_create(church=world.church, acting_user=world.staff, **kwargs)


def test_staff_create_a_schedule_and_see_its_next_five_send_times(world):
    staff = world.page_client(Role.STAFF)
    assert staff.get("/messages/recurring/new/").status_code == 200
    response = staff.post("/messages/recurring/new/", form_data())
    assert response.status_code == 302, response.content.decode()[:3000]
    recurring = RecurringMessage.objects.get(church=world.church)
    assert response["Location"] == f"/messages/recurring/{recurring.pk}/"
    assert (recurring.frequency, recurring.nth_week, recurring.nth_weekday) == ("monthly", 2, 6)
    page = staff.get(response["Location"]).content.decode()
    assert "Every month on the second Sunday at 6:30 PM (America/Chicago)" in page
    for day in ("Sun Mar 8, 2026", "Sun Apr 12, 2026", "Sun May 10, 2026", "Sun Jun 14, 2026", "Sun Jul 12, 2026"):
        assert day in page


def test_preview_shows_send_times_without_saving(world):
    response = world.page_client(Role.STAFF).post(
        "/messages/recurring/new/",
        form_data(frequency="monthly", monthly_mode="day", month_day="31", preview="1"),
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Tue Mar 31, 2026" in page and "Thu Apr 30, 2026" in page  # April has no 31st
    assert not RecurringMessage.objects.exists()


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"start_date": "2026-02-30"}, "February 2026 has 28 days"),
        ({"ends": "on", "end_date": "2026-02-01"}, "before the start date"),
        ({"frequency": "rrule", "rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "never happens"),
        ({"frequency": "weekly"}, "Pick at least one day of the week"),
        ({"monthly_mode": "day", "month_day": "40"}, "1 to 31"),
        ({"ends": "after", "count": ""}, "How many times"),
        ({"body": ""}, "Write a message"),
        ({"audience_kind": "some"}, "Pick at least one branch or group"),
    ],
)
def test_impossible_schedules_are_refused_with_clear_messages(world, changes, words):
    response = world.page_client(Role.STAFF).post("/messages/recurring/new/", form_data(**changes))
    assert response.status_code == 400
    assert words in response.content.decode()
    assert not RecurringMessage.objects.exists()


def test_edit_pause_resume_and_delete(world):
    group = GroupFactory(church=world.church, name="Choir")
    recurring = schedule_for(world)
    staff = world.page_client(Role.STAFF)
    edit_page = staff.get(f"/messages/recurring/{recurring.pk}/edit/").content.decode()
    assert 'value="Service at 10"' in edit_page or "Service at 10</textarea>" in edit_page

    response = staff.post(
        f"/messages/recurring/{recurring.pk}/edit/",
        form_data(audience_kind="some", group_ids=[group.pk], frequency="daily"),
    )
    assert response.status_code == 302
    recurring.refresh_from_db()
    assert recurring.audience == {"group_ids": [group.pk]} and recurring.frequency == "daily"

    staff.post(f"/messages/recurring/{recurring.pk}/pause/")
    recurring.refresh_from_db()
    assert recurring.state == "paused"
    assert "Paused: nothing is sent" in staff.get(f"/messages/recurring/{recurring.pk}/").content.decode()
    staff.post(f"/messages/recurring/{recurring.pk}/resume/")
    recurring.refresh_from_db()
    assert recurring.state == "active"
    assert staff.post(f"/messages/recurring/{recurring.pk}/delete/")["Location"] == "/messages/recurring/"
    assert not RecurringMessage.objects.filter(pk=recurring.pk).exists()


def test_viewers_read_but_cannot_change(world):
    recurring = schedule_for(world)
    viewer = world.page_client(Role.VIEWER)
    assert viewer.get("/messages/recurring/").status_code == 200
    assert viewer.get(f"/messages/recurring/{recurring.pk}/").status_code == 200
    assert viewer.get("/messages/recurring/new/").status_code == 403
    assert viewer.post("/messages/recurring/new/", form_data()).status_code == 403
    for path in ("edit/", "pause/", "resume/", "delete/"):
        assert viewer.post(f"/messages/recurring/{recurring.pk}/{path}", form_data()).status_code == 403
    recurring.refresh_from_db()
    assert recurring.state == "active"


def test_another_churchs_schedules_are_404_on_every_page(world, other_world):
    theirs = schedule_for(other_world)
    owner = world.page_client(Role.OWNER)
    assert owner.get(f"/messages/recurring/{theirs.pk}/").status_code == 404
    assert owner.get(f"/messages/recurring/{theirs.pk}/edit/").status_code == 404
    for path in ("edit/", "pause/", "resume/", "delete/"):
        assert owner.post(f"/messages/recurring/{theirs.pk}/{path}", form_data()).status_code == 404
    assert "Service at 10" not in owner.get("/messages/recurring/").content.decode()
    theirs.refresh_from_db()
    assert theirs.state == "active"


@pytest.mark.parametrize("rows", [2, 20])
def test_list_in_fixed_queries(world, rows, django_assert_max_num_queries):
    for n in range(rows):
        schedule_for(world, name=f"Reminder {n}")
    viewer = world.page_client(Role.VIEWER)
    with django_assert_max_num_queries(12):
        response = viewer.get("/messages/recurring/")
    assert response.content.decode().count("Reminder ") == rows
