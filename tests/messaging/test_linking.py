"""Phone-linking recovery against the fakes: a number taken off our profile is put back, a drifted webhook
is pointed back at us, a released number is flagged and its owner emailed once (and again only if the
problem comes back after being fixed); every check is recorded; one bad number doesn't stop the rest."""

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from churches.models import AuditLog
from messaging.models import NumberCheck, SenderNumber
from messaging.numbers import linking, tasks
from messaging.providers.console import console_release_number
from tests.factories import UserFactory
from tests.fakes.base import RecordingReceiver
from tests.fakes.numbers import DRIFTED_WEBHOOK_URL
from tests.fakes.telnyx import TEST_PROFILE_ID

pytestmark = pytest.mark.django_db

PUBLIC = "https://app.example.test"
TELNYX_HOOK = f"{PUBLIC}/hooks/telnyx/"
TWILIO_INBOUND = f"{PUBLIC}/hooks/twilio/inbound/"
NUMBER = "+13125550142"


@pytest.fixture(autouse=True)
def public_url(settings):
    settings.PUBLIC_BASE_URL = PUBLIC


@pytest.fixture
def telnyx_number(world, telnyx):
    telnyx.set_profile_webhook(TELNYX_HOOK)
    bought = telnyx.add_number(NUMBER)
    return SenderNumber.objects.create(
        church=world.church,
        phone_number=NUMBER,
        provider="telnyx",
        provider_number_id=bought.id,
        messaging_profile_id=TEST_PROFILE_ID,
    )


@pytest.fixture
def twilio_number(world, twilio):
    bought = twilio.add_number(NUMBER, sms_url=TWILIO_INBOUND)
    return SenderNumber.objects.create(
        church=world.church, phone_number=NUMBER, provider="twilio", provider_number_id=bought.id
    )


def run_check(number, **kwargs):
    check = linking.sender_number_check(sender_id=number.pk, **kwargs)
    number.refresh_from_db()
    return check


def test_healthy_telnyx_number_is_recorded_ok(telnyx_number):
    check = run_check(telnyx_number)
    assert check.outcome == NumberCheck.Outcome.OK
    assert check.problems == [] and check.repairs == [] and check.church_id == telnyx_number.church_id
    assert telnyx_number.status == SenderNumber.Status.ACTIVE and telnyx_number.last_verified_at is not None


def test_unassigned_profile_is_reassigned(telnyx, telnyx_number):
    telnyx.unassign_profile(NUMBER)
    check = run_check(telnyx_number)
    assert check.outcome == NumberCheck.Outcome.REPAIRED
    assert "isn't on any messaging profile" in check.problems[0]
    assert "back on our Telnyx messaging profile" in check.repairs[0]
    assert telnyx.number(NUMBER).messaging_profile_id == TEST_PROFILE_ID
    patch = next(r for r in telnyx.requests if r.method == "PATCH")
    assert patch.path == f"/v2/phone_numbers/{telnyx_number.provider_number_id}/messaging"
    assert patch.json() == {"messaging_profile_id": TEST_PROFILE_ID}
    assert telnyx_number.status == SenderNumber.Status.ACTIVE
    assert AuditLog.objects.filter(action="sender_number.checked", target_id=str(telnyx_number.pk)).exists()


def test_drifted_telnyx_webhook_is_fixed_on_the_profile(telnyx, telnyx_number):
    telnyx.drift_webhook(NUMBER)
    check = run_check(telnyx_number)
    assert check.outcome == NumberCheck.Outcome.REPAIRED
    assert DRIFTED_WEBHOOK_URL in check.problems[0]
    assert telnyx.profiles[TEST_PROFILE_ID]["webhook_url"] == TELNYX_HOOK
    assert any(r.method == "PATCH" and r.path == f"/v2/messaging_profiles/{TEST_PROFILE_ID}" for r in telnyx.requests)


def test_drifted_twilio_webhook_is_fixed_on_the_number(twilio, twilio_number):
    twilio.drift_webhook(NUMBER)
    check = run_check(twilio_number)
    assert check.outcome == NumberCheck.Outcome.REPAIRED
    assert twilio.number(NUMBER).sms_url == TWILIO_INBOUND
    assert twilio.number(NUMBER).status_callback == f"{PUBLIC}/hooks/twilio/status/"


