"""The conversations API: list and filters, messages, replies (text and picture) through the provider
fake with delivery status, status/assignment/restricted updates, unread counts, restricted threads
hidden, other churches' ids a 404, lower roles refused, query counts."""

import io

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext

from churches.models import Role, SmsStatus
from conversations.models import Conversation, ConversationMessage
from tests.conftest import assert_error_shape
from tests.conversations.conftest import JPEG, PNG, run_on_commit
from tests.factories import MemberFactory


def thread(world, member, *texts, hooks):
    for text in texts:
        hooks.telnyx_text(member.phone, text)
    return Conversation.objects.get(church=world.church, member=member)


def upload(data: bytes, name: str, content_type: str):
    f = io.BytesIO(data)
    f.name = name
    return f


def test_list_shows_latest_first_with_unread_counts(hooks, world):
    ruth = MemberFactory(church=world.church, first_name="Ruth")
    boaz = MemberFactory(church=world.church, first_name="Boaz")
    hooks.telnyx_text(ruth.phone, "first")
    hooks.telnyx_text(boaz.phone, "second")
    hooks.telnyx_text(boaz.phone, "third")

    body = world.api_client("viewer").get("/api/v1/conversations").json()
    rows = body["results"]
    assert [r["member"]["first_name"] for r in rows] == ["Boaz", "Ruth"]
    assert rows[0]["unread_count"] == 2 and rows[0]["last_message_preview"] == "third"
    assert rows[0]["member"]["phone"] == boaz.phone and rows[0]["status"] == "open"


def test_reading_a_thread_resets_its_unread_count(hooks, world, member):
    conversation = thread(world, member, "a", "b", hooks=hooks)
    client = world.api_client("staff")
    assert client.get(f"/api/v1/conversations/{conversation.pk}").json()["unread_count"] == 2
    assert client.post(f"/api/v1/conversations/{conversation.pk}/read").json()["unread_count"] == 0
    hooks.telnyx_text(member.phone, "c")
    conversation.refresh_from_db()
    assert conversation.unread_count == 1


def test_messages_endpoint_lists_the_thread(hooks, world, member):
    conversation = thread(world, member, "hello", hooks=hooks)
    rows = world.api_client("viewer").get(f"/api/v1/conversations/{conversation.pk}/messages").json()["results"]
    assert rows[0]["body"] == "hello" and rows[0]["direction"] == "inbound" and rows[0]["status"] == "received"


def test_reply_goes_through_the_provider_and_shows_delivery_status(hooks, world, member):
    conversation = thread(world, member, "Is the food bank open Saturday?", hooks=hooks)
    with run_on_commit():
        response = world.api_client("staff").post(
            f"/api/v1/conversations/{conversation.pk}/reply", {"body": "Yes, 9 to noon."}, format="json"
        )
    assert response.status_code == 201, response.content
    sent = hooks.telnyx.sent_messages[-1]
    assert sent.text == "Yes, 9 to noon." and sent.to_number == member.phone and sent.from_number == "+13125550100"
    reply = ConversationMessage.objects.get(pk=response.json()["id"])
    assert reply.status == "sent" and reply.provider_message_id == sent.id

    finalized = {
        "event_type": "message.finalized",
        "id": "evt-delivered-1",
        "occurred_at": "2025-06-15T15:06:43.250+00:00",
        "payload": {
            "id": sent.id,
            "direction": "outbound",
            "to": [{"phone_number": member.phone, "status": "delivered"}],
        },
    }
    assert hooks.telnyx_event(finalized).status_code == 200
    reply.refresh_from_db()
    assert reply.status == "delivered"
    conversation.refresh_from_db()
    assert conversation.unread_count == 0 and conversation.last_message_direction == "outbound"


def test_failed_delivery_gives_a_plain_reason(hooks, world, member):
    conversation = thread(world, member, "hi", hooks=hooks)
    with run_on_commit():
        world.api_client("staff").post(f"/api/v1/conversations/{conversation.pk}/reply", {"body": "Hello!"})
    sent = hooks.telnyx.sent_messages[-1]
    hooks.telnyx_event(
        {
            "event_type": "message.finalized",
            "id": "evt-failed-1",
            "payload": {
                "id": sent.id,
                "to": [{"phone_number": member.phone, "status": "delivery_failed"}],
                "errors": [{"code": "40008", "title": "Undeliverable"}],
            },
        }
    )
    reply = ConversationMessage.objects.get(provider_message_id=sent.id)
    assert reply.status == "failed" and "carrier" in reply.error_reason.lower()


