"""The compose preview shows the text exactly as one member receives it (the audience's first, or one
chosen), counted as the pipeline counts it, and what the send costs against the plan; the same in
POST /api/v1/messages/preview. Another church's member is never shown; viewers can't preview."""

import pytest

from churches.models import Role, SmsStatus
from messaging.broadcasts import selectors, services
from messaging.models import SenderNumber
from messaging.segments import segment_info
from tests.factories import MemberFactory
from tests.messaging.support import grant_segments

pytestmark = pytest.mark.django_db

BODY = "Hi {first_name}, see you Sunday at {church_name}!"


@pytest.fixture
def members(world):
    SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")
    MemberFactory(church=world.church, first_name="Unsubscribed", sms_status=SmsStatus.UNSUBSCRIBED)
    first = MemberFactory(church=world.church, first_name="Ruth", last_name="Bethlehem")
    second = MemberFactory(church=world.church, first_name="Bartholomew-Maximilian", last_name="Okonkwo")
    return first, second


def test_the_page_shows_the_first_subscribed_members_text(world, members):
    response = world.page_client(Role.STAFF).post(
        "/messages/new", {"body": BODY, "audience_kind": "all", "when": "now", "refresh_preview": "1"}
    )
    page = response.content.decode()
    expected = services.render_body(BODY, first_name="Ruth", last_name="Bethlehem", church_name=world.church.name)
    assert f'data-preview="sample_text">{expected}</p>' in page.replace("&#x27;", "'")
    assert f"{len(expected)} characters · 1 segment (GSM-7)" in page
    assert "Bartholomew-Maximilian Okonkwo</option>" in page
    assert "Unsubscribed" not in page  # only people who will receive it


def test_a_chosen_member_is_shown_and_counted_exactly(world, members):
    second = members[1]
    response = world.page_client(Role.STAFF).post(
        "/messages/new",
        {"body": BODY * 3, "audience_kind": "all", "when": "now", "refresh_preview": "1", "preview_member": second.pk},
    )
    page = response.content.decode()
    text = services.render_body(BODY * 3, first_name=second.first_name, last_name="", church_name=world.church.name)
    info = segment_info(text)
    assert "Bartholomew-Maximilian, see you" in page
    assert f"{info.units} characters · {info.segments} segments (GSM-7)" in page
    assert f'<option value="{second.pk}" selected>' in page


def test_another_churchs_member_is_never_shown(world, other_world, members):
    theirs = MemberFactory(church=other_world.church, first_name="Secret")
    preview = selectors.message_preview(
        church=world.church, body=BODY, audience={"all": True}, preview_member_id=theirs.pk
    )
    assert preview.sample["member_id"] == members[0].pk
    assert all(choice["id"] != theirs.pk for choice in preview.sample_choices)


def test_the_api_preview_has_the_sample_and_the_cost(world, members):
    grant_segments(world, 100)
    client = world.api_client(Role.STAFF)
    response = client.post(
        "/api/v1/messages/preview",
        {"body": BODY, "audience": {"all": True}, "preview_member_id": members[1].pk},
        format="json",
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["sample"]["name"] == "Bartholomew-Maximilian Okonkwo"
    assert data["sample"]["text"].startswith("Hi Bartholomew-Maximilian, see you Sunday")
    assert data["sample"]["characters"] == len(data["sample"]["text"])
    assert [c["id"] for c in data["sample_choices"]] == [members[0].pk, members[1].pk]
    cost = data["cost"]
    assert cost["segments"] == data["total_segments"] == 2
    assert cost["allowed"] and cost["within_allowance"]
    assert cost["remaining_after"] == cost["remaining"] - 2
    assert f"{cost['remaining_after']:,} of {cost['allowance']:,} left" in cost["text"]
    assert data["needs_approval"] is False
    bad = client.post("/api/v1/messages/preview", {"body": BODY, "preview_member_id": "x"}, format="json")
    assert bad.status_code == 400
    viewer = world.api_client(Role.VIEWER)
    assert viewer.post("/api/v1/messages/preview", {"body": "x"}, format="json").status_code == 403


def test_the_cost_says_when_the_plan_would_refuse(world, members, monkeypatch):
    from koinonia import policy

    summary = {
        "allowance": 500,
        "remaining": 1,
        "send": {"allowed": False, "message": "Only 1 segment is left.", "within_allowance": False},
    }
    monkeypatch.setattr(policy.current(), "usage_summary", lambda **kwargs: summary)
    preview = selectors.message_preview(church=world.church, body=BODY, audience={"all": True})
    assert preview.cost["allowed"] is False and preview.cost["text"] == "Only 1 segment is left."
    page = world.page_client(Role.STAFF).post(
        "/messages/new", {"body": BODY, "audience_kind": "all", "when": "now", "refresh_preview": "1"}
    )
    assert "Only 1 segment is left." in page.content.decode()


def test_no_number_link_is_shown_before_writing(world):
    page = world.page_client(Role.OWNER).get("/messages/new").content.decode()
    assert page.index('href="/settings/numbers/#get-a-number"') < page.index("<textarea")
