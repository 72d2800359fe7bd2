"""10DLC registration end to end: the wizard pages submit to the fake Telnyx registrar, the fake's signed
10dlc.* webhooks (recorded as they went over the wire) are posted to /hooks/telnyx/, polling covers lost
webhooks, and the church's numbers are linked once the campaign is live."""

import time

import pytest
from django.test import Client
from django.urls import reverse

from churches.models import AuditLog, Role
from messaging.broadcasts import ratelimit, services
from messaging.models import (
    Message,
    SenderNumber,
    TenDlcBrand,
    TenDlcCampaign,
    TenDlcEvent,
    TenDlcNumberAssignment,
)
from messaging.numbers import tasks
from messaging.providers.tendlc import (
    ConsoleRegistrar,
    TelnyxRegistrar,
    TenDlcError,
    link_number_to_campaign,
    number_campaign_assignment,
)
from tests.factories import MemberFactory
from tests.fakes.base import RecordingReceiver
from tests.fakes.telnyx import FakeTelnyx

pytestmark = pytest.mark.django_db

NUMBERS = ("+13125550100", "+13125550101")
BRAND = {
    "legal_name": "Grace Chapel of Springfield",
    "display_name": "Grace Chapel",
    "ein": "12-3456789",
    "entity_type": "NON_PROFIT",
    "vertical": "NGO",
    "street": "100 Main St",
    "city": "Springfield",
    "state": "IL",
    "postal_code": "62701",
    "website": "https://gracechapel.example.org",
    "contact_first_name": "Ruth",
    "contact_last_name": "Naomi",
    "contact_email": "office@gracechapel.example.org",
    "contact_phone": "+13125550100",
}
CAMPAIGN = {
    "usecase": "LOW_VOLUME",
    "description": "Grace Chapel texts members who asked for it: service times, events and prayer requests.",
    "sample_1": "Grace Chapel: Sunday service is at 10am. Reply STOP to opt out.",
    "sample_2": "Grace Chapel: Youth group meets Wednesday at 7pm. Reply STOP to opt out.",
    "sample_3": "",
    "message_flow": "Members tick a box on the connection card agreeing to texts, or text JOIN.",
    "optin_keywords": "START, join",
    "optin_message": "Grace Chapel: you're subscribed. Reply HELP for help, STOP to opt out.",
    "optout_keywords": "STOP,END",
    "optout_message": "Grace Chapel: you're unsubscribed. Reply START to rejoin.",
    "help_keywords": "HELP",
    "help_message": "Grace Chapel: church texts. Call 312-555-0100. Reply STOP to opt out.",
}


class Registry:
    """The fake registrar plus a stand-in for our webhook endpoint: the fake's signed webhooks land on
    the receiver over real HTTP and are then replayed, byte for byte, to /hooks/telnyx/."""

    def __init__(self, fake: FakeTelnyx, receiver: RecordingReceiver, capture):
        self.fake, self.receiver, self.capture = fake, receiver, capture
        self.delivered = 0
        self.hook_client = Client()

    def advance(self, steps: int = 1) -> None:
        for _ in range(steps):
            self.fake.advance_tendlc()
            self.deliver_webhooks()

    def complete(self) -> None:
        while self.fake.advance_tendlc():
            self.deliver_webhooks()
        self.deliver_webhooks()

    def deliver_webhooks(self) -> list:
        self.fake.wait_for_webhooks()
        new = self.receiver.received[self.delivered :]
        self.delivered = len(self.receiver.received)
        responses = []
        for request in new:
            headers = {k: v for k, v in request.headers.items() if k.startswith("telnyx-")}
            with self.capture(execute=True):
                response = self.hook_client.post(
                    "/hooks/telnyx/", data=request.body, content_type="application/json", headers=headers
                )
            assert response.status_code == 200, response.content
            responses.append(response)
        return responses


@pytest.fixture
def registry(settings, django_capture_on_commit_callbacks):
    settings.SMS_HTTP_TIMEOUT = (2.0, 2.0)
    with RecordingReceiver() as receiver, FakeTelnyx() as fake:
        fake.point_settings_at(settings)
        fake.tendlc_webhook_url = receiver.url("/hooks/telnyx/")
        yield Registry(fake, receiver, django_capture_on_commit_callbacks)


@pytest.fixture
def numbers(world):
    return [SenderNumber.objects.create(church=world.church, phone_number=n, provider="telnyx") for n in NUMBERS]


def post(client, name, data, capture, action="submit"):
    with capture(execute=True):
        return client.post(reverse(name), {**data, "action": action})


def submit_brand(world, capture, data=BRAND):
    response = post(world.page_client(Role.OWNER), "tendlc_brand", data, capture)
    assert response.status_code == 302, response.content.decode()[:3000]


