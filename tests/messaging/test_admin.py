"""Support admin for messaging: sender numbers assigned to churches, read-only broadcasts with audited
cancel / resend actions, recipients (phones never listed) and provider events."""

from datetime import time, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from churches.models import AuditLog
from messaging.broadcasts import services
from messaging.models import Message, ProviderEvent, Recipient, SenderNumber
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def support(db):
    user = UserFactory(email="support@koinonia.test", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def sender(world):
    return SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")


def number_form(church, phone, **extra):
    return {
        "church": church.pk,
        "phone_number": phone,
        "provider": "telnyx",
        "status": "active",
        "status_detail": "",
        "is_default": "on",
        "provider_number_id": "",
        "messaging_profile_id": "",
        "campaign_id": "C123",
        **extra,
    }


def test_support_assigns_a_number_to_a_church(world, other_world, support):
    response = support.post("/admin/messaging/sendernumber/add/", number_form(world.church, "(312) 555-0188"))
    assert response.status_code == 302, response.content.decode()[:3000]
    number = SenderNumber.objects.get()
    assert (number.church, number.phone_number, number.provider, number.campaign_id) == (
        world.church,
        "+13125550188",
        "telnyx",
        "C123",
    )
    assert AuditLog.objects.filter(church=world.church, action="sender_number.added", actor=support.user).exists()

    taken = support.post("/admin/messaging/sendernumber/add/", number_form(other_world.church, "+1 312 555 0188"))
    assert taken.status_code == 200 and "already exists" in taken.content.decode()
    bad = support.post("/admin/messaging/sendernumber/add/", number_form(world.church, "12"))
    assert bad.status_code == 200 and "errorlist" in bad.content.decode()
    assert SenderNumber.objects.count() == 1

    changed = support.post(
        f"/admin/messaging/sendernumber/{number.pk}/change/",
        number_form(world.church, "+13125550188", status="needs_attention", status_detail="Campaign unlinked"),
    )
    assert changed.status_code == 302
    number.refresh_from_db()
    assert number.status == "needs_attention"
    assert AuditLog.objects.filter(action="support.sender_number.changed", data__fields=["status", "status_detail"])

    listing = support.get("/admin/messaging/sendernumber/?q=grace&status__exact=needs_attention")
    assert listing.status_code == 200 and "+13125550188" in listing.content.decode()


def test_messages_are_read_only_with_audited_cancel_and_resend(
    world, sender, support, settings, django_capture_on_commit_callbacks
):
    MemberFactory.create_batch(2, church=world.church)
    world.church.quiet_hours_start = world.church.quiet_hours_end = time(0, 0)
    world.church.save(update_fields=["quiet_hours_start", "quiet_hours_end"])
    settings.CONSOLE_SMS_FAILURE_RATE = 1.0
    with django_capture_on_commit_callbacks(execute=True):
        failed = services.message_send(church=world.church, author=None, body="Failing", audience={"all": True})
    settings.CONSOLE_SMS_FAILURE_RATE = 0.0
    assert Message.objects.get(pk=failed.pk).failed_count == 2
    assert support.get("/admin/messaging/message/").status_code == 200
    assert (
        f"/admin/messaging/message/{failed.pk}/change/"
        in support.get(f"/admin/messaging/message/?q={failed.pk}").content.decode()
    )
    assert support.get("/admin/messaging/message/?q=grace").status_code == 200
    detail = support.get(f"/admin/messaging/message/{failed.pk}/change/").content.decode()
    assert f"?message__id__exact={failed.pk}" in detail
    assert support.get("/admin/messaging/message/add/").status_code == 403

    with django_capture_on_commit_callbacks(execute=True):
        response = support.post(
            "/admin/messaging/message/",
            {"action": "resend_to_failed", "_selected_action": [failed.pk]},
            follow=True,
        )
    assert response.status_code == 200
    resent = Message.objects.get(resend_of=failed)
    assert AuditLog.objects.filter(
        action="support.message.resend", target_id=str(failed.pk), data__resend_message_id=resent.pk
    ).exists()

    scheduled = services.message_send(
        church=world.church,
        author=None,
        body="Later",
        audience={"all": True},
        scheduled_at=timezone.now() + timedelta(days=1),
    )
    response = support.post(
        "/admin/messaging/message/",
        {"action": "cancel_messages", "_selected_action": [scheduled.pk, failed.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert f"Canceled message(s) {scheduled.pk}" in page and "already" in page
    assert Message.objects.get(pk=scheduled.pk).status == "canceled"
    assert AuditLog.objects.filter(action="support.message.cancel", target_id=str(scheduled.pk)).exists()
    assert AuditLog.objects.filter(action="message.canceled", actor=support.user).count() == 1


def test_recipients_and_events_are_read_only_and_never_list_phones(world, sender, support):
    member = MemberFactory(church=world.church)
    message = services.message_send(church=world.church, author=None, body="Hi", audience={"all": True})
    services.message_prepare(message_id=message.pk)
    recipient = Recipient.objects.get(message=message)
    Recipient.objects.filter(pk=recipient.pk).update(provider_message_id="prov-123")
    listing = support.get(f"/admin/messaging/recipient/?message__id__exact={message.pk}")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert f"/admin/messaging/message/{message.pk}/change/" in page and member.phone not in page
    found = support.get("/admin/messaging/recipient/?q=prov-123").content.decode()
    assert f"/admin/messaging/recipient/{recipient.pk}/change/" in found
    assert support.get("/admin/messaging/recipient/?q=not-a-number").status_code == 200
    detail = support.get(f"/admin/messaging/recipient/{recipient.pk}/change/").content.decode()
    assert member.phone not in detail and f"•••{member.phone[-4:]}" in detail
    assert support.get("/admin/messaging/recipient/add/").status_code == 403
    assert support.post(f"/admin/messaging/recipient/{recipient.pk}/delete/").status_code == 403

    event = ProviderEvent.objects.create(
        provider="telnyx", event_id="evt-1", event_type="message.finalized", payload={"data": {"id": "x"}}
    )
    assert "evt-1" in support.get("/admin/messaging/providerevent/?q=evt-1&outcome__exact=pending").content.decode()
    assert "message.finalized" in support.get(f"/admin/messaging/providerevent/{event.pk}/change/").content.decode()
    assert support.get("/admin/messaging/providerevent/add/").status_code == 403


def test_church_staff_cannot_use_the_admin(world):
    client = world.page_client()
    assert client.get("/admin/messaging/message/").status_code == 302
