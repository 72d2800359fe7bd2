"""Inbound texts through the real webhooks, signed by the provider fakes: threading, pictures, unknown
senders, duplicates, bad signatures and malformed payloads."""

import json

from django.core.files.storage import default_storage
from django.urls import reverse

from churches.models import Member, SmsStatus
from conversations.models import Conversation, ConversationMessage, InboxSettings
from messaging.models import ProviderEvent
from tests.conversations.conftest import JPEG, PNG, TWILIO_HOOK
from tests.factories import MemberFactory

STRANGER = "+13125550123"


def thread_of(member) -> Conversation:
    return Conversation.objects.get(church=member.church, member=member)


def test_telnyx_texts_from_a_member_thread_into_one_conversation(hooks, member, world):
    first, _ = hooks.telnyx_text(member.phone, "See you Sunday!")
    second, _ = hooks.telnyx_text(member.phone, "Can I bring my neighbour?")

    assert first.status_code == 200 and second.status_code == 200
    conversation = thread_of(member)
    texts = list(conversation.messages.values_list("direction", "body"))
    assert texts == [("inbound", "See you Sunday!"), ("inbound", "Can I bring my neighbour?")]
    assert conversation.unread_count == 2
    assert conversation.last_message_preview == "Can I bring my neighbour?"
    assert conversation.status == Conversation.Status.OPEN
    assert Conversation.objects.filter(church=world.church).count() == 1


def test_twilio_inbound_threads_too(twilio_hooks, member):
    response = twilio_hooks.twilio_text(member.phone, "Praying for you")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    twilio_hooks.twilio_text(member.phone, "Amen")
    assert list(thread_of(member).messages.values_list("body", flat=True)) == ["Praying for you", "Amen"]


def test_a_closed_conversation_reopens_on_a_new_text(hooks, member):
    hooks.telnyx_text(member.phone, "hello")
    Conversation.objects.filter(member=member).update(status=Conversation.Status.ARCHIVED)
    hooks.telnyx_text(member.phone, "hello again")
    assert thread_of(member).status == Conversation.Status.OPEN


def test_telnyx_mms_pictures_are_downloaded_and_kept_in_storage(hooks, member, world, media_server):
    url = media_server.add("/1.jpg", JPEG, "image/jpeg")
    hooks.telnyx_text(member.phone, "Look at the new banner", media=[(url, "image/jpeg")])

    message = thread_of(member).messages.get()
    item = message.media[0]
    assert item["path"].startswith(f"conversations/{world.church.pk}/in/")
    assert item["source_url"] == url and item["content_type"] == "image/jpeg" and item["size"] == len(JPEG)
    with default_storage.open(item["path"], "rb") as stored:
        assert stored.read() == JPEG
    # Staff see it through our own authenticated URL, never the provider's link.
    page = world.page_client().get(reverse("conversation_detail", args=[message.conversation_id]))
    media_url = reverse("conversation_media", args=[message.conversation_id, message.pk, 0])
    assert media_url.encode() in page.content and url.encode() not in page.content
    picture = world.page_client().get(media_url)
    assert picture.status_code == 200 and b"".join(picture.streaming_content) == JPEG
    assert picture["Content-Type"] == "image/jpeg"


def test_twilio_mms_media_is_fetched_with_basic_auth(twilio_hooks, member, twilio_media_server):
    url = twilio_media_server.add("/2010-04-01/Accounts/AC/Messages/MM1/Media/ME1", PNG, "image/png")
    twilio_hooks.twilio_text(member.phone, "", media=[(url, "image/png")])
    message = thread_of(member).messages.get()
    assert message.media[0]["path"] and message.media[0]["error"] == ""
    assert thread_of(member).last_message_preview == "📷 Picture"


def test_a_picture_that_cannot_be_fetched_is_noted_not_fatal(hooks, member, media_server):
    missing = media_server.add("/other", b"x", "image/png").replace("/other", "/missing.png")
    response, _ = hooks.telnyx_text(member.phone, "pic", media=[(missing, "image/png")])
    assert response.status_code == 200
    item = thread_of(member).messages.get().media[0]
    assert item["path"] == "" and "404" in item["error"]


def test_unknown_sender_kept_as_a_visitor_by_default(hooks, world):
    hooks.telnyx_text(STRANGER, "Hi, I visited on Sunday")
    conversation = Conversation.objects.get(church=world.church)
    assert conversation.member is None and conversation.visitor_phone == STRANGER
    assert not Member.objects.filter(church=world.church).exists()
    hooks.telnyx_text(STRANGER, "What time is youth group?")
    assert Conversation.objects.get(church=world.church).messages.count() == 2


def test_unknown_sender_becomes_a_member_without_consent_when_the_church_says_so(hooks, world, telnyx):
    InboxSettings.objects.create(church=world.church, unknown_sender=InboxSettings.UnknownSender.CREATE_MEMBER)
    world.church.welcome_text = "Welcome to Grace Chapel! Reply STOP to opt out."
    world.church.save(update_fields=["welcome_text"])

    hooks.telnyx_text(STRANGER, "Hi, I visited on Sunday")
    member = Member.objects.get(church=world.church)
    assert member.phone == STRANGER and member.sms_status == SmsStatus.NEVER_CONSENTED
    conversation = thread_of(member)
    welcome = conversation.messages.get(direction="outbound")
    assert welcome.kind == "welcome" and welcome.status == "sent"
    assert [m.text for m in telnyx.sent_messages] == ["Welcome to Grace Chapel! Reply STOP to opt out."]
    # Only once: the second text is an ordinary message.
    hooks.telnyx_text(STRANGER, "Thanks!")
    assert len(telnyx.sent_messages) == 1


