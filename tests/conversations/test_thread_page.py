"""What a church admin found on the thread page: the note box and the Reply box shared an id (so the
"Internal note" label focused the Reply box and a note went out as a text), unknown senders were only
"Visitor", bubbles said "Them", broadcasts showed "{first_name}" instead of what the member received, a
reply's status never moved on the page, and the navigation had no unread badge."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from churches.models import Role
from conversations.models import Conversation, ConversationMessage
from messaging.models import Message, Recipient
from tests.conversations.conftest import PNG, run_on_commit
from tests.conversations.factories import ConversationFactory


def thread_of(hooks, member, text="Hello"):
    hooks.telnyx_text(member.phone, text)
    return Conversation.objects.get(member=member)


def ids_in(html: str) -> list[str]:
    return re.findall(r'\sid="([^"]+)"', html)


def test_reply_and_note_boxes_have_distinct_ids_and_labels(hooks, world, member):
    conversation = thread_of(hooks, member)
    html = world.page_client(Role.STAFF).get(reverse("conversation_detail", args=[conversation.pk])).content.decode()
    ids = ids_in(html)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert '<label for="reply_body">Reply</label>' in html
    assert '<label for="note_body">Internal note</label>' in html
    note_form = html[html.index('id="note-form"') - 200 : html.index("Add note")]
    assert reverse("conversation_note", args=[conversation.pk]) in note_form
    assert "reply_body" not in note_form and 'type="file"' not in note_form


def test_posting_the_note_form_creates_a_note_and_sends_nothing(hooks, world, member):
    conversation = thread_of(hooks, member)
    picture = SimpleUploadedFile("flyer.png", PNG, content_type="image/png")
    with run_on_commit():
        response = world.page_client(Role.STAFF).post(
            reverse("conversation_note", args=[conversation.pk]),
            {"body": "Her mother is in hospital; call, don't text", "media": picture, "send": "1"},
        )
    assert response.status_code == 302
    note = conversation.messages.get(direction=ConversationMessage.Direction.NOTE)
    assert note.body == "Her mother is in hospital; call, don't text" and note.media == []
    assert not conversation.messages.filter(direction=ConversationMessage.Direction.OUTBOUND).exists()
    assert hooks.telnyx.sent_messages == []


def test_the_note_endpoint_refuses_viewers_and_other_churches(hooks, world, other_world, member):
    conversation = thread_of(hooks, member)
    url = reverse("conversation_note", args=[conversation.pk])
    assert world.page_client(Role.VIEWER).post(url, {"body": "x"}).status_code == 403
    assert other_world.page_client(Role.OWNER).post(url, {"body": "x"}).status_code == 404
    assert not conversation.messages.filter(direction=ConversationMessage.Direction.NOTE).exists()


def test_an_unknown_sender_shows_their_number_formatted(hooks, world):
    hooks.telnyx_text("+13125550188", "Who do I talk to about baptism?")
    conversation = Conversation.objects.get(member__isnull=True)
    html = world.page_client(Role.STAFF).get(reverse("conversation_detail", args=[conversation.pk])).content.decode()
    heading = html[html.index("<h1>") : html.index("</h1>")]
    assert "(312) 555-0188" in heading and "Visitor" not in heading
    assert "<strong>(312) 555-0188</strong>" in html  # the bubble


def test_bubbles_name_the_member(hooks, world, member):
    conversation = thread_of(hooks, member, "Can I bring a friend?")
    html = world.page_client(Role.STAFF).get(reverse("conversation_detail", args=[conversation.pk])).content.decode()
    assert "<strong>Ruth Moabite</strong>" in html and "Them" not in html


def test_broadcasts_in_a_thread_read_as_the_member_received_them(hooks, world, member):
    message = Message.objects.create(
        church=world.church, body="Hi {first_name}! Potluck at {church_name} on Sunday.", audience={"all": True}
    )
    Recipient.objects.create(church=world.church, message=message, member=member, phone=member.phone, status="sent")
    conversation = thread_of(hooks, member, "Count me in")
    html = world.page_client(Role.STAFF).get(reverse("conversation_detail", args=[conversation.pk])).content.decode()
    assert "Hi Ruth! Potluck at Grace Chapel on Sunday." in html
    assert "{first_name}" not in html and "{church_name}" not in html


def test_a_replys_status_updates_live_and_on_reload(hooks, world, other_world, member):
    conversation = thread_of(hooks, member)
    client = world.page_client(Role.STAFF)
    with run_on_commit():
        client.post(reverse("conversation_reply", args=[conversation.pk]), {"body": "See you Sunday"})
    reply = conversation.messages.get(direction=ConversationMessage.Direction.OUTBOUND)
    page = client.get(reverse("conversation_detail", args=[conversation.pk])).content.decode()
    assert f'data-reply-status="{reply.pk}" data-pending>Sent<' in page

    sent = hooks.telnyx.sent_messages[-1]
    hooks.telnyx_event(
        {
            "event_type": "message.finalized",
            "id": "evt-delivered-page",
            "payload": {"id": sent.id, "to": [{"phone_number": member.phone, "status": "delivered"}]},
        }
    )
    updates_url = reverse("conversation_updates", args=[conversation.pk])
    update = client.get(updates_url, {"after": reply.pk, "pending": f"{reply.pk},999999"}).json()
    assert set(update["statuses"]) == {str(reply.pk)}  # another thread's or an unknown id: nothing
    assert "Delivered" in update["statuses"][str(reply.pk)] and "data-pending" not in update["statuses"][str(reply.pk)]
    page = client.get(reverse("conversation_detail", args=[conversation.pk])).content.decode()
    assert f'data-reply-status="{reply.pk}">Delivered<' in page
    assert other_world.page_client(Role.OWNER).get(updates_url, {"pending": reply.pk}).status_code == 404


def test_odd_pending_ids_are_ignored_not_an_error(hooks, world, member):
    conversation = thread_of(hooks, member)
    url = reverse("conversation_updates", args=[conversation.pk])
    for pending in ("abc", "²", "99999999999999999999999", ",,", "-1", "1" * 5000):
        response = world.page_client(Role.VIEWER).get(url, {"pending": pending})
        assert response.status_code == 200 and response.json()["statuses"] == {}, pending


# --- the unread badge in the main navigation --------------------------------------------------------


def nav_badge(html: str) -> str | None:
    found = re.search(r"<span[^>]*data-nav-unread[^>]*>(\d*)</span>", html)
    return found.group(1) if found and "hidden" not in found.group(0) else None


def test_the_navigation_shows_how_many_conversations_are_unread(world):
    ConversationFactory.create_batch(3, church=world.church, unread_count=2)
    ConversationFactory(church=world.church, unread_count=0)
    ConversationFactory(church=world.church, unread_count=1, restricted=True, assignee=world.admin)
    assert nav_badge(world.page_client(Role.STAFF).get(reverse("members_home")).content.decode()) == "3"
    assert nav_badge(world.page_client(Role.OWNER).get(reverse("members_home")).content.decode()) == "4"


def test_no_badge_when_all_is_read(world):
    ConversationFactory(church=world.church, unread_count=0)
    assert nav_badge(world.page_client(Role.STAFF).get(reverse("dashboard")).content.decode()) is None


@pytest.mark.parametrize("count", [1, 20])
def test_the_badge_costs_one_query_then_none_while_cached(world, count):
    ConversationFactory.create_batch(count, church=world.church, unread_count=1)
    client = world.page_client(Role.STAFF)
    client.get(reverse("settings"))  # warm the session
    from django.core.cache import cache

    cache.clear()
    with CaptureQueriesContext(connection) as first:
        first_page = client.get(reverse("settings"))
    with CaptureQueriesContext(connection) as second:
        client.get(reverse("settings"))
    assert nav_badge(first_page.content.decode()) == str(count)
    badge_queries = [q["sql"] for q in first if "conversations_conversation" in q["sql"]]
    assert len(badge_queries) == 1, badge_queries
    assert not [q for q in second if "conversations_conversation" in q["sql"]]
    assert len(second) == len(first) - 1


def test_opening_a_thread_updates_the_readers_badge(hooks, world, member):
    conversation = thread_of(hooks, member)
    client = world.page_client(Role.STAFF)
    assert nav_badge(client.get(reverse("members_home")).content.decode()) == "1"
    page = client.get(reverse("conversation_detail", args=[conversation.pk])).content.decode()
    assert nav_badge(page) is None
    assert client.get(reverse("conversations_poll")).json()["unread_conversations"] == 0