def test_released_number_is_flagged_and_owner_emailed_once(
    world, telnyx, telnyx_number, django_capture_on_commit_callbacks
):
    telnyx.release_number(NUMBER)
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            tasks.check_sender_numbers()
    telnyx_number.refresh_from_db()
    assert telnyx_number.status == SenderNumber.Status.NEEDS_ATTENTION
    assert "no longer on our Telnyx account" in telnyx_number.status_detail
    assert len(mail.outbox) == 1
    assert world.owner.email in mail.outbox[0].to and NUMBER in mail.outbox[0].subject
    assert "no longer on our Telnyx account" in mail.outbox[0].body
    checks = list(NumberCheck.objects.filter(sender=telnyx_number))
    assert [c.outcome for c in checks] == ["failed", "failed"]
    assert "no longer on our Telnyx account" in checks[0].error

    # Support restores it: healthy again, and the alert is re-armed...
    telnyx.add_number(NUMBER)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.check_sender_numbers()
    telnyx_number.refresh_from_db()
    assert telnyx_number.status == SenderNumber.Status.ACTIVE and telnyx_number.status_detail == ""
    # ...so when it is released again the owner hears about it again.
    telnyx.release_number(NUMBER)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.check_sender_numbers()
    assert len(mail.outbox) == 2


def test_provider_outage_records_a_failed_check_but_leaves_the_number_alone(telnyx, telnyx_number):
    telnyx.fail_next(1, 503)
    check = run_check(telnyx_number)
    assert check.outcome == NumberCheck.Outcome.FAILED and "temporary problem" in check.error
    assert telnyx_number.status == SenderNumber.Status.ACTIVE
    assert telnyx_number.alerted_problems == "" and mail.outbox == []


def test_one_broken_number_does_not_stop_the_others(world, telnyx_number):
    broken = SenderNumber.objects.create(church=world.church, phone_number="+13125550199", provider="nonexistent")
    stats = tasks.check_sender_numbers()
    assert stats == {"checked": 1, "failed": 0, "errors": 1, "pruned": 0}
    assert NumberCheck.objects.filter(sender=telnyx_number).count() == 1
    assert not NumberCheck.objects.filter(sender=broken).exists()


def test_released_and_fresh_pending_numbers_are_not_swept(world):
    SenderNumber.objects.create(church=world.church, phone_number="+13125550101", status="released")
    SenderNumber.objects.create(church=world.church, phone_number="+13125550102", status="pending")
    assert linking.sender_numbers_due() == []


def test_console_number_released_and_restored(world, django_capture_on_commit_callbacks):
    number = SenderNumber.objects.create(church=world.church, phone_number="+12125550100", provider="console")
    console_release_number(number.phone_number)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert run_check(number).outcome == NumberCheck.Outcome.FAILED
        assert number.status == SenderNumber.Status.NEEDS_ATTENTION and len(mail.outbox) == 1
    finally:
        console_release_number(number.phone_number, released=False)
    assert run_check(number).outcome == NumberCheck.Outcome.OK
    assert number.status == SenderNumber.Status.ACTIVE


def test_overlapping_runs_are_skipped(telnyx_number):
    from django.core.cache import cache

    cache.add("messaging:check_sender_numbers", "1", 60)
    assert tasks.check_sender_numbers() == {"skipped": "already running"}


# --- Admin -------------------------------------------------------------------------------------------


@pytest.fixture
def support(db):
    client = Client()
    client.force_login(UserFactory(email="support@koinonia.test", is_staff=True, is_superuser=True))
    return client


