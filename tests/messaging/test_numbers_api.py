"""GET /api/v1/numbers, /numbers/{id} and /tendlc: what the numbers and 10DLC pages show, for integrators;
another church's number is a 404, any role reads, a key needs numbers:read, and writes are not offered."""

import pytest

from churches import services as church_services
from churches.models import Role
from messaging.numbers.models import (
    NumberCheck,
    SenderNumber,
    TenDlcBrand,
    TenDlcCampaign,
    TenDlcNumberAssignment,
)
from tests.conftest import assert_error_shape, assert_other_church_404

pytestmark = pytest.mark.django_db


def make_brand(church, **fields) -> TenDlcBrand:
    return TenDlcBrand.objects.create(
        church=church,
        legal_name="Grace Chapel Inc",
        display_name="Grace",
        ein="12-3456789",
        street="1 Main",
        city="Chicago",
        state="IL",
        postal_code="60601",
        website="https://grace.test",
        contact_first_name="Ruth",
        contact_last_name="Moab",
        contact_email="office@grace.test",
        contact_phone="+13125550100",
        **fields,
    )


def make_campaign(church, brand, **fields) -> TenDlcCampaign:
    return TenDlcCampaign.objects.create(
        church=church,
        brand=brand,
        description="Announcements",
        message_flow="Members sign up on a paper form.",
        optin_message="Welcome",
        optout_message="Bye",
        help_message="Help",
        **fields,
    )


def test_numbers_list_and_detail_show_health_and_10dlc_standing(world):
    linked = SenderNumber.objects.create(
        church=world.church, phone_number="+13125550101", provider="telnyx", campaign_id="CAMP1"
    )
    broken = SenderNumber.objects.create(
        church=world.church,
        phone_number="+13125550102",
        provider="telnyx",
        status=SenderNumber.Status.NEEDS_ATTENTION,
        status_detail="Not on the messaging profile.",
        is_default=False,
    )
    NumberCheck.objects.create(church=world.church, sender=broken, outcome=NumberCheck.Outcome.OK)
    NumberCheck.objects.create(church=world.church, sender=broken, outcome=NumberCheck.Outcome.FAILED)
    brand = make_brand(world.church, status="OK")
    old = make_campaign(world.church, brand, campaign_status="MNO_PROVISIONED")
    TenDlcNumberAssignment.objects.create(
        church=world.church, campaign=old, sender_number=broken, phone_number=broken.phone_number, status="ASSIGNED"
    )
    current = make_campaign(world.church, brand, campaign_status="MNO_PROVISIONED")
    TenDlcNumberAssignment.objects.create(
        church=world.church, campaign=current, sender_number=linked, phone_number=linked.phone_number, status="ASSIGNED"
    )

    client = world.api_client(Role.VIEWER)
    body = client.get("/api/v1/numbers").json()
    assert set(body) == {"results", "next", "previous"}
    by_phone = {row["phone_number"]: row for row in body["results"]}
    assert [row["id"] for row in body["results"]] == [broken.pk, linked.pk]  # newest first
    assert by_phone[linked.phone_number] == {
        **by_phone[linked.phone_number],
        "status": "active",
        "is_default": True,
        "tendlc_registered": True,
        "tendlc_assignment_status": "ASSIGNED",
        "last_check_at": None,
        "last_check_outcome": None,
    }
    row = by_phone[broken.phone_number]
    assert row["status"] == "needs_attention" and row["problems"] == "Not on the messaging profile."
    assert row["last_check_outcome"] == "failed" and row["last_check_at"] is not None
    # Assigned to the earlier campaign only: not on the current one.
    assert row["tendlc_registered"] is False and row["tendlc_assignment_status"] is None

    detail = client.get(f"/api/v1/numbers/{broken.pk}")
    assert detail.status_code == 200 and detail.json() == row