def test_reply_with_a_picture_sends_a_public_url_of_our_stored_copy(hooks, world, member, settings):
    conversation = thread(world, member, "Send me the flyer?", hooks=hooks)
    with run_on_commit():
        response = world.api_client("staff").post(
            f"/api/v1/conversations/{conversation.pk}/reply",
            {"body": "Here it is", "media": upload(PNG, "flyer.png", "image/png")},
            format="multipart",
        )
    assert response.status_code == 201, response.content
    message = ConversationMessage.objects.get(pk=response.json()["id"])
    path = message.media[0]["path"]
    assert path.startswith(f"conversations/{world.church.pk}/out/") and path.endswith(".png")
    with default_storage.open(path, "rb") as stored:
        assert stored.read() == PNG
    sent = hooks.telnyx.sent_messages[-1]
    assert sent.media_urls == [f"{settings.PUBLIC_BASE_URL}/media/{path}"]
    assert response.json()["media"][0]["content_type"] == "image/png"
    picture = world.api_client("viewer").get(response.json()["media"][0]["url"])
    assert picture.status_code == 200 and b"".join(picture.streaming_content) == PNG


def test_a_picture_alone_is_a_valid_reply(hooks, world, member):
    conversation = thread(world, member, "pic?", hooks=hooks)
    with run_on_commit():
        response = world.api_client("staff").post(
            f"/api/v1/conversations/{conversation.pk}/reply",
            {"media": upload(JPEG, "a.jpg", "image/jpeg")},
            format="multipart",
        )
    assert response.status_code == 201
    assert hooks.telnyx.sent_messages[-1].media_urls


def test_oversized_and_non_image_uploads_get_a_clear_message(hooks, world, member, settings):
    settings.CONVERSATION_MEDIA_MAX_BYTES = 1024
    conversation = thread(world, member, "hi", hooks=hooks)
    client = world.api_client("staff")
    url = f"/api/v1/conversations/{conversation.pk}/reply"
    big = client.post(
        url, {"body": "x", "media": upload(PNG + b"\x00" * 2048, "big.png", "image/png")}, format="multipart"
    )
    error = assert_error_shape(big, 413, "media_too_large")
    assert "MB" in error["message"] and error["details"] == {"media": [error["message"]]}
    fake = client.post(
        url, {"body": "x", "media": upload(b"%PDF-1.7 not a picture", "x.png", "image/png")}, format="multipart"
    )
    assert "JPEG, PNG or GIF" in assert_error_shape(fake, 400, "media_type_not_allowed")["message"]
    assert not ConversationMessage.objects.filter(direction="outbound").exists()
    assert hooks.telnyx.sent_messages == []


def test_no_reply_to_an_opted_out_member(hooks, world, member):
    conversation = thread(world, member, "STOP", hooks=hooks)
    response = world.api_client("staff").post(f"/api/v1/conversations/{conversation.pk}/reply", {"body": "Sorry!"})
    assert "opted out" in assert_error_shape(response, 409, "opted_out")["message"]
    assert len(hooks.telnyx.sent_messages) == 1  # the confirmation only


def test_empty_reply_is_refused(hooks, world, member):
    conversation = thread(world, member, "hi", hooks=hooks)
    response = world.api_client("staff").post(f"/api/v1/conversations/{conversation.pk}/reply", {"body": "  "})
    assert_error_shape(response, 400)


def test_status_assignment_and_filters(hooks, world, member):
    other = MemberFactory(church=world.church)
    conversation = thread(world, member, "hi", hooks=hooks)
    thread(world, other, "hello", hooks=hooks)
    client = world.api_client("staff")
    response = client.patch(
        f"/api/v1/conversations/{conversation.pk}", {"assignee_id": world.staff.pk, "status": "closed"}, format="json"
    )
    assert response.status_code == 200 and response.json()["assignee_id"] == world.staff.pk
    assert response.json()["status"] == "closed"

    def ids(query, c=client):
        return [r["id"] for r in c.get(f"/api/v1/conversations?{query}").json()["results"]]

    assert conversation.pk not in ids("filter=open") and conversation.pk in ids("filter=closed")
    assert ids("filter=unassigned") == [Conversation.objects.get(member=other).pk]
    assert ids("filter=mine", world.session_api_client(Role.STAFF)) == [conversation.pk]
    assert ids("filter=all&q=" + member.last_name) == [conversation.pk]
    assert ids("filter=all&q=" + member.phone) == [conversation.pk]
    assert ids("filter=all&q=hello") == [Conversation.objects.get(member=other).pk]
    bad = client.patch(f"/api/v1/conversations/{conversation.pk}", {"assignee_id": 999999}, format="json")
    assert_error_shape(bad, 400)
    assert_error_shape(client.patch(f"/api/v1/conversations/{conversation.pk}", {"status": "gone"}, format="json"), 400)


