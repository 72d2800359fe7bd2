"""/api/v1/members/{id}/consent: the ledger, read and appended through the API."""

import pytest

from churches import services
from churches.models import ConsentEvent, Role, SmsStatus
from tests.conftest import assert_error_shape, assert_role_refused
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("rows", [3, 30])
def test_history_newest_first_in_fixed_queries(world, rows, django_assert_max_num_queries):
    member = services.member_create(
        church=world.church, acting_user=world.staff, phone="312-555-0170", consent="Connect card"
    )
    for i in range(rows - 1):
        kind = "opt_out" if i % 2 == 0 else "opt_in"
        services.consent_record(church=world.church, member=member, kind=kind, source="keyword", raw_text=kind)
    client = world.api_client(Role.VIEWER)
    with django_assert_max_num_queries(4):  # key, last-used stamp, member, page with actors and keys
        body = client.get(f"/api/v1/members/{member.pk}/consent?page_size=100").json()
    assert len(body["results"]) == rows
    oldest = body["results"][-1]
    assert oldest["kind"] == "opt_in" and oldest["source"] == "staff" and oldest["evidence"] == "Connect card"
    assert oldest["recorded_by"] == world.staff.name
    assert set(oldest) == {"id", "kind", "source", "evidence", "recorded_by", "created_at"}
    assert [r["id"] for r in body["results"]] == sorted((r["id"] for r in body["results"]), reverse=True)


def test_opt_out_then_only_the_member_can_opt_back_in(world):
    member = MemberFactory(church=world.church)
    client = world.api_client(Role.STAFF)
    url = f"/api/v1/members/{member.pk}/consent"
    response = client.post(url, {"kind": "opt_out", "evidence": "Asked by email to stop"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["sms_status"] == "unsubscribed"
    event = response.json()["event"]
    assert event["source"] == "api" and event["recorded_by"] == "API key “staff key”"

    error = assert_error_shape(client.post(url, {"kind": "opt_in", "evidence": "They said so"}, format="json"), 409)
    assert error["code"] == "opted_out"
    member.refresh_from_db()
    assert member.sms_status == SmsStatus.UNSUBSCRIBED

    response = client.post(
        url,
        {"kind": "opt_in", "source": "web_form", "evidence": "https://church.example/join at 2024-05-05 10:00"},
        format="json",
    )
    assert response.status_code == 201 and response.json()["sms_status"] == "subscribed"
    assert list(ConsentEvent.objects.filter(member=member).values_list("kind", "source")) == [
        ("opt_in", "web_form"),
        ("opt_out", "api"),
    ]
    assert [r["kind"] for r in client.get(url).json()["results"]] == ["opt_in", "opt_out"]


def test_bad_consent_input_is_400(world):
    member = MemberFactory(church=world.church, sms_status=SmsStatus.NEVER_CONSENTED)
    client = world.api_client(Role.STAFF)
    url = f"/api/v1/members/{member.pk}/consent"
    for body, field in (
        ({}, "kind"),
        ({"kind": "help"}, "kind"),
        ({"kind": "opt_in"}, "evidence"),
        ({"kind": "opt_in", "evidence": "  "}, "evidence"),
        ({"kind": "opt_in", "source": "keyword", "evidence": "START"}, "source"),
        ({"kind": "opt_in", "source": "provider_report", "evidence": "x"}, "source"),
    ):
        error = assert_error_shape(client.post(url, body, format="json"), 400, "validation_error")
        assert field in error["details"], body
    assert_error_shape(client.generic("POST", url, data="{", content_type="application/json"), 400, "malformed_request")
    assert not ConsentEvent.objects.exists()
    member.refresh_from_db()
    assert member.sms_status == SmsStatus.NEVER_CONSENTED


def test_viewers_read_consent_but_cannot_record_it(world):
    member = MemberFactory(church=world.church)
    viewer = world.api_client(Role.VIEWER)
    url = f"/api/v1/members/{member.pk}/consent"
    assert viewer.get(url).status_code == 200
    assert_role_refused(viewer, url, "post", {"kind": "opt_out"})
    assert not ConsentEvent.objects.exists()


def test_session_staff_record_consent_as_themselves(world):
    member = MemberFactory(church=world.church, sms_status=SmsStatus.NEVER_CONSENTED)
    client = world.session_api_client(Role.STAFF)
    response = client.post(
        f"/api/v1/members/{member.pk}/consent", {"kind": "opt_in", "evidence": "Verbal, at the door"}, format="json"
    )
    assert response.status_code == 201
    event = ConsentEvent.objects.get(member=member)
    assert event.actor == world.staff and event.api_key is None and event.source == "api"