def test_a_visitor_thread_follows_them_when_they_become_a_member(hooks, world):
    hooks.telnyx_text(STRANGER, "hello")
    hooks.telnyx_text(STRANGER, "START")
    member = Member.objects.get(church=world.church)
    conversation = Conversation.objects.get(church=world.church)
    assert conversation.member == member and conversation.visitor_phone is None
    assert member.sms_status == SmsStatus.SUBSCRIBED


def test_duplicate_inbound_events_create_one_message(hooks, member):
    response, (body, headers) = hooks.telnyx_text(member.phone, "STOP")
    again = hooks.post_telnyx(body, headers)
    assert response.status_code == again.status_code == 200
    assert thread_of(member).messages.filter(direction="inbound").count() == 1
    assert ProviderEvent.objects.filter(event_type="message.received").count() == 1
    assert hooks.telnyx.sent_messages.__len__() == 1  # one confirmation, not two


def test_twilio_duplicates_are_deduped_on_message_sid(twilio_hooks, member):
    twilio_hooks.twilio_text(member.phone, "hello", message_id="SMdup0000000000000000000000000001")
    twilio_hooks.twilio_text(member.phone, "hello", message_id="SMdup0000000000000000000000000001")
    assert thread_of(member).messages.count() == 1


def test_texts_to_a_number_no_church_owns_are_stored_and_ignored(hooks, member):
    response, _ = hooks.telnyx_text(member.phone, "hi", to="+13125550142")
    assert response.status_code == 200
    assert not ConversationMessage.objects.exists()
    assert ProviderEvent.objects.get().outcome == ProviderEvent.Outcome.UNMATCHED


def test_the_receiving_number_decides_the_church(hooks, world, other_world):
    from messaging.models import SenderNumber

    SenderNumber.objects.create(church=other_world.church, phone_number="+13125550199", provider="telnyx")
    shared = MemberFactory(church=world.church, phone="+13125557777")
    MemberFactory(church=other_world.church, phone="+13125557777")
    hooks.telnyx_text(shared.phone, "to the other church", to="+13125550199")
    assert not Conversation.objects.filter(church=world.church).exists()
    assert Conversation.objects.get(church=other_world.church).messages.get().body == "to the other church"


def test_bad_signature_is_refused_and_stores_nothing(hooks, member):
    hooks.telnyx.set_webhooks(signature_mode="bad")
    response, _ = hooks.telnyx_text(member.phone, "STOP")
    assert response.status_code in (401, 403)
    hooks.telnyx.set_webhooks(signature_mode="stale")
    assert hooks.telnyx_text(member.phone, "STOP")[0].status_code in (401, 403)
    assert not ProviderEvent.objects.exists() and not ConversationMessage.objects.exists()
    member.refresh_from_db()
    assert member.sms_status == SmsStatus.SUBSCRIBED


def test_twilio_bad_signature_is_refused(twilio_hooks, member):
    twilio_hooks.twilio.set_webhooks(signature_mode="bad")
    assert twilio_hooks.twilio_text(member.phone, "STOP").status_code in (401, 403)
    twilio_hooks.twilio.set_webhooks(signature_mode="missing")
    assert twilio_hooks.twilio_text(member.phone, "STOP").status_code in (401, 403)
    assert not ProviderEvent.objects.exists() and not ConversationMessage.objects.exists()


def test_malformed_payloads_are_rejected_without_a_500(hooks, member):
    for data in (
        {"event_type": "message.received", "id": "evt-1", "payload": {"id": "m1", "text": "no from"}},
        {"event_type": "message.received", "id": "evt-2", "payload": "not an object"},
        {"event_type": "message.received", "id": "evt-3", "payload": {"id": "m3", "from": {}, "to": []}},
    ):
        response = hooks.telnyx_event(data)
        assert response.status_code == 400, (data, response.status_code)
    assert hooks.post_telnyx(b"{not json", {}).status_code in (400, 403)
    assert not ProviderEvent.objects.exists() and not ConversationMessage.objects.exists()


def test_twilio_malformed_inbound_is_rejected(twilio_hooks, settings):
    from messaging.providers.twilio.signatures import twilio_signature

    params = {"Body": "hi", "NumMedia": "1"}  # no MessageSid, From or To
    signature = twilio_signature(settings.PUBLIC_BASE_URL + TWILIO_HOOK, params, auth_token=settings.TWILIO_AUTH_TOKEN)
    response = twilio_hooks.client.post(TWILIO_HOOK, data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 400
    assert not ConversationMessage.objects.exists()


def test_provider_payload_stored_once_with_outcome(hooks, member):
    hooks.telnyx_text(member.phone, "hello")
    event = ProviderEvent.objects.get()
    assert event.outcome == ProviderEvent.Outcome.APPLIED and event.detail == "text"
    assert json.dumps(event.payload)  # replayable