def test_another_churchs_number_is_a_404_and_not_listed(world, other_world):
    theirs = SenderNumber.objects.create(church=other_world.church, phone_number="+13125550199", provider="telnyx")
    make_brand(other_world.church, status="OK")
    client = world.api_client(Role.ADMIN)
    assert_other_church_404(client, f"/api/v1/numbers/{theirs.pk}")
    assert client.get("/api/v1/numbers").json()["results"] == []
    body = client.get("/api/v1/tendlc").json()
    assert body["brand"] is None and body["state"]["key"] == "not_started"


def test_writes_are_not_offered_and_a_key_needs_numbers_read(world):
    number = SenderNumber.objects.create(church=world.church, phone_number="+13125550101", provider="telnyx")
    admin = world.api_client(Role.ADMIN)
    assert_error_shape(admin.post("/api/v1/numbers", {}, format="json"), 405, "method_not_allowed")
    assert_error_shape(admin.delete(f"/api/v1/numbers/{number.pk}"), 405, "method_not_allowed")
    assert_error_shape(admin.post("/api/v1/tendlc", {}, format="json"), 405, "method_not_allowed")
    # A viewer's write is refused by role before the method is looked at, as everywhere in the API.
    assert_error_shape(world.api_client(Role.VIEWER).post("/api/v1/numbers", {}, format="json"), 403)

    _, raw = church_services.api_key_create(
        church=world.church, acting_user=None, name="members only", role=Role.ADMIN, scopes=["members:read"]
    )
    admin.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    for url in ("/api/v1/numbers", f"/api/v1/numbers/{number.pk}", "/api/v1/tendlc"):
        error = assert_error_shape(admin.get(url), 403, "insufficient_scope")
        assert error["details"]["missing_scopes"] == ["numbers:read"]


def test_tendlc_before_anything_is_registered(world):
    SenderNumber.objects.create(church=world.church, phone_number="+13125550101", provider="telnyx")
    body = world.api_client(Role.VIEWER).get("/api/v1/tendlc").json()
    assert body["registered"] is False and body["brand"] is None and body["campaign"] is None
    assert body["state"] == {
        "key": "not_started",
        "label": "Not started",
        "detail": "Tell us about the church to begin.",
        "reasons": [],
        "next_step": "brand",
    }
    assert body["unregistered_numbers"] == ["+13125550101"] and body["assignments"] == []


def test_tendlc_shows_a_rejection_with_reasons_and_the_assignments_once_live(world):
    number = SenderNumber.objects.create(church=world.church, phone_number="+13125550101", provider="telnyx")
    brand = make_brand(world.church, status="OK", identity_status="VERIFIED")
    make_campaign(world.church, brand, campaign_status="MNO_REJECTED", failure_reasons=["Sample texts lack STOP."])
    client = world.api_client(Role.STAFF)
    body = client.get("/api/v1/tendlc").json()
    assert body["state"]["key"] == "rejected" and body["state"]["reasons"] == ["Sample texts lack STOP."]
    assert body["campaign"]["campaign_status"] == "MNO_REJECTED" and body["brand"]["status"] == "OK"
    assert "ein" not in body["brand"]  # the registration's private details stay on the page

    live = make_campaign(world.church, brand, campaign_status="MNO_PROVISIONED")
    TenDlcNumberAssignment.objects.create(
        church=world.church, campaign=live, sender_number=number, phone_number=number.phone_number, status="ASSIGNED"
    )
    SenderNumber.objects.filter(pk=number.pk).update(campaign_id="CAMP2")
    body = client.get("/api/v1/tendlc").json()
    assert body["registered"] is True and body["state"]["key"] == "approved" and body["campaign"]["id"] == live.pk
    assert body["assignments"] == [
        {**body["assignments"][0], "number_id": number.pk, "phone_number": number.phone_number, "status": "ASSIGNED"}
    ]
    assert body["unregistered_numbers"] == [] and body["throttled"] is False


def test_staff_sessions_read_them_too(world):
    SenderNumber.objects.create(church=world.church, phone_number="+13125550101", provider="telnyx")
    client = world.session_api_client(Role.VIEWER)
    assert len(client.get("/api/v1/numbers").json()["results"]) == 1
    assert client.get("/api/v1/tendlc").status_code == 200
