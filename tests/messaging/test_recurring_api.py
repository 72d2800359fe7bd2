"""``/api/v1/recurring-messages``: create, read, edit, pause, resume, delete, preview; another church's
ids are 404s, viewers can't change anything, impossible schedules are 400s with a message per field."""

from datetime import UTC, datetime

import pytest
import time_machine

from churches.models import Role
from messaging.models import RecurringMessage
from tests.conftest import assert_error_shape, assert_other_church_404, assert_role_refused
from tests.factories import GroupFactory, MemberFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/recurring-messages"
NOW = datetime(2026, 3, 1, 14, 0, tzinfo=UTC)  # Sunday 8:00 in Chicago


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def payload(**changes) -> dict:
    body = {
        "name": "Sunday reminder",
        "body": "Service at 10, {first_name}!",
        "audience": {"all": True},
        "frequency": "weekly",
        "weekdays": [6],
        "time_of_day": "09:00",
        "start_date": "2026-03-01",
    }
    body.update(changes)
    return body


def create(client, **changes):
    return client.post(URL, payload(**changes), format="json")


def test_staff_create_and_everyone_reads_with_the_next_five_send_times(world):
    response = create(world.api_client(Role.STAFF))
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["state"] == "active" and created["timezone"] == "America/Chicago"
    assert created["description"] == "Every week on Sunday at 9:00 AM (America/Chicago)"
    assert created["next_runs"] == [
        "2026-03-01T09:00:00-06:00",
        "2026-03-08T09:00:00-05:00",  # daylight saving time began that morning
        "2026-03-15T09:00:00-05:00",
        "2026-03-22T09:00:00-05:00",
        "2026-03-29T09:00:00-05:00",
    ]
    assert created["next_run_at"] == "2026-03-01T15:00:00Z"

    viewer = world.api_client(Role.VIEWER)
    assert viewer.get(f"{URL}/{created['id']}").json()["name"] == "Sunday reminder"
    assert [row["id"] for row in viewer.get(URL).json()["results"]] == [created["id"]]


def test_list_query_count_does_not_grow_with_rows(world, django_assert_max_num_queries):
    client = world.api_client(Role.VIEWER)
    staff = world.api_client(Role.STAFF)
    for n in range(3):
        create(staff, name=f"R{n}")
    with django_assert_max_num_queries(6):
        first = client.get(URL)
    for n in range(3, 12):
        create(staff, name=f"R{n}")
    with django_assert_max_num_queries(6):
        second = client.get(URL)
    assert len(first.json()["results"]) == 3 and len(second.json()["results"]) == 12


def test_every_endpoint_hides_another_churchs_schedules(world, other_world):
    theirs = create(other_world.api_client(Role.STAFF)).json()["id"]
    mine = world.api_client(Role.ADMIN)
    assert_other_church_404(mine, f"{URL}/{theirs}")
    assert_other_church_404(mine, f"{URL}/{theirs}", method="patch", data={"name": "Mine now"})
    assert_other_church_404(mine, f"{URL}/{theirs}", method="delete")
    assert_other_church_404(mine, f"{URL}/{theirs}/pause", method="post", data={})
    assert_other_church_404(mine, f"{URL}/{theirs}/resume", method="post", data={})
    assert mine.get(URL).json()["results"] == []
    assert RecurringMessage.objects.get(pk=theirs).name == "Sunday reminder"


def test_viewers_cannot_change_schedules(world):
    recurring_id = create(world.api_client(Role.STAFF)).json()["id"]
    viewer = world.api_client(Role.VIEWER)
    assert_role_refused(viewer, URL, data=payload())
    assert_role_refused(viewer, f"{URL}/{recurring_id}", method="patch", data={"name": "x"})
    assert_role_refused(viewer, f"{URL}/{recurring_id}", method="delete")
    assert_role_refused(viewer, f"{URL}/{recurring_id}/pause")
    assert_role_refused(viewer, f"{URL}/{recurring_id}/resume")
    assert_role_refused(viewer, f"{URL}/preview", data=payload())
    assert RecurringMessage.objects.get(pk=recurring_id).active