def submit_campaign(world, capture, data=CAMPAIGN):
    response = post(world.page_client(Role.ADMIN), "tendlc_campaign", data, capture)
    assert response.status_code == 302, response.content.decode()[:3000]


def page(world, role=Role.OWNER):
    response = world.page_client(role).get(reverse("tendlc"))
    assert response.status_code == 200
    return response.content.decode()


# --- The whole flow ----------------------------------------------------------------------------------


@pytest.mark.parametrize("wrapped", [False, True], ids=["bare", "data-wrapped"])
def test_registration_through_approval_links_every_active_number(
    world, numbers, registry, settings, django_capture_on_commit_callbacks, wrapped
):
    capture = django_capture_on_commit_callbacks
    registry.fake.tendlc_wrapped = wrapped
    settings.SMS_RATE_UNREGISTERED_SENDER = 2
    SenderNumber.objects.create(church=world.church, phone_number="+13125550102", status="released", provider="telnyx")
    assert "Not started" in page(world)
    html = page(world)
    assert (
        "Sending is throttled until the registration is approved" in html and "at most 2 text segments a second" in html
    )

    submit_brand(world, capture)
    brand = TenDlcBrand.objects.get(church=world.church)
    assert brand.status == "REGISTRATION_PENDING" and brand.provider_brand_id in registry.fake.brands
    sent = registry.fake.brands[brand.provider_brand_id]
    assert sent["companyName"] == "Grace Chapel of Springfield" and sent["ein"] == "12-3456789"
    assert sent["entityType"] == "NON_PROFIT" and sent["website"] == "https://gracechapel.example.org"
    assert "Pending review" in page(world)

    registry.advance()  # 10dlc.brand.update → OK / VERIFIED
    brand.refresh_from_db()
    assert (brand.status, brand.identity_status) == ("OK", "VERIFIED")

    submit_campaign(world, capture)
    campaign = TenDlcCampaign.objects.get(church=world.church)
    assert campaign.campaign_status == "TCR_PENDING"
    body = registry.fake.campaigns[campaign.provider_campaign_id]
    assert body["brandId"] == brand.provider_brand_id and body["optinKeywords"] == "START,JOIN"
    assert body["sample1"].startswith("Grace Chapel: Sunday") and "sample3" not in body

    registry.advance(2)  # TCR_ACCEPTED, MNO_PENDING
    campaign.refresh_from_db()
    assert campaign.campaign_status == "MNO_PENDING"
    assert not SenderNumber.objects.exclude(campaign_id="").exists()

    registry.advance()  # MNO_PROVISIONED → our numbers are linked
    campaign.refresh_from_db()
    assert campaign.campaign_status == "MNO_PROVISIONED" and campaign.provisioned_at
    assert set(registry.fake.number_assignments) == set(NUMBERS)  # the released number is left alone
    assert set(SenderNumber.objects.filter(status="active").values_list("campaign_id", flat=True)) == {
        campaign.provider_campaign_id
    }
    assert set(TenDlcNumberAssignment.objects.values_list("status", flat=True)) == {"PENDING_ASSIGNMENT"}

    registry.advance()  # 10dlc.phone_number.update ASSIGNED confirms
    assert set(TenDlcNumberAssignment.objects.values_list("status", flat=True)) == {"ASSIGNED"}
    html = page(world)
    assert "Approved" in html and "throttled" not in html and "linked" in html
    assert AuditLog.objects.filter(church=world.church, action__startswith="tendlc.").count() == 2
    assert TenDlcEvent.objects.filter(church=world.church, source="webhook").count() == 6


