"""Consent on every inbound text, through the signed webhooks: every keyword class, revocation in other
words, the review queue, exactly one confirmation, no re-subscribe by ordinary replies, opt-outs that
stop sends not yet handed to the provider, group keywords and the church's automatic replies."""

import pytest
from django.test import TestCase
from django.urls import reverse

from churches.models import ConsentEvent, GroupMembership, SmsStatus
from conversations.models import ConsentReview, Conversation, ConversationMessage, InboxSettings
from tests.conversations.conftest import run_on_commit
from tests.factories import GroupFactory, MemberFactory


def ledger(member):
    return list(ConsentEvent.objects.filter(member=member).order_by("id").values_list("kind", "source", "raw_text"))


def sent_texts(fake):
    return [m.text for m in fake.sent_messages]


def refreshed(member):
    member.refresh_from_db()
    return member


@pytest.mark.parametrize(
    "word", ["STOP", "stop", "Unsubscribe", "CANCEL", "end", "QUIT", "REVOKE", "OPT OUT", "stopall"]
)
def test_opt_out_keywords_unsubscribe_with_one_confirmation(hooks, member, word):
    hooks.telnyx_text(member.phone, word)
    assert refreshed(member).sms_status == SmsStatus.UNSUBSCRIBED
    assert ledger(member)[0] == ("opt_out", "keyword", word)
    assert ledger(member)[1][0] == "confirmation_sent"
    assert len(hooks.telnyx.sent_messages) == 1
    assert "unsubscribed" in sent_texts(hooks.telnyx)[0] and hooks.telnyx.sent_messages[0].to_number == member.phone
    confirmation = Conversation.objects.get(member=member).messages.get(direction="outbound")
    assert confirmation.kind == "confirmation" and confirmation.status == "sent"


def test_revocation_in_other_words_is_an_opt_out_in_the_ledger(hooks, member):
    hooks.telnyx_text(member.phone, "Please take me off this list, thanks")
    assert refreshed(member).sms_status == SmsStatus.UNSUBSCRIBED
    assert ledger(member)[0] == ("opt_out", "reasonable_manner", "Please take me off this list, thanks")
    assert len(hooks.telnyx.sent_messages) == 1


def test_spanish_revocation(twilio_hooks, member):
    twilio_hooks.twilio_text(member.phone, "No me envíen más mensajes por favor")
    assert refreshed(member).sms_status == SmsStatus.UNSUBSCRIBED
    assert ledger(member)[0][:2] == ("opt_out", "reasonable_manner")


def test_exactly_one_confirmation_even_for_a_second_stop(hooks, member):
    hooks.telnyx_text(member.phone, "STOP")
    hooks.telnyx_text(member.phone, "stop texting me!!")
    hooks.telnyx_text(member.phone, "STOP")
    assert len(hooks.telnyx.sent_messages) == 1
    kinds = [kind for kind, _, _ in ledger(member)]
    assert kinds == ["opt_out", "confirmation_sent", "opt_out", "opt_out"]


def test_no_own_confirmation_when_the_provider_already_sent_one(hooks, member):
    hooks.telnyx_text(member.phone, "STOP", keyword="STOP")  # autoresponse_type: STOP
    assert refreshed(member).sms_status == SmsStatus.UNSUBSCRIBED
    assert hooks.telnyx.sent_messages == []
    assert ledger(member)[1][:2] == ("confirmation_sent", "provider_report")
    assert "Telnyx" in ledger(member)[1][2]


def test_twilio_opt_out_type_also_means_no_own_confirmation(twilio_hooks, member):
    twilio_hooks.twilio_text(member.phone, "STOP", keyword="STOP")
    assert twilio_hooks.twilio.sent_messages == []
    assert [k for k, _, _ in ledger(member)] == ["opt_out", "confirmation_sent"]


def test_ordinary_replies_never_resubscribe(hooks, member):
    hooks.telnyx_text(member.phone, "STOP")
    for text in ("ok thanks", "Yes I'll be there Sunday", "See you at church", "yes please"):
        hooks.telnyx_text(member.phone, text)
    assert refreshed(member).sms_status == SmsStatus.UNSUBSCRIBED
    assert [k for k, _, _ in ledger(member)] == ["opt_out", "confirmation_sent"]
    assert len(hooks.telnyx.sent_messages) == 1  # no automatic replies to an opted-out member