def test_pause_resume_edit_and_delete(world):
    client = world.api_client(Role.STAFF)
    recurring_id = create(client).json()["id"]
    paused = client.post(f"{URL}/{recurring_id}/pause").json()
    assert paused["state"] == "paused" and paused["next_runs"] == []
    resumed = client.post(f"{URL}/{recurring_id}/resume").json()
    assert resumed["state"] == "active" and resumed["next_run_at"] == "2026-03-01T15:00:00Z"
    edited = client.patch(
        f"{URL}/{recurring_id}", {"frequency": "monthly", "nth_week": -1, "nth_weekday": 4}, format="json"
    ).json()
    assert edited["description"] == "Every month on the last Friday at 9:00 AM (America/Chicago)"
    assert edited["next_runs"][0] == "2026-03-27T09:00:00-05:00" and edited["weekdays"] == []
    assert client.delete(f"{URL}/{recurring_id}").status_code == 204
    assert client.get(f"{URL}/{recurring_id}").status_code == 404


def test_resuming_a_finished_schedule_is_a_conflict(world):
    client = world.api_client(Role.STAFF)
    recurring_id = create(client, count=1).json()["id"]
    client.post(f"{URL}/{recurring_id}/pause")
    with time_machine.travel(datetime(2026, 3, 2, tzinfo=UTC), tick=False):  # its only time went by, paused
        error = assert_error_shape(client.post(f"{URL}/{recurring_id}/resume"), 409, "conflict")
    assert "has ended" in error["message"]


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"start_date": "2026-02-30"}, "start_date", "February 2026 has 28 days"),
        ({"end_date": "2026-02-01"}, "end_date", "before the start date"),
        ({"end_date": "2026-04-31"}, "end_date", "April 2026 has 30 days"),
        ({"frequency": "rrule", "rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "rrule", "never happens"),
        ({"frequency": "monthly", "weekdays": [], "month_day": 32}, "month_day", "1 to 31"),
        ({"frequency": "weekly", "weekdays": []}, "weekdays", "at least one day"),
        ({"end_date": "2026-06-01", "count": 4}, "end_date", "not both"),
        ({"time_of_day": "25:00"}, "time_of_day", "Time has wrong format"),
        ({"body": ""}, "body", "Write a message"),
        ({"audience": {"group_ids": [987654]}}, "audience", "Unknown group"),
        ({"frequency": "fortnightly"}, "frequency", "not a valid choice"),
    ],
)
def test_impossible_schedules_are_refused_with_clear_messages(world, changes, field, words):
    error = assert_error_shape(create(world.api_client(Role.STAFF), **changes), 400)
    assert field in error["details"], error
    assert any(words in message for message in error["details"][field]), error
    assert not RecurringMessage.objects.exists()


def test_preview_an_unsaved_schedule(world):
    client = world.api_client(Role.STAFF)
    response = client.post(
        f"{URL}/preview",
        {"frequency": "monthly", "month_day": 31, "time_of_day": "19:00", "start_date": "2026-01-01"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert [at[:10] for at in response.json()["next_runs"]] == [
        "2026-03-31",
        "2026-04-30",
        "2026-05-31",
        "2026-06-30",
        "2026-07-31",
    ]
    assert "or the month's last day" in response.json()["description"]
    error = assert_error_shape(
        client.post(f"{URL}/preview", {"frequency": "monthly", "time_of_day": "19:00", "start_date": "2026-01-01"}),
        400,
    )
    assert "month_day" in error["details"]


def test_a_group_audience_and_a_staff_session_work_too(world):
    group = GroupFactory(church=world.church)
    MemberFactory(church=world.church)
    response = world.session_api_client(Role.STAFF).post(
        URL, payload(audience={"group_ids": [group.pk]}), format="json"
    )
    assert response.status_code == 201, response.content
    recurring = RecurringMessage.objects.get(pk=response.json()["id"])
    assert recurring.audience == {"group_ids": [group.pk]} and recurring.created_by == world.staff
