"""Accepting a broadcast takes the same time for ten members or a hundred thousand: small audiences are
counted exactly, a large one only as far as the church's plan could refuse it; with nothing capping the
amount the worker counts it (prepare, or a count task for scheduled messages). Refusals still name the
audience's full size."""

from datetime import time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import Plan
from churches.models import Role
from koinonia.hooks import segments_sent
from messaging.broadcasts import services
from messaging.models import Message, SenderNumber
from tests.conftest import assert_error_shape
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

AUDIENCE = 8


@pytest.fixture
def large(world, monkeypatch):
    """A church whose whole audience (8) is "large" (over an exact-count threshold of 3)."""
    monkeypatch.setattr(services, "EXACT_COUNT_UP_TO", 3)
    SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")
    world.church.quiet_hours_start = world.church.quiet_hours_end = time(0, 0)
    world.church.save(update_fields=["quiet_hours_start", "quiet_hours_end"])
    MemberFactory.create_batch(AUDIENCE, church=world.church)
    return world


def overage_without_cap():
    Plan.objects.filter(is_trial=True).update(overage_cents_per_1000=1200)


def member_counts(queries) -> list[str]:
    return [q["sql"] for q in queries if "COUNT(" in q["sql"] and "churches_member" in q["sql"]]


def test_with_no_cap_a_large_audience_is_counted_by_the_worker_not_the_request(
    large, django_capture_on_commit_callbacks
):
    overage_without_cap()
    staff = large.api_client(Role.STAFF)
    with django_capture_on_commit_callbacks() as callbacks, CaptureQueriesContext(connection) as queries:
        response = staff.post("/api/v1/messages", {"body": "Hi", "audience": {"all": True}}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["counts"]["recipients"] is None  # counted by the worker within seconds
    counts = member_counts(queries.captured_queries)
    assert counts and all("LIMIT" in sql for sql in counts), counts  # the request never counts it all

    page = large.page_client(Role.STAFF)
    assert "Counting the audience" in page.get("/messages/").content.decode()
    for callback in callbacks:  # prepare_message (eager in tests)
        callback()
    message = Message.objects.get(pk=response.json()["id"])
    assert message.recipient_count == AUDIENCE and message.recipients_counted
    assert staff.get(f"/api/v1/messages/{message.pk}").json()["counts"]["recipients"] == AUDIENCE
    assert "Counting the audience" not in page.get("/messages/").content.decode()


def test_a_large_scheduled_message_is_counted_after_it_is_accepted(large, django_capture_on_commit_callbacks):
    overage_without_cap()
    with django_capture_on_commit_callbacks(execute=True):
        message = services.message_send(
            church=large.church,
            author=large.staff,
            body="See you Sunday",
            audience={"all": True},
            scheduled_at=timezone.now() + timedelta(days=2),
        )
    message.refresh_from_db()
    assert message.status == Message.Status.SCHEDULED and message.prepared_at is None
    assert message.recipient_count == AUDIENCE  # filled in by count_message_audience
    assert services.message_count_audience(message_id=message.pk) is None  # already counted: nothing to do


def test_within_the_allowance_a_large_audience_is_counted_exactly_up_front(large):
    staff = large.api_client(Role.STAFF)  # the trial: 500 segments, no overage
    response = staff.post("/api/v1/messages", {"body": "Hi", "audience": {"all": True}}, format="json")
    assert response.status_code == 201 and response.json()["counts"]["recipients"] == AUDIENCE


def test_past_the_allowance_the_refusal_names_the_full_audience(large):
    segments_sent.send(
        sender=None,
        church_id=large.church.pk,
        segments=495,
        message_id=None,
        branch_id=None,
        occurred_at=timezone.now(),
    )
    staff = large.api_client(Role.STAFF)
    response = staff.post("/api/v1/messages", {"body": "Hi", "audience": {"all": True}}, format="json")
    error = assert_error_shape(response, 402, "plan_limit")
    assert f"needs {AUDIENCE} segments but only 5 are left" in error["message"]
    assert not Message.objects.filter(church=large.church).exists()


def test_a_small_audience_is_always_counted_up_front(world, django_capture_on_commit_callbacks):
    overage_without_cap()
    SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")
    MemberFactory.create_batch(2, church=world.church)
    message = services.message_send(church=world.church, author=world.staff, body="Hi", audience={"all": True})
    assert message.recipient_count == 2 and message.recipients_counted