@pytest.mark.parametrize("word", ["START", "unstop", "YES"])
def test_opt_in_keywords_resubscribe_an_opted_out_member(hooks, member, word):
    hooks.telnyx_text(member.phone, "STOP")
    hooks.telnyx_text(member.phone, word)
    assert refreshed(member).sms_status == SmsStatus.SUBSCRIBED
    assert ledger(member)[-1] == ("opt_in", "keyword", word)
    assert "subscribed" in sent_texts(hooks.telnyx)[-1]


def test_yes_from_a_subscribed_member_is_just_an_answer(hooks, member):
    hooks.telnyx_text(member.phone, "YES")
    assert ledger(member) == []
    assert Conversation.objects.get(member=member).messages.get().consent_intent == "none"


@pytest.mark.parametrize("word", ["HELP", "info"])
def test_help_answers_with_the_church_name_and_contact(hooks, member, world, word):
    world.church.contact_phone = "(312) 555-0111"
    world.church.contact_email = "office@grace.example"
    world.church.save(update_fields=["contact_phone", "contact_email"])
    hooks.telnyx_text(member.phone, word)
    reply = sent_texts(hooks.telnyx)[0]
    assert "Grace Chapel" in reply and "(312) 555-0111" in reply and "office@grace.example" in reply
    assert ledger(member) == [("help", "keyword", word)]


def test_help_is_answered_even_after_an_opt_out_and_uses_the_churchs_help_text(hooks, member, world):
    world.church.help_text = "Grace Chapel texts. Call 312-555-0111. Reply STOP to stop."
    world.church.save(update_fields=["help_text"])
    hooks.telnyx_text(member.phone, "STOP")
    hooks.telnyx_text(member.phone, "HELP")
    assert sent_texts(hooks.telnyx)[-1] == "Grace Chapel texts. Call 312-555-0111. Reply STOP to stop."
    assert refreshed(member).sms_status == SmsStatus.UNSUBSCRIBED


def test_help_plan_limits_never_block_confirmations_or_help(hooks, member):
    from koinonia import policy
    from koinonia.exceptions import BusinessRuleError

    class RefuseEverything(policy.PermissivePolicy):
        def check(self, *, church, resource, adding=1, **context):
            raise BusinessRuleError("Plan limit reached.", code="plan_limit", status=402)

    with policy.registered(RefuseEverything()):
        hooks.telnyx_text(member.phone, "HELP")
        hooks.telnyx_text(member.phone, "STOP")
    assert len(hooks.telnyx.sent_messages) == 2


def test_ambiguous_texts_go_to_the_review_queue_and_staff_decide(hooks, member, world):
    hooks.telnyx_text(member.phone, "unsubscribe me from the youth group?")
    review = ConsentReview.objects.get()
    assert review.status == "pending" and review.member == member
    assert refreshed(member).sms_status == SmsStatus.SUBSCRIBED and hooks.telnyx.sent_messages == []

    page = world.page_client("staff").get(reverse("conversation_reviews"))
    assert b"unsubscribe me from the youth group?" in page.content
    with run_on_commit():
        response = world.page_client("staff").post(reverse("conversation_review_decide", args=[review.pk, "confirm"]))
    assert response.status_code == 302
    assert refreshed(member).sms_status == SmsStatus.UNSUBSCRIBED
    assert ledger(member)[0] == ("opt_out", "reasonable_manner", "unsubscribe me from the youth group?")
    assert len(hooks.telnyx.sent_messages) == 1
    review.refresh_from_db()
    assert review.status == "confirmed" and review.decided_by == world.staff


def test_review_dismiss_through_the_api(hooks, member, world):
    hooks.telnyx_text(member.phone, "Can I opt out of the potluck?")
    review = ConsentReview.objects.get()
    client = world.api_client("staff")
    assert client.get("/api/v1/consent-reviews").json()["results"][0]["raw_text"] == "Can I opt out of the potluck?"
    response = client.post(f"/api/v1/consent-reviews/{review.pk}/dismiss")
    assert response.status_code == 200 and response.json()["status"] == "dismissed"
    assert refreshed(member).sms_status == SmsStatus.SUBSCRIBED and ledger(member) == []
    assert client.post(f"/api/v1/consent-reviews/{review.pk}/confirm").status_code == 409
    assert world.api_client("viewer").post(f"/api/v1/consent-reviews/{review.pk}/confirm").status_code == 403


