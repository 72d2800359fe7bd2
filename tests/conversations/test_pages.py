"""Inbox pages: the list (badges, filters, search, query count), the thread (reply with a picture, notes,
assignment, restricted), live updates by polling, canned replies, settings and staff email
notifications."""

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from churches.models import Role
from conversations.models import CannedReply, ConsentReview, Conversation, InboxSettings, StaffNotificationPreference
from conversations.selectors import conversation_list
from tests.conversations.conftest import PNG, run_on_commit
from tests.conversations.factories import ConversationFactory
from tests.factories import MemberFactory


def test_inbox_lists_conversations_with_unread_badges(hooks, world, member):
    hooks.telnyx_text(member.phone, "Can you pray for my job interview?")
    response = world.page_client(Role.VIEWER).get(reverse("conversations_home"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Can you pray for my job interview?" in html and member.first_name in html
    assert 'aria-label="1 unread"' in html and "1 unread" in html
    assert "js/inbox.js" in html and "<script>" not in html  # CSP: no inline scripts


@pytest.mark.parametrize("count", [3, 30])
def test_inbox_page_runs_in_a_fixed_number_of_queries(world, count):
    ConversationFactory.create_batch(count, church=world.church)
    client = world.page_client(Role.STAFF)
    client.get(reverse("conversations_home"))  # warm the session
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("conversations_home"))
    assert response.status_code == 200 and response.content.count(b'href="/inbox/c/') == count
    assert len(queries) <= 12, [q["sql"] for q in queries]


def test_filters_and_search(world):
    mine = ConversationFactory(church=world.church, assignee=world.staff, member__first_name="Naomi")
    ConversationFactory(church=world.church, member__first_name="Orpah")
    client = world.page_client(Role.STAFF)
    page = client.get(reverse("conversations_home"), {"filter": "mine"}).content.decode()
    assert "Naomi" in page and "Orpah" not in page
    page = client.get(reverse("conversations_home"), {"filter": "unassigned"}).content.decode()
    assert "Orpah" in page and "Naomi" not in page
    page = client.get(reverse("conversations_home"), {"filter": "all", "q": "orpah"}).content.decode()
    assert "Orpah" in page and "Naomi" not in page
    assert mine.pk


def test_inbox_search_by_name_reads_only_the_churchs_members(world, other_world):
    """Names match by word prefix among this church's members: the member lookup is a subquery with
    the church's id (the (church, UPPER(name)) prefix indexes serve it), never a join scanning every
    church's members; another church's Orpah is not found and a mid-word fragment is not a match."""
    ConversationFactory(church=world.church, member__first_name="Orpah", member__last_name="Moab")
    ConversationFactory(church=other_world.church, member__first_name="Orpah", member__last_name="Other")
    rows = conversation_list(church=world.church, user=None, role=Role.OWNER, filter_by="all", q="orp")
    with CaptureQueriesContext(connection) as queries:
        found = [c.member.last_name for c in rows]
    assert found == ["Moab"]
    assert len(queries) == 1
    sql = queries[0]["sql"]
    subquery = sql[sql.index('FROM "churches_member" U0') :]
    assert f'U0."church_id" = {world.church.pk}' in subquery
    assert not conversation_list(church=world.church, user=None, role=Role.OWNER, filter_by="all", q="rpah").exists()


def test_thread_page_marks_read_and_replies_with_a_picture(hooks, world, member):
    hooks.telnyx_text(member.phone, "What does the flyer say?")
    conversation = Conversation.objects.get(member=member)
    client = world.page_client(Role.STAFF)
    page = client.get(reverse("conversation_detail", args=[conversation.pk]))
    assert page.status_code == 200 and b"What does the flyer say?" in page.content
    conversation.refresh_from_db()
    assert conversation.unread_count == 0

    picture = SimpleUploadedFile("flyer.png", PNG, content_type="image/png")
    with run_on_commit():
        response = client.post(
            reverse("conversation_reply", args=[conversation.pk]), {"body": "Here you go", "media": picture}
        )
    assert response.status_code == 302
    sent = hooks.telnyx.sent_messages[-1]
    assert sent.text == "Here you go" and len(sent.media_urls) == 1


def test_page_reply_with_a_wrong_file_shows_the_reason(hooks, world, member):
    hooks.telnyx_text(member.phone, "hi")
    conversation = Conversation.objects.get(member=member)
    bad = SimpleUploadedFile("notes.txt", b"hello there", content_type="text/plain")
    response = world.page_client(Role.STAFF).post(
        reverse("conversation_reply", args=[conversation.pk]), {"body": "x", "media": bad}
    )
    assert response.status_code == 400 and "JPEG, PNG or GIF" in response.content.decode()
    assert hooks.telnyx.sent_messages == []


def test_page_note_assign_and_restrict(hooks, world, member):
    hooks.telnyx_text(member.phone, "private")
    conversation = Conversation.objects.get(member=member)
    owner = world.page_client(Role.OWNER)
    owner.post(reverse("conversation_note", args=[conversation.pk]), {"body": "Call her back"})
    assert conversation.messages.filter(direction="note", body="Call her back").exists()
    owner.post(
        reverse("conversation_update", args=[conversation.pk]),
        {"status": "open", "assignee_id": world.admin.pk, "restricted": "on", "restricted_present": "1"},
    )
    conversation.refresh_from_db()
    assert conversation.restricted and conversation.assignee == world.admin
    staff = world.page_client(Role.STAFF)
    assert staff.get(reverse("conversation_detail", args=[conversation.pk])).status_code == 404
    assert b"private" not in staff.get(reverse("conversations_home"), {"filter": "all"}).content
    assert world.page_client(Role.ADMIN).get(reverse("conversation_detail", args=[conversation.pk])).status_code == 200


def test_viewer_cannot_post_and_other_church_gets_404(hooks, world, other_world, member):
    hooks.telnyx_text(member.phone, "hi")
    conversation = Conversation.objects.get(member=member)
    viewer = world.page_client(Role.VIEWER)
    assert viewer.post(reverse("conversation_reply", args=[conversation.pk]), {"body": "x"}).status_code == 403
    outsider = other_world.page_client(Role.OWNER)
    for name in ("conversation_detail", "conversation_updates"):
        assert outsider.get(reverse(name, args=[conversation.pk])).status_code == 404
    assert outsider.post(reverse("conversation_reply", args=[conversation.pk]), {"body": "x"}).status_code == 404
    message = conversation.messages.get()
    assert outsider.get(reverse("conversation_media", args=[conversation.pk, message.pk, 0])).status_code == 404


def test_live_updates_by_polling(hooks, world, member):
    hooks.telnyx_text(member.phone, "one")
    conversation = Conversation.objects.get(member=member)
    client = world.page_client(Role.STAFF)
    before = client.get(reverse("conversations_poll")).json()
    last = conversation.messages.get().pk
    hooks.telnyx_text(member.phone, "two")
    after = client.get(reverse("conversations_poll")).json()
    assert after["version"] != before["version"] and after["unread_total"] == 2
    fragment = client.get(reverse("conversations_home"), {"fragment": "list", "filter": "open"})
    assert b"two" in fragment.content and b"<html" not in fragment.content
    update = client.get(reverse("conversation_updates", args=[conversation.pk]), {"after": last}).json()
    assert "two" in update["html"] and "one" not in update["html"] and update["last_id"] > last


def test_staff_are_emailed_about_new_texts_by_preference(hooks, world, member):
    StaffNotificationPreference.objects.create(church=world.church, user=world.admin, email_on_inbound=False)
    hooks.telnyx_text(member.phone, "Is there parking at the back?")
    recipients = sorted(address for m in mail.outbox for address in m.to)
    assert recipients == sorted([world.owner.email, world.staff.email])
    assert "Is there parking at the back?" in mail.outbox[0].body
    # One email per burst: the thread is already unread.
    hooks.telnyx_text(member.phone, "And is it free?")
    assert len(mail.outbox) == 2


def test_restricted_thread_emails_carry_no_text(hooks, world, member):
    hooks.telnyx_text(member.phone, "first")
    conversation = Conversation.objects.get(member=member)
    Conversation.objects.filter(pk=conversation.pk).update(restricted=True, unread_count=0)
    mail.outbox.clear()
    hooks.telnyx_text(member.phone, "very private")
    assert {a for m in mail.outbox for a in m.to} == {world.owner.email, world.admin.email}
    assert all("very private" not in m.body for m in mail.outbox)


def test_notification_preference_page(world):
    client = world.page_client(Role.VIEWER)
    assert client.post(reverse("conversation_notifications"), {}).status_code == 302
    assert StaffNotificationPreference.objects.get(user=world.viewer).email_on_inbound is False


def test_inbox_settings_page_admins_only(world):
    assert world.page_client(Role.STAFF).post(reverse("conversation_settings"), {}).status_code == 403
    response = world.page_client(Role.ADMIN).post(
        reverse("conversation_settings"),
        {
            "unknown_sender": "create_member",
            "office_hours_enabled": "on",
            "office_days": ["0", "2", "4"],
            "office_opens": "09:00",
            "office_closes": "16:30",
            "welcome_new_members": "on",
        },
    )
    assert response.status_code == 302
    row = InboxSettings.objects.get(church=world.church)
    assert row.unknown_sender == "create_member" and row.office_days == "024" and not row.show_broadcasts
    assert world.page_client(Role.VIEWER).get(reverse("conversation_settings")).status_code == 200


def test_canned_replies(world, other_world):
    client = world.page_client(Role.STAFF)
    client.post(reverse("conversation_canned"), {"title": "Service times", "body": "Sundays 9 and 11am."})
    canned = CannedReply.objects.get(church=world.church)
    assert b"Sundays 9 and 11am." in client.get(reverse("conversation_canned")).content
    dup = client.post(reverse("conversation_canned"), {"title": "service TIMES", "body": "x"})
    assert dup.status_code == 400
    assert other_world.page_client().post(reverse("conversation_canned_delete", args=[canned.pk])).status_code == 404
    client.post(reverse("conversation_canned_delete", args=[canned.pk]))
    assert not CannedReply.objects.exists()


def test_broadcasts_show_in_the_thread_as_context(hooks, world, member, number):
    from messaging.models import Message, Recipient

    message = Message.objects.create(church=world.church, body="Potluck Sunday at 6!", audience={"all": True})
    Recipient.objects.create(
        church=world.church, message=message, member=member, phone=member.phone, status="delivered"
    )
    hooks.telnyx_text(member.phone, "Count me in")
    conversation = Conversation.objects.get(member=member)
    page = world.page_client().get(reverse("conversation_detail", args=[conversation.pk])).content.decode()
    assert "Potluck Sunday at 6!" in page and "Broadcast" in page


def test_review_queue_page_lists_and_refuses_viewers(hooks, world, member):
    hooks.telnyx_text(member.phone, "wrong number")
    assert b"wrong number" in world.page_client(Role.VIEWER).get(reverse("conversation_reviews")).content
    review_id = ConsentReview.objects.get().pk
    response = world.page_client(Role.VIEWER).post(reverse("conversation_review_decide", args=[review_id, "confirm"]))
    assert response.status_code == 403


def test_unknown_member_visitor_sees_in_list(hooks, world):
    MemberFactory(church=world.church)
    hooks.telnyx_text("+13125550188", "Who do I talk to about baptism?")
    page = world.page_client().get(reverse("conversations_home")).content.decode()
    assert "(312) 555-0188" in page and "Not in directory" in page  # their number, formatted, not "Visitor"