def test_notes_are_kept_in_the_thread_and_never_sent(hooks, world, member):
    conversation = thread(world, member, "My mother is in hospital", hooks=hooks)
    response = world.api_client("staff").post(
        f"/api/v1/conversations/{conversation.pk}/notes", {"body": "Pastor Dan is visiting Tuesday."}
    )
    assert response.status_code == 201 and response.json()["direction"] == "note"
    assert hooks.telnyx.sent_messages == []


def test_restricted_threads_are_hidden_from_staff_without_access(hooks, world, member):
    conversation = thread(world, member, "Pastoral matter", hooks=hooks)
    admin = world.session_api_client(Role.ADMIN)
    assert (
        admin.patch(f"/api/v1/conversations/{conversation.pk}", {"restricted": True}, format="json").status_code == 200
    )

    staff = world.session_api_client(Role.STAFF)
    assert staff.get(f"/api/v1/conversations/{conversation.pk}").status_code == 404
    assert staff.get(f"/api/v1/conversations/{conversation.pk}/messages").status_code == 404
    assert staff.get("/api/v1/conversations?filter=all").json()["results"] == []
    assert world.api_client("staff").get(f"/api/v1/conversations/{conversation.pk}").status_code == 404
    assert world.api_client("admin").get(f"/api/v1/conversations/{conversation.pk}").status_code == 200
    assert world.session_api_client(Role.OWNER).get("/api/v1/conversations?filter=restricted").json()["results"]

    # Assigned to the staff member: now they may read it.
    admin.patch(f"/api/v1/conversations/{conversation.pk}", {"assignee_id": world.staff.pk}, format="json")
    assert staff.get(f"/api/v1/conversations/{conversation.pk}").status_code == 200


def test_only_owners_admins_and_the_assignee_change_the_restricted_flag(hooks, world, member):
    conversation = thread(world, member, "hi", hooks=hooks)
    staff = world.session_api_client(Role.STAFF)
    response = staff.patch(f"/api/v1/conversations/{conversation.pk}", {"restricted": True}, format="json")
    assert_error_shape(response, 403, "permission_denied")
    staff.patch(f"/api/v1/conversations/{conversation.pk}", {"assignee_id": world.staff.pk}, format="json")
    assert (
        staff.patch(f"/api/v1/conversations/{conversation.pk}", {"restricted": True}, format="json").status_code == 200
    )


def test_another_churchs_conversation_is_a_404(hooks, world, other_world, member):
    conversation = thread(world, member, "hi", hooks=hooks)
    message = conversation.messages.get()
    client = other_world.api_client("admin")
    base = f"/api/v1/conversations/{conversation.pk}"
    for method, url, data in [
        ("get", base, None),
        ("get", f"{base}/messages", None),
        ("post", f"{base}/reply", {"body": "hi"}),
        ("post", f"{base}/notes", {"body": "hi"}),
        ("post", f"{base}/read", {}),
        ("patch", base, {"status": "closed"}),
        ("get", f"{base}/messages/{message.pk}/media/0", None),
    ]:
        response = getattr(client, method)(url, data=data, format="json") if data is not None else client.get(url)
        assert response.status_code == 404, (method, url, response.status_code)
    assert client.get("/api/v1/conversations?filter=all").json()["results"] == []


def test_viewers_read_but_cannot_reply_or_triage(hooks, world, member):
    conversation = thread(world, member, "hi", hooks=hooks)
    viewer = world.api_client("viewer")
    assert viewer.get(f"/api/v1/conversations/{conversation.pk}").status_code == 200
    for url, data in [
        (f"/api/v1/conversations/{conversation.pk}/reply", {"body": "hi"}),
        (f"/api/v1/conversations/{conversation.pk}/notes", {"body": "hi"}),
    ]:
        assert viewer.post(url, data, format="json").status_code == 403
    assert (
        viewer.patch(f"/api/v1/conversations/{conversation.pk}", {"status": "closed"}, format="json").status_code == 403
    )
    assert hooks.telnyx.sent_messages == []


@pytest.mark.parametrize("count", [3, 12])
def test_list_runs_in_a_fixed_number_of_queries(world, count):
    from tests.conversations.factories import ConversationFactory

    ConversationFactory.create_batch(count, church=world.church)
    client = world.api_client("viewer")
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/conversations?filter=all")
    assert response.status_code == 200 and len(response.json()["results"]) == count
    assert len(queries) <= 4, [q["sql"] for q in queries]  # key lookup, key touch, page


def test_members_status_shows_in_the_list(hooks, world, member):
    hooks.telnyx_text(member.phone, "STOP")
    row = world.api_client("viewer").get("/api/v1/conversations").json()["results"][0]
    assert row["member"]["sms_status"] == SmsStatus.UNSUBSCRIBED