def test_admin_action_runs_recovery_and_shows_checks(support, telnyx, telnyx_number):
    telnyx.unassign_profile(NUMBER)
    response = support.post(
        "/admin/messaging/sendernumber/",
        {"action": "run_linking_recovery", "_selected_action": [telnyx_number.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "1 repaired" in response.content.decode()
    check = NumberCheck.objects.get(sender=telnyx_number)
    assert check.outcome == "repaired" and check.triggered_by.email == "support@koinonia.test"
    page = support.get(f"/admin/messaging/sendernumber/{telnyx_number.pk}/change/").content.decode()
    assert "back on our Telnyx messaging profile" in page
    assert support.get("/admin/messaging/numbercheck/").status_code == 200
    assert support.get(f"/admin/messaging/numbercheck/{check.pk}/change/").status_code == 200


def test_admin_searches_and_orders_a_number_for_a_church(support, world):
    url = "/admin/messaging/sendernumber/provision/"
    assert support.get(url).status_code == 200
    searched = support.post(url, {"church": world.church.pk, "area_code": "312"})
    assert "+13125550100" in searched.content.decode()
    bad = support.post(url, {"church": world.church.pk, "area_code": "911"})
    assert "isn&#x27;t a US or Canadian area code" in bad.content.decode()
    ordered = support.post(url, {"church": world.church.pk, "area_code": "312", "phone_number": "+13125550100"})
    assert ordered.status_code == 302
    number = SenderNumber.objects.get(phone_number="+13125550100")
    assert number.church == world.church and number.status == SenderNumber.Status.ACTIVE
    assert AuditLog.objects.filter(action="sender_number.ordered", target_id=str(number.pk)).exists()


@pytest.mark.parametrize("outcome", ["success", "failure"])
def test_overdue_pending_order_is_settled_by_the_check(world, telnyx, outcome, django_capture_on_commit_callbacks):
    """The number_order.complete webhook never reached us: the periodic check asks for the order."""
    from messaging.numbers import ordering as numbers

    telnyx.order_outcome = outcome
    with RecordingReceiver() as lost:  # the webhook goes somewhere that isn't us
        telnyx.number_order_webhook_url = lost.url("/")
        number = numbers.number_order(church=world.church, phone_number=NUMBER)
        lost.wait_for(1)
    telnyx.set_profile_webhook(TELNYX_HOOK)
    SenderNumber.objects.filter(pk=number.pk).update(created_at=timezone.now() - linking.PENDING_GRACE * 2)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.check_sender_numbers()
    number.refresh_from_db()
    check = NumberCheck.objects.get(sender=number)
    if outcome == "success":
        assert number.status == SenderNumber.Status.ACTIVE and check.outcome == "ok"
        assert mail.outbox == []
    else:
        assert number.status == SenderNumber.Status.NEEDS_ATTENTION and check.outcome == "failed"
        assert "could not complete the purchase" in number.status_detail
        assert len(mail.outbox) == 1


def test_old_checks_are_pruned(telnyx_number):
    old = run_check(telnyx_number)
    NumberCheck.objects.filter(pk=old.pk).update(checked_at=timezone.now() - linking.CHECK_RETENTION * 2)
    assert tasks.check_sender_numbers()["pruned"] == 1
    assert NumberCheck.objects.filter(sender=telnyx_number).count() == 1


# --- Linked to its 10DLC campaign ------------------------------------------------------------------


@pytest.fixture
def live_campaign(telnyx, telnyx_number):
    telnyx.campaigns["cmp-live"] = {
        "campaignId": "cmp-live",
        "brandId": "brand-1",
        "tcrCampaignId": "CLIVE01",
        "campaignStatus": "MNO_PROVISIONED",
    }
    telnyx_number.campaign_id = "cmp-live"
    telnyx_number.save(update_fields=["campaign_id"])
    return "cmp-live"


def test_a_number_that_lost_its_10dlc_link_is_linked_again(telnyx, telnyx_number, live_campaign):
    check = run_check(telnyx_number)
    assert check.outcome == NumberCheck.Outcome.REPAIRED
    assert "isn't linked to any 10DLC campaign" in check.problems[0]
    assert "back to its 10DLC campaign" in check.repairs[0]
    link = next(r for r in telnyx.requests if r.method == "POST" and r.path == "/v2/10dlc/phone_number_campaigns")
    assert link.json() == {"phoneNumber": NUMBER, "campaignId": live_campaign}
    assert telnyx_number.status == SenderNumber.Status.ACTIVE

    # The link is now pending at the registry, which counts as linked: the next check asks nothing more.
    assert run_check(telnyx_number).outcome == NumberCheck.Outcome.OK


def test_a_number_moved_to_another_campaign_is_put_back(telnyx, telnyx_number, live_campaign):
    telnyx.number_assignments[NUMBER] = {
        "phoneNumber": NUMBER,
        "campaignId": "cmp-other",
        "assignmentStatus": "ASSIGNED",
    }
    check = run_check(telnyx_number)
    assert check.outcome == NumberCheck.Outcome.REPAIRED and "another 10DLC campaign" in check.problems[0]
    assert telnyx.number_assignments[NUMBER]["campaignId"] == live_campaign


def test_a_linked_number_and_an_unregistered_one_need_nothing(telnyx, telnyx_number, live_campaign):
    telnyx.number_assignments[NUMBER] = {
        "phoneNumber": NUMBER,
        "campaignId": live_campaign,
        "assignmentStatus": "ASSIGNED",
    }
    assert run_check(telnyx_number).outcome == NumberCheck.Outcome.OK
    telnyx_number.campaign_id = ""
    telnyx_number.save(update_fields=["campaign_id"])
    before = len(telnyx.requests)
    assert run_check(telnyx_number).outcome == NumberCheck.Outcome.OK
    assert not any(r.path.startswith("/v2/10dlc/") for r in telnyx.requests[before:])


def test_a_registry_outage_is_recorded_without_touching_the_number(monkeypatch, telnyx_number, live_campaign):
    from messaging.providers.tendlc import TenDlcError

    def unreachable(**kwargs):
        raise TenDlcError("Telnyx had a temporary problem (HTTP 503); we will try again.", transient=True, status=503)

    monkeypatch.setattr(linking, "number_campaign_assignment", unreachable)
    check = run_check(telnyx_number)
    assert check.outcome == NumberCheck.Outcome.FAILED and "HTTP 503" in check.error
    assert telnyx_number.status == SenderNumber.Status.ACTIVE and not mail.outbox


def test_twilio_numbers_skip_the_10dlc_check(twilio, twilio_number):
    twilio_number.campaign_id = "CM-registered-by-support"
    twilio_number.save(update_fields=["campaign_id"])
    assert run_check(twilio_number).outcome == NumberCheck.Outcome.OK