def test_campaign_rejection_shows_reasons_and_resubmission_is_a_new_campaign(
    world, numbers, registry, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    registry.fake.reject_next_campaign(["Sample messages do not match the description.", "Opt-in is unclear."])
    submit_brand(world, capture)
    registry.advance()
    submit_campaign(world, capture)
    registry.complete()
    rejected = TenDlcCampaign.objects.get(church=world.church)
    assert rejected.campaign_status == "MNO_REJECTED"
    html = page(world)
    assert "Rejected" in html and "Sample messages do not match the description." in html and "Resubmit" in html
    assert not SenderNumber.objects.exclude(campaign_id="").exists()
    # The form starts from what was rejected.
    assert "Members tick a box on the connection card" in html

    fixed = {**CAMPAIGN, "sample_3": "Grace Chapel: Prayer meeting moved to 7pm. Reply STOP to opt out."}
    submit_campaign(world, capture, fixed)
    assert TenDlcCampaign.objects.filter(church=world.church).count() == 2
    resubmitted = TenDlcCampaign.objects.filter(church=world.church).latest("id")
    assert resubmitted.resubmission_of == rejected and resubmitted.provider_campaign_id != rejected.provider_campaign_id
    assert resubmitted.campaign_status == "TCR_PENDING"
    registry.complete()
    resubmitted.refresh_from_db()
    assert resubmitted.campaign_status == "MNO_PROVISIONED"
    assert set(TenDlcNumberAssignment.objects.filter(campaign=resubmitted).values_list("status", flat=True)) == {
        "ASSIGNED"
    }
    rejected.refresh_from_db()
    assert rejected.campaign_status == "MNO_REJECTED"  # history kept
    assert "Earlier submissions" in page(world)


def test_brand_rejection_then_corrected_resubmission_updates_the_same_brand(
    world, registry, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    registry.fake.reject_next_brand(["The legal name does not match the EIN."])
    submit_brand(world, capture)
    registry.advance()
    brand = TenDlcBrand.objects.get(church=world.church)
    assert brand.status == "REGISTRATION_FAILED"
    html = page(world)
    assert "The legal name does not match the EIN." in html and "Resubmit" in html

    submit_brand(world, capture, {**BRAND, "legal_name": "Grace Chapel Inc"})
    brand.refresh_from_db()
    assert brand.status == "REGISTRATION_PENDING" and brand.failure_reasons == []
    assert len(registry.fake.brands) == 1  # PUT to the same brand, not a second one
    assert registry.fake.brands[brand.provider_brand_id]["companyName"] == "Grace Chapel Inc"
    writes = [r.method for r in registry.fake.requests if "/10dlc/brand" in r.path and r.method != "GET"]
    assert writes == ["POST", "PUT"]
    registry.advance()
    brand.refresh_from_db()
    assert brand.status == "OK"


def test_campaign_submitted_early_goes_out_once_the_brand_is_approved(
    world, numbers, registry, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    submit_brand(world, capture)
    response = post(world.page_client(), "tendlc_campaign", CAMPAIGN, capture)
    assert response.status_code == 302
    campaign = TenDlcCampaign.objects.get(church=world.church)
    assert campaign.campaign_status == "" and campaign.submit_when_ready and not registry.fake.campaigns
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("as soon as the church's registration is approved" in m for m in messages)
    assert "will be submitted automatically" in page(world)

    registry.advance()  # brand OK → the campaign is submitted on its own
    campaign.refresh_from_db()
    assert campaign.campaign_status == "TCR_PENDING" and campaign.provider_campaign_id in registry.fake.campaigns
    assert not campaign.submit_when_ready
    registry.complete()
    assert set(TenDlcNumberAssignment.objects.values_list("status", flat=True)) == {"ASSIGNED"}


def test_early_campaign_refused_on_submission_shows_why(world, registry, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    submit_brand(world, capture)
    post(world.page_client(), "tendlc_campaign", CAMPAIGN, capture)
    registry.fake.invalid_next({"description": "The description must name the brand."})
    registry.advance()
    campaign = TenDlcCampaign.objects.get()
    assert campaign.campaign_status == "" and not campaign.submit_when_ready
    html = page(world)
    assert "Not accepted" in html and "description: The description must name the brand." in html
    submit_campaign(world, capture)  # corrected and submitted by hand
    campaign.refresh_from_db()
    assert campaign.campaign_status == "TCR_PENDING" and campaign.failure_reasons == []


def test_campaign_needs_the_brand_submitted_first(world, registry, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    post(world.page_client(), "tendlc_brand", BRAND, capture, action="save")
    response = post(world.page_client(), "tendlc_campaign", CAMPAIGN, capture)
    assert response.status_code == 302 and not registry.fake.requests
    assert any("Submit the church's details first" in str(m) for m in response.wsgi_request._messages)


# --- Webhooks and polling ------------------------------------------------------------------------------


def test_duplicate_webhooks_are_applied_once(world, numbers, registry, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    registry.fake.set_webhooks(duplicates=True)
    submit_brand(world, capture)
    registry.advance()
    submit_campaign(world, capture)
    registry.complete()
    webhook_events = TenDlcEvent.objects.filter(church=world.church, source="webhook")
    assert len(registry.receiver.received) == 2 * webhook_events.count()
    assert webhook_events.count() == 6  # brand 1 + campaign 3 + numbers 2, each counted once
    assert TenDlcCampaign.objects.get().campaign_status == "MNO_PROVISIONED"
    # A replay of an old event changes nothing either.
    first = registry.receiver.received[0]
    headers = {k: v for k, v in first.headers.items() if k.startswith("telnyx-")}
    Client().post("/hooks/telnyx/", data=first.body, content_type="application/json", headers=headers)
    assert TenDlcEvent.objects.filter(church=world.church, source="webhook").count() == 6


def test_unsigned_10dlc_webhook_is_refused(world, registry, django_capture_on_commit_callbacks):
    submit_brand(world, django_capture_on_commit_callbacks)
    registry.fake.set_webhooks(signature_mode="bad")
    registry.fake.advance_tendlc()
    registry.fake.wait_for_webhooks()
    request = registry.receiver.received[-1]
    headers = {k: v for k, v in request.headers.items() if k.startswith("telnyx-")}
    response = Client().post("/hooks/telnyx/", data=request.body, content_type="application/json", headers=headers)
    assert response.status_code == 403
    assert TenDlcBrand.objects.get().status == "REGISTRATION_PENDING"


def test_polling_catches_up_when_webhooks_are_lost(world, numbers, registry, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    registry.fake.drop_tendlc_webhooks = True
    submit_brand(world, capture)
    registry.fake.advance_tendlc()
    with capture(execute=True):
        assert tasks.poll_tendlc_registrations() == 1
    assert TenDlcBrand.objects.get().status == "OK"
    submit_campaign(world, capture)
    registry.fake.complete_tendlc()
    with capture(execute=True):
        tasks.poll_tendlc_registrations()  # the campaign is live → numbers linked (on commit)
    assert TenDlcCampaign.objects.get().campaign_status == "MNO_PROVISIONED"
    assert set(TenDlcNumberAssignment.objects.values_list("status", flat=True)) == {"PENDING_ASSIGNMENT"}
    registry.fake.complete_tendlc()
    with capture(execute=True):
        tasks.poll_tendlc_registrations()
    assert set(TenDlcNumberAssignment.objects.values_list("status", flat=True)) == {"ASSIGNED"}
    assert registry.receiver.received == []
    # Nothing pending: the poll asks nothing and changes nothing (idempotent).
    before = len(registry.fake.requests)
    assert tasks.poll_tendlc_registrations() == 0
    assert len(registry.fake.requests) == before
    assert TenDlcEvent.objects.filter(source="poll").count() == 4  # brand, campaign, two numbers


def test_numbers_are_linked_later_when_the_provider_was_down_or_the_number_is_new(
    world, numbers, registry, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    submit_brand(world, capture)
    registry.advance()
    submit_campaign(world, capture)
    registry.advance(2)
    registry.fake.fail_next(1, 503)  # the first link request, made as the campaign goes live
    registry.advance()
    assert len(registry.fake.number_assignments) == 1
    unlinked = SenderNumber.objects.get(campaign_id="")
    assert TenDlcNumberAssignment.objects.get(sender_number=unlinked).status == ""
    SenderNumber.objects.create(church=world.church, phone_number="+13125550109", provider="telnyx")
    with capture(execute=True):
        tasks.poll_tendlc_registrations()
    assert set(registry.fake.number_assignments) == {*NUMBERS, "+13125550109"}
    assert not SenderNumber.objects.filter(campaign_id="").exists()
    registry.complete()
    assert set(TenDlcNumberAssignment.objects.values_list("status", flat=True)) == {"ASSIGNED"}
    requests_before = len(registry.fake.requests)
    with capture(execute=True):
        tasks.poll_tendlc_registrations()  # all linked: nothing to ask
    assert len(registry.fake.requests) == requests_before


def test_a_stale_webhook_does_not_undo_a_newer_status(world, registry, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    submit_brand(world, capture)
    registry.advance()
    submit_campaign(world, capture)
    registry.fake.advance_tendlc()
    registry.fake.wait_for_webhooks()
    early = registry.receiver.received[-1]  # TCR_ACCEPTED, held back
    registry.delivered = len(registry.receiver.received)
    registry.advance(2)
    assert TenDlcCampaign.objects.get().campaign_status == "MNO_PROVISIONED"
    headers = {k: v for k, v in early.headers.items() if k.startswith("telnyx-")}
    Client().post("/hooks/telnyx/", data=early.body, content_type="application/json", headers=headers)
    assert TenDlcCampaign.objects.get().campaign_status == "MNO_PROVISIONED"


# --- Validation and provider errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"ein": ""}, "ein", "Enter the church&#x27;s EIN (9 digits, written XX-XXXXXXX)."),
        ({"ein": "12-34567"}, "ein", "An EIN has exactly 9 digits, written XX-XXXXXXX (e.g. 12-3456789); this has 7."),
        ({"ein": "AB-CDEFGHI"}, "ein", "An EIN has exactly 9 digits"),
        ({"website": "gracechapel"}, "website", "Enter the full web address, starting with https://"),
        ({"website": "ftp://gracechapel.org"}, "website", "Enter the full web address, starting with https://"),
        ({"website": ""}, "website", "Enter the church&#x27;s website"),
    ],
)
def test_brand_form_rejects_missing_or_malformed_ein_and_website(
    world, registry, django_capture_on_commit_callbacks, changes, field, message
):
    response = post(world.page_client(), "tendlc_brand", {**BRAND, **changes}, django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert response.context["brand_form"].errors[field]
    assert not TenDlcBrand.objects.exists() and not registry.fake.requests


def test_ein_without_dash_is_normalized(world, registry, django_capture_on_commit_callbacks):
    submit_brand(world, django_capture_on_commit_callbacks, {**BRAND, "ein": "123456789"})
    assert TenDlcBrand.objects.get().ein == "12-3456789"


def test_campaign_form_needs_two_samples_and_stop_wording(world, registry, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    submit_brand(world, capture)
    data = {**CAMPAIGN, "sample_2": "", "optout_keywords": "END", "optin_message": "You're in!"}
    response = post(world.page_client(), "tendlc_campaign", data, capture)
    assert response.status_code == 400
    errors = response.context["campaign_form"].errors
    assert errors["sample_2"] == ["Give at least two sample messages."]
    assert errors["optout_keywords"] == ["Opt-out keywords must include STOP."]
    assert "Reply STOP to opt out" in errors["optin_message"][0]


def test_provider_field_errors_show_next_to_the_field(world, registry, django_capture_on_commit_callbacks):
    """A 422 from the registrar (a well-formed EIN it cannot match) lands next to the EIN input."""
    registry.fake.invalid_next({"ein": "The EIN does not match the IRS record.", "somethingElse": "Odd."})
    response = post(world.page_client(), "tendlc_brand", BRAND, django_capture_on_commit_callbacks)
    assert response.status_code == 400
    form = response.context["brand_form"]
    assert form.errors["ein"] == ["The EIN does not match the IRS record."]
    assert "Telnyx refused the registration" in form.non_field_errors()[0]
    brand = TenDlcBrand.objects.get()  # the draft is kept, unsubmitted
    assert brand.status == "" and brand.provider_brand_id == ""

    submit_brand(world, django_capture_on_commit_callbacks)
    registry.advance()
    registry.fake.invalid_next({"sample1": "Sample 1 must mention the brand name."})
    response = post(world.page_client(), "tendlc_campaign", CAMPAIGN, django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert response.context["campaign_form"].errors["sample_1"] == ["Sample 1 must mention the brand name."]


def test_registrar_422_lists_missing_fields(registry):
    with pytest.raises(TenDlcError) as caught:
        TelnyxRegistrar().create_brand({"displayName": "Grace"})
    assert set(caught.value.field_errors) == {"entityType", "country", "email", "vertical"}
    assert "entityType is required." in caught.value.reason and not caught.value.transient


def test_registrar_errors_are_plain_english(registry, settings):
    registry.fake.fail_next(1, 503)
    with pytest.raises(TenDlcError) as caught:
        TelnyxRegistrar().get_brand("nope")
    assert caught.value.transient and "temporary problem" in caught.value.reason
    with pytest.raises(TenDlcError) as caught:
        TelnyxRegistrar().get_brand("nope")
    assert "no record" in caught.value.reason
    settings.TELNYX_API_KEY = "KEYwrong"
    with pytest.raises(TenDlcError) as caught:
        TelnyxRegistrar().get_brand("nope")
    assert "credentials" in caught.value.reason


@pytest.mark.parametrize("wrapped", [False, True])
def test_number_link_functions_for_the_recovery_job(registry, wrapped):
    fake = registry.fake
    fake.tendlc_wrapped = wrapped
    fake.campaigns["c1"] = {
        "campaignId": "c1",
        "brandId": "b1",
        "tcrCampaignId": "C1",
        "campaignStatus": "MNO_PROVISIONED",
    }
    record = link_number_to_campaign(phone_number="+13125550100", campaign_id="c1")
    assert record["assignmentStatus"] == "PENDING_ASSIGNMENT" and record["campaignId"] == "c1"
    fake.advance_tendlc()
    assert number_campaign_assignment(phone_number="+13125550100")["assignmentStatus"] == "ASSIGNED"
    post_request = next(r for r in fake.requests if r.path == "/v2/10dlc/phone_number_campaigns")
    assert post_request.json() == {"phoneNumber": "+13125550100", "campaignId": "c1"}
    assert post_request.headers["authorization"] == f"Bearer {fake.api_key}"


def test_campaign_update_is_a_put_to_the_campaign(registry):
    fake = registry.fake
    fake.campaigns["c1"] = {"campaignId": "c1", "campaignStatus": "TCR_PENDING", "description": "old"}
    assert TelnyxRegistrar().update_campaign("c1", {"description": "new"})["description"] == "new"
    assert fake.campaigns["c1"]["description"] == "new"


# --- Roles and tenancy -------------------------------------------------------------------------------


def test_lower_roles_see_the_status_read_only_and_cannot_submit(world, registry, django_capture_on_commit_callbacks):
    for role in (Role.STAFF, Role.VIEWER):
        html = page(world, role)
        assert "Status:" in html and "Only owners and admins can submit" in html
        assert 'value="submit"' not in html
        client = world.page_client(role)
        for name in ("tendlc_brand", "tendlc_campaign", "tendlc_refresh"):
            assert client.post(reverse(name), {**BRAND, "action": "submit"}).status_code == 403
    assert not TenDlcBrand.objects.exists() and not registry.fake.requests
    assert 'value="submit"' in page(world, Role.ADMIN)


def test_every_url_is_scoped_to_the_church(world, other_world, numbers, registry, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    registry.fake.reject_next_campaign(["Nope."])
    submit_brand(world, capture)
    registry.advance()
    submit_campaign(world, capture)
    registry.complete()
    campaign = TenDlcCampaign.objects.get(church=world.church)
    own = world.page_client().get(reverse("tendlc_campaign_detail", args=[campaign.pk]))
    assert own.status_code == 200 and "Nope." in own.content.decode()

    other = other_world.page_client(Role.OWNER)
    assert other.get(reverse("tendlc_campaign_detail", args=[campaign.pk])).status_code == 404
    assert other.get(reverse("tendlc_campaign_detail", args=[campaign.pk + 1000])).status_code == 404
    html = other.get(reverse("tendlc")).content.decode()
    assert "Not started" in html and "Nope." not in html and "Grace Chapel of Springfield" not in html
    # Posting from the other church touches only the other church.
    with capture(execute=True):
        other.post(reverse("tendlc_brand"), {**BRAND, "legal_name": "Hope Fellowship", "action": "save"})
        other.post(reverse("tendlc_campaign"), {**CAMPAIGN, "action": "save"})
        other.post(reverse("tendlc_refresh"))
    assert TenDlcBrand.objects.get(church=world.church).legal_name == "Grace Chapel of Springfield"
    assert TenDlcBrand.objects.get(church=other_world.church).status == ""
    assert TenDlcCampaign.objects.filter(church=world.church).count() == 1
    assert other.get(reverse("tendlc_brand")).status_code == 302


def test_page_prefills_church_suited_wording(world, registry, django_capture_on_commit_callbacks):
    html = page(world)
    assert world.church.name in html and 'value="NON_PROFIT" selected' in html
    submit_brand(world, django_capture_on_commit_callbacks)
    html = world.page_client().get(reverse("tendlc") + "?step=campaign").content.decode()
    assert f"{world.church.name}: Sunday service is at 10am" in html
    assert f"agreeing to receive texts from {world.church.name}" in html


def test_twilio_registration_is_handled_by_support(world, settings, django_capture_on_commit_callbacks):
    settings.SMS_PROVIDER = "twilio"
    assert "Registration for Twilio numbers is handled by support" in page(world)
    response = post(world.page_client(), "tendlc_brand", BRAND, django_capture_on_commit_callbacks)
    assert response.status_code == 302
    assert TenDlcBrand.objects.get().status == ""  # saved, never submitted
    assert any("handled by our support team" in str(m) for m in response.wsgi_request._messages)


# --- Console registrar (embedded default) ---------------------------------------------------------------


def test_console_registrar_approves_after_its_delay(world, settings, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    settings.SMS_PROVIDER = "console"
    settings.CONSOLE_TENDLC_APPROVAL_SECONDS = 60
    SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")
    submit_brand(world, capture)  # the follow-up poll runs at once (eager) and finds it still in review
    assert TenDlcBrand.objects.get().status == "REGISTRATION_PENDING"
    settings.CONSOLE_TENDLC_APPROVAL_SECONDS = 0  # the review time has passed
    with capture(execute=True):
        tasks.poll_tendlc_registrations()
    assert TenDlcBrand.objects.get().status == "OK"
    submit_campaign(world, capture)  # follow-up poll → MNO_PROVISIONED → numbers linked at once
    assert TenDlcCampaign.objects.get().campaign_status == "MNO_PROVISIONED"
    assert TenDlcNumberAssignment.objects.get().status == "ASSIGNED"
    assert SenderNumber.objects.get().campaign_id.startswith("console-campaign-")
    assert "Approved" in page(world)


def test_console_registrar_needs_no_network():
    registrar = ConsoleRegistrar()
    record = registrar.create_brand({})
    assert record["status"] in ("REGISTRATION_PENDING", "OK") and record["brandId"].startswith("console-brand-")


def test_admin_poll_action(world, registry, admin_client, django_capture_on_commit_callbacks):
    submit_brand(world, django_capture_on_commit_callbacks)
    registry.fake.drop_tendlc_webhooks = True
    registry.fake.advance_tendlc()
    brand = TenDlcBrand.objects.get()
    response = admin_client.post(
        reverse("admin:messaging_tendlcbrand_changelist"),
        {"action": "poll_provider_now", "_selected_action": [brand.pk]},
        follow=True,
    )
    assert response.status_code == 200 and "1 record(s) changed" in response.content.decode()
    brand.refresh_from_db()
    assert brand.status == "OK"
    for name in ("tendlcbrand", "tendlccampaign", "tendlcevent", "tendlcnumberassignment"):
        assert admin_client.get(reverse(f"admin:messaging_{name}_changelist")).status_code == 200


def test_support_links_a_refused_number_again(
    world, numbers, registry, admin_client, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    submit_brand(world, capture)
    registry.advance()
    submit_campaign(world, capture)
    registry.complete()
    refused = TenDlcNumberAssignment.objects.get(phone_number=NUMBERS[0])
    # The registry refused this link (say, the number was still on another campaign); support fixed that.
    TenDlcNumberAssignment.objects.filter(pk=refused.pk).update(
        status="FAILED_ASSIGNMENT", failure_reasons=["Number is assigned to another campaign"]
    )
    SenderNumber.objects.filter(phone_number=NUMBERS[0]).update(campaign_id="")
    del registry.fake.number_assignments[NUMBERS[0]]
    others = list(TenDlcNumberAssignment.objects.exclude(pk=refused.pk))
    with capture(execute=True):
        response = admin_client.post(
            reverse("admin:messaging_tendlcnumberassignment_changelist"),
            {"action": "link_again", "_selected_action": [a.pk for a in TenDlcNumberAssignment.objects.all()]},
            follow=True,
        )
    assert response.status_code == 200 and "link 1 number(s) again" in response.content.decode()
    refused.refresh_from_db()
    assert refused.status == "PENDING_ASSIGNMENT" and refused.failure_reasons == []
    assert registry.fake.number_assignments[NUMBERS[0]]["campaignId"] == refused.campaign.provider_campaign_id
    assert SenderNumber.objects.get(phone_number=NUMBERS[0]).campaign_id == refused.campaign.provider_campaign_id
    for other in others:  # links that weren't refused are left as they were
        assert TenDlcNumberAssignment.objects.get(pk=other.pk).status == other.status
    assert AuditLog.objects.filter(action="support.tendlc.number_relinked", target_id=str(refused.pk)).exists()


# --- Unregistered sending limit ------------------------------------------------------------------------


def test_unregistered_senders_draw_from_a_slow_bucket(settings):
    settings.SMS_RATE_LIMITS = {"account": 50, "sender": 50}
    settings.SMS_RATE_UNREGISTERED_SENDER = 1.5
    settings.SMS_RATE_PRIORITY_SHARE = 0
    limits = dict(ratelimit.sending_limits(provider="telnyx", sender_number="+1312", registered=False))
    assert limits == {"account:telnyx": 50.0, "sender-unregistered:+1312": 1.5}
    assert (
        dict(ratelimit.sending_limits(provider="twilio", sender_number="+1312", registered=False))[
            "sender-unregistered:+1312"
        ]
        == 1.5
    )
    assert dict(ratelimit.sending_limits(provider="telnyx", sender_number="+1312"))["sender:+1312"] == 50.0
    assert "sender:+1312" in dict(ratelimit.sending_limits(provider="console", sender_number="+1312", registered=False))
    settings.SMS_RATE_UNREGISTERED_SENDER = 0
    assert "sender:+1312" in dict(ratelimit.sending_limits(provider="telnyx", sender_number="+1312", registered=False))


def _broadcast_seconds(world, capture, count: int) -> float:
    started = time.monotonic()
    with capture(execute=True):
        message = services.message_send(church=world.church, author=world.owner, body="Hi", audience={"all": True})
    message.refresh_from_db()
    assert message.status == Message.Status.SENT and message.sent_count + message.delivered_count == count
    return time.monotonic() - started


def test_sending_is_throttled_until_the_campaign_is_live(
    world, registry, settings, django_capture_on_commit_callbacks, monkeypatch
):
    capture = django_capture_on_commit_callbacks
    # The limits each hand-off waited under: a live campaign's sender is no longer held to the unregistered
    # rate. (Asserted on the limiter's inputs, not on how long the second send took: a busy machine is slow.)
    held = []
    real_wait = ratelimit.wait_for_capacity

    def spy(**kwargs):
        held.append(
            any(
                rate == 4.0
                for _, rate in ratelimit.sending_limits(
                    **{k: kwargs[k] for k in ("provider", "sender_number", "registered") if k in kwargs}
                )
            )
        )
        return real_wait(**kwargs)

    monkeypatch.setattr(ratelimit, "wait_for_capacity", spy)
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"  # status callbacks go nowhere
    settings.SMS_RATE_UNREGISTERED_SENDER = 4.0
    # The whole rate for broadcasts, so the unregistered sender's bucket is exactly the configured 4/s.
    settings.SMS_RATE_PRIORITY_SHARE = 0
    world.church.quiet_hours_start = world.church.quiet_hours_end
    world.church.save()
    suffix = f"{int(time.time() * 1000) % 10000:04d}"
    SenderNumber.objects.create(church=world.church, phone_number=f"+1312666{suffix}", provider="telnyx")
    MemberFactory.create_batch(8, church=world.church)
    # Burst of 4, then 4 per second: 8 single-segment texts take about a second.
    assert _broadcast_seconds(world, capture, 8) >= 0.8
    submit_brand(world, capture)
    registry.advance()
    submit_campaign(world, capture)
    registry.complete()
    assert SenderNumber.objects.get().campaign_id
    assert held and all(held)  # before: every text waited under the unregistered sender's rate
    held.clear()
    _broadcast_seconds(world, capture, 8)
    assert len(held) == 8 and not any(held)


def test_page_queries_do_not_grow_with_history(world, numbers, registry, django_capture_on_commit_callbacks):
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    capture = django_capture_on_commit_callbacks
    client = world.page_client()

    def queries(url):
        cache.clear()  # the navigation's unread badge is cached for a few seconds: count it every time
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    submit_brand(world, capture)
    registry.advance()
    registry.fake.reject_next_campaign(["No."])
    submit_campaign(world, capture)
    registry.complete()
    small = queries(reverse("tendlc"))
    campaign = TenDlcCampaign.objects.get()
    detail = queries(reverse("tendlc_campaign_detail", args=[campaign.pk]))
    for _ in range(3):  # more resubmissions, rejections, events and numbers
        registry.fake.reject_next_campaign(["Still no."])
        submit_campaign(world, capture)
        registry.complete()
    assert TenDlcEvent.objects.count() > 15
    assert queries(reverse("tendlc")) == small <= 14
    assert queries(reverse("tendlc_campaign_detail", args=[campaign.pk])) == detail <= 10


@pytest.mark.django_db(transaction=True)
def test_live_webhooks_from_the_fake_drive_the_registration(postgres_only, world, numbers, settings, live_server):
    """The fake posts its signed 10dlc.* webhooks straight to our running server (no replay)."""
    from tests.messaging.support import wait_until

    settings.SMS_HTTP_TIMEOUT = (2.0, 5.0)
    with FakeTelnyx() as fake:
        fake.point_settings_at(settings)
        fake.tendlc_webhook_url = f"{live_server.url}/hooks/telnyx/"
        fake.tendlc_wrapped = True
        owner = world.page_client()
        assert owner.post(reverse("tendlc_brand"), {**BRAND, "action": "submit"}).status_code == 302
        fake.advance_tendlc()
        wait_until(lambda: TenDlcBrand.objects.get().status == "OK", timeout=10, what="brand webhook")
        assert owner.post(reverse("tendlc_campaign"), {**CAMPAIGN, "action": "submit"}).status_code == 302

        def all_assigned():
            fake.advance_tendlc()
            statuses = set(TenDlcNumberAssignment.objects.values_list("status", flat=True))
            return len(fake.number_assignments) == 2 and statuses == {"ASSIGNED"}

        wait_until(all_assigned, timeout=15, what="campaign and number webhooks")
        fake.wait_for_webhooks()
    assert TenDlcCampaign.objects.get().campaign_status == "MNO_PROVISIONED"
    assert set(SenderNumber.objects.values_list("campaign_id", flat=True)) == {
        TenDlcCampaign.objects.get().provider_campaign_id
    }
    assert not [d for d in fake.webhook_deliveries if d.status != 200]


def test_wizard_saves_drafts_of_both_steps_without_submitting(world, registry, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    response = post(world.page_client(), "tendlc_brand", BRAND, capture, action="save")
    assert response.status_code == 302 and response.url.endswith("?step=campaign")
    html = world.page_client().get(response.url).content.decode()
    assert "Step 2 · The texting campaign" in html and "Draft" in html
    assert post(world.page_client(), "tendlc_campaign", CAMPAIGN, capture, action="save").status_code == 302
    campaign = TenDlcCampaign.objects.get()
    assert campaign.sample_messages == [CAMPAIGN["sample_1"], CAMPAIGN["sample_2"]]
    assert campaign.optin_keywords == "START,JOIN"
    assert TenDlcBrand.objects.get().status == "" and not registry.fake.requests
    # Editing the draft updates the same row.
    post(world.page_client(), "tendlc_campaign", {**CAMPAIGN, "usecase": "MIXED"}, capture, action="save")
    assert TenDlcCampaign.objects.get().usecase == "MIXED"
