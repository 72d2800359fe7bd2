"""Support: conversations in Django admin (read-only; restricted threads neither listed nor openable),
and the console provider's "simulate an inbound text", which goes through the same ingest path as a
carrier's webhook and exists only while the SMS provider is the console."""

import pytest
from django.test import Client

from churches.models import AuditLog, SmsStatus
from conversations.models import Conversation, ConversationMessage
from messaging.models import SenderNumber
from tests.conversations.factories import ConversationFactory, ConversationMessageFactory
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def support(db):
    user = UserFactory(email="support@koinonia.test", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def number(world):
    return SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")


def test_conversations_are_read_only_and_restricted_threads_are_hidden(world, support):
    member = MemberFactory(church=world.church, first_name="Naomi")
    open_thread = ConversationFactory(church=world.church, member=member)
    ConversationMessageFactory(conversation=open_thread, body="Is the potluck still on?")
    secret = ConversationFactory(church=world.church, member=MemberFactory(church=world.church), restricted=True)
    ConversationMessageFactory(conversation=secret, body="Pastoral matter")
    listing = support.get("/admin/conversations/conversation/").content.decode()
    assert f"/admin/conversations/conversation/{open_thread.pk}/change/" in listing
    assert f"/admin/conversations/conversation/{secret.pk}/change/" not in listing
    page = support.get(f"/admin/conversations/conversation/{open_thread.pk}/change/")
    assert page.status_code == 200 and "Is the potluck still on?" in page.content.decode()
    assert 'name="_save"' not in page.content.decode()  # read-only: no save button
    restricted = support.get(f"/admin/conversations/conversation/{secret.pk}/change/", follow=True)
    assert "Pastoral matter" not in restricted.content.decode()
    assert support.post(f"/admin/conversations/conversation/{open_thread.pk}/delete/").status_code == 403
    assert Conversation.objects.filter(pk=open_thread.pk).exists()


def test_simulating_an_inbound_text_goes_through_the_real_ingest_path(
    world, support, number, settings, django_capture_on_commit_callbacks
):
    settings.SMS_PROVIDER = "console"
    member = MemberFactory(church=world.church, phone="+13125550123", sms_status=SmsStatus.SUBSCRIBED)
    url = f"/admin/messaging/sendernumber/{number.pk}/simulate-inbound/"
    assert support.get(url).status_code == 200
    # An ordinary text is stored by the webhook path and applied by the inbound batch after commit (eager here).
    with django_capture_on_commit_callbacks(execute=True):
        response = support.post(url, {"from_number": "(312) 555-0123", "text": "Can I bring a salad?"})
    assert response.status_code == 302
    conversation = Conversation.objects.get(church=world.church, member=member)
    assert conversation.unread_count == 1
    assert ConversationMessage.objects.filter(conversation=conversation, body="Can I bring a salad?").exists()
    # A STOP goes through consent handling like a carrier's.
    support.post(url, {"from_number": "+13125550123", "text": "STOP"})
    member.refresh_from_db()
    assert member.sms_status == SmsStatus.UNSUBSCRIBED
    assert AuditLog.objects.filter(church=world.church, action="support.inbound_simulated").count() == 2
    bad = support.post(url, {"from_number": "not a phone", "text": "x"})
    assert bad.status_code == 200 and "errorlist" in bad.content.decode()


def test_no_simulation_beside_a_real_carrier(world, support, number, settings):
    settings.SMS_PROVIDER = "telnyx"
    url = f"/admin/messaging/sendernumber/{number.pk}/simulate-inbound/"
    assert support.post(url, {"from_number": "+13125550123", "text": "Hi"}).status_code == 403
    assert not Conversation.objects.filter(church=world.church).exists()
    listing = support.get("/admin/messaging/sendernumber/").content.decode()
    assert "simulate_inbound_text" not in listing


def test_church_staff_without_admin_access_cannot_simulate(world, number, settings):
    settings.SMS_PROVIDER = "console"
    client = Client()
    client.force_login(world.owner)  # a church owner is not platform support
    response = client.post(f"/admin/messaging/sendernumber/{number.pk}/simulate-inbound/", {"text": "Hi"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not Conversation.objects.filter(church=world.church).exists()