def test_an_opt_out_blocks_a_reply_not_yet_handed_to_the_provider(hooks, member, world):
    hooks.telnyx_text(member.phone, "Is choir on tonight?")
    conversation = Conversation.objects.get(member=member)
    client = world.api_client("staff")
    # The reply is queued; its send task waits for the commit...
    with TestCase.captureOnCommitCallbacks(execute=False) as pending:
        assert client.post(f"/api/v1/conversations/{conversation.pk}/reply", {"body": "Yes, 7pm!"}).status_code == 201
    # ...when the member's STOP lands; then the send task runs.
    hooks.telnyx_text(member.phone, "STOP")
    for callback in pending:
        callback()
    reply = conversation.messages.get(kind="text", direction="outbound")
    assert reply.status == "blocked" and "opted out" in reply.error_reason
    assert len(hooks.telnyx.sent_messages) == 1 and "unsubscribed" in sent_texts(hooks.telnyx)[0]


def test_an_opt_out_stops_a_broadcast_not_yet_sent(hooks, member, world, number):
    from messaging.broadcasts.pipeline import run_sending
    from messaging.broadcasts.services import message_prepare, message_send
    from messaging.models import Message, Recipient

    other = MemberFactory(church=world.church)
    with TestCase.captureOnCommitCallbacks(execute=False):  # prepare and send by hand, below
        message = message_send(church=world.church, author=world.owner, body="Potluck at 6", audience={"all": True})
    message_prepare(message_id=message.pk)
    assert Recipient.objects.filter(message=message).count() == 2
    hooks.telnyx_text(member.phone, "please stop texting me")  # lands between materializing and sending
    run_sending(message_id=message.pk)
    statuses = dict(Recipient.objects.filter(message=message).values_list("member_id", "status"))
    # (the other member may be held for quiet hours at their location: not skipped, anyway)
    assert statuses[member.pk] == Recipient.Status.SKIPPED and statuses[other.pk] != Recipient.Status.SKIPPED
    assert Message.objects.get(pk=message.pk).skipped_count == 1
    assert "Potluck at 6" not in [m.text for m in hooks.telnyx.sent_messages if m.to_number == member.phone]


@pytest.mark.parametrize("text", ["JOIN YOUTH", "youth", "Youth!", "join youth"])
def test_group_keyword_joins_with_opt_in_and_welcome(hooks, world, text):
    member = MemberFactory(church=world.church, sms_status=SmsStatus.NEVER_CONSENTED)
    group = GroupFactory(
        church=world.church, name="Youth", keyword="YOUTH", welcome_text="Welcome to Youth! Fridays 7pm."
    )
    hooks.telnyx_text(member.phone, text)
    assert GroupMembership.objects.filter(group=group, member=member).exists()
    assert refreshed(member).sms_status == SmsStatus.SUBSCRIBED
    assert ledger(member) == [("opt_in", "keyword", f"{text} (joined Youth)")]
    assert sent_texts(hooks.telnyx) == ["Welcome to Youth! Fridays 7pm."]


def test_unknown_sender_texting_a_keyword_becomes_a_member_of_the_group(hooks, world):
    group = GroupFactory(church=world.church, name="Choir", keyword="CHOIR")
    hooks.telnyx_text("+13125550177", "CHOIR")
    membership = GroupMembership.objects.get(group=group)
    assert membership.member.phone == "+13125550177"
    assert "Choir" in sent_texts(hooks.telnyx)[0]


def test_after_hours_reply_outside_office_hours_only_once(hooks, member, world):
    world.church.after_hours_reply = "The office is closed; we'll reply tomorrow."
    world.church.save(update_fields=["after_hours_reply"])
    InboxSettings.objects.create(church=world.church, office_hours_enabled=True, office_days="")  # never open
    hooks.telnyx_text(member.phone, "Is anyone there?")
    hooks.telnyx_text(member.phone, "Hello?")
    assert sent_texts(hooks.telnyx) == ["The office is closed; we'll reply tomorrow."]
    auto = ConversationMessage.objects.get(direction="outbound")
    assert auto.kind == "after_hours"


def test_no_after_hours_reply_during_office_hours(hooks, member, world):
    from datetime import time

    world.church.after_hours_reply = "Closed."
    world.church.save(update_fields=["after_hours_reply"])
    InboxSettings.objects.create(
        church=world.church,
        office_hours_enabled=True,
        office_days="0123456",
        office_opens=time(0, 0),
        office_closes=time(23, 59, 59),
    )
    hooks.telnyx_text(member.phone, "Is anyone there?")
    assert hooks.telnyx.sent_messages == []


def test_a_stop_reply_to_the_opt_out_number_is_recorded_for_visitors_too(hooks, world):
    hooks.telnyx_text("+13125550166", "stop")
    conversation = Conversation.objects.get(church=world.church)
    assert conversation.member is not None and conversation.member.sms_status == SmsStatus.UNSUBSCRIBED
    assert len(hooks.telnyx.sent_messages) == 1
