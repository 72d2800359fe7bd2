"""/api/v1/messages (send, schedule, preview, cancel, resend, recipients) and /api/v1/templates."""

from datetime import time, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from churches import services as church_services
from churches.models import Role, SmsStatus
from messaging.broadcasts import services
from messaging.models import Message, MessageTemplate, Recipient, SenderNumber
from tests.conftest import assert_error_shape, assert_other_church_404, assert_role_refused
from tests.factories import BranchFactory, GroupFactory, MemberFactory

pytestmark = pytest.mark.django_db

MESSAGE_FIELDS = {
    "id",
    "body",
    "media_urls",
    "audience",
    "status",
    "status_detail",
    "scheduled_at",
    "segments",
    "encoding",
    "counts",
    "resend_of",
    "created_at",
}
COUNT_KEYS = {"recipients", "queued", "sent", "delivered", "failed", "skipped"}


@pytest.fixture
def sender(world):
    return SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")


@pytest.fixture
def open_hours(world):
    world.church.quiet_hours_start = world.church.quiet_hours_end = time(0, 0)
    world.church.save(update_fields=["quiet_hours_start", "quiet_hours_end"])
    return world.church


@pytest.fixture
def staff(world):
    return world.api_client(Role.STAFF)


def post(client, url, data=None, **extra):
    return client.post(url, data if data is not None else {}, format="json", **extra)


def sent_message(world, capture, **kwargs):
    kwargs.setdefault("body", "Hello")
    kwargs.setdefault("audience", {"all": True})
    with capture(execute=True):
        message = services.message_send(church=world.church, author=world.staff, **kwargs)
    message.refresh_from_db()
    return message


# --- Sending ---------------------------------------------------------------------------------------


def test_send_to_everyone_reaches_subscribed_members_only_with_merge_fields(
    world, sender, open_hours, staff, django_capture_on_commit_callbacks, caplog
):
    ruth = MemberFactory(church=world.church, first_name="Ruth", last_name="Miller")
    MemberFactory.create_batch(2, church=world.church)
    opted_out = MemberFactory(church=world.church, sms_status=SmsStatus.UNSUBSCRIBED)
    never = MemberFactory(church=world.church, sms_status=SmsStatus.NEVER_CONSENTED)
    caplog.set_level("INFO", logger="messaging.providers.console")

    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            staff,
            "/api/v1/messages",
            {"body": "Hi {first_name} {last_name} of {church_name}", "audience": {"all": True}},
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == MESSAGE_FIELDS and set(body["counts"]) == COUNT_KEYS
    assert body["audience"] == {"all": True} and body["encoding"] == "GSM-7" and body["segments"] == 1

    detail = staff.get(f"/api/v1/messages/{body['id']}").json()
    assert detail["status"] == "sent"
    assert detail["counts"] == {"recipients": 3, "queued": 0, "sent": 0, "delivered": 3, "failed": 0, "skipped": 0}
    member_ids = {r["member_id"] for r in staff.get(f"/api/v1/messages/{body['id']}/recipients").json()["results"]}
    assert ruth.pk in member_ids and opted_out.pk not in member_ids and never.pk not in member_ids
    texts = [r.getMessage() for r in caplog.records]
    assert any(f"Hi Ruth Miller of {world.church.name}" in text for text in texts)
    assert not any("{first_name}" in text for text in texts)
    message = Message.objects.get(pk=body["id"])
    assert message.author is None and message.api_key is not None  # API-key sends are recorded as the key


def test_opted_out_members_never_receive_even_when_picked_by_id(
    world, sender, open_hours, staff, django_capture_on_commit_callbacks
):
    group = GroupFactory(church=world.church)
    subscribed = MemberFactory(church=world.church)
    opted_out = MemberFactory(church=world.church, sms_status=SmsStatus.UNSUBSCRIBED)
    church_services.group_members_add(church=world.church, group=group, member_ids=[subscribed.pk, opted_out.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            staff,
            "/api/v1/messages",
            {"body": "Hi", "audience": {"group_ids": [group.pk], "member_ids": [opted_out.pk, subscribed.pk]}},
        )
    assert response.status_code == 201
    assert list(Recipient.objects.filter(message_id=response.json()["id"]).values_list("member_id", flat=True)) == [
        subscribed.pk
    ]
    only_opted_out = post(staff, "/api/v1/messages", {"body": "Hi", "audience": {"member_ids": [opted_out.pk]}})
    assert "audience" in assert_error_shape(only_opted_out, 400)["details"]


def test_audience_mixes_are_deduplicated(world, sender, open_hours, staff, django_capture_on_commit_callbacks):
    branch = BranchFactory(church=world.church)
    group = GroupFactory(church=world.church)
    in_both = MemberFactory.create_batch(3, church=world.church, branch=branch)
    church_services.group_members_add(church=world.church, group=group, member_ids=[m.pk for m in in_both])
    MemberFactory(church=world.church)  # not in the audience
    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            staff,
            "/api/v1/messages",
            {
                "body": "Rehearsal",
                "audience": {"branch_ids": [branch.pk], "group_ids": [group.pk], "member_ids": [in_both[0].pk]},
            },
        )
    assert response.status_code == 201
    assert staff.get(f"/api/v1/messages/{response.json()['id']}").json()["counts"]["delivered"] == 3


def test_idempotency_key_returns_the_same_message(world, other_world, sender, staff):
    # The shared mechanism (koinonia/api/idempotency.py; every create is covered by
    # tests/koinonia/test_api_idempotency.py): the first answer replayed, nothing sent twice.
    MemberFactory.create_batch(2, church=world.church)
    headers = {"HTTP_IDEMPOTENCY_KEY": "5f0c6a8e-1d1b-4f7e-9d55-7a1a0f0e2b11"}
    first = post(staff, "/api/v1/messages", {"body": "Hi", "audience": {"all": True}}, **headers)
    again = post(staff, "/api/v1/messages", {"body": "Hi", "audience": {"all": True}}, **headers)
    assert first.status_code == 201 and again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Message.objects.filter(church=world.church).count() == 1
    # The same key with another body is refused, not silently answered with the first message.
    changed = post(staff, "/api/v1/messages", {"body": "Changed", "audience": {"all": True}}, **headers)
    assert_error_shape(changed, 422, "idempotency_key_reused")
    assert Message.objects.filter(church=world.church).count() == 1

    # Keys are per church: another church using the same key gets its own message.
    SenderNumber.objects.create(church=other_world.church, phone_number="+13125550199", provider="console")
    MemberFactory(church=other_world.church)
    theirs = post(
        other_world.api_client(Role.STAFF), "/api/v1/messages", {"body": "Hi", "audience": {"all": True}}, **headers
    )
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]

    error = assert_error_shape(
        post(staff, "/api/v1/messages", {"body": "Hi", "audience": {"all": True}}, HTTP_IDEMPOTENCY_KEY="k" * 129), 400
    )
    assert "Idempotency-Key" in error["details"]


def test_schedule_with_an_offset_and_refuse_naive_or_past_times(world, sender, staff):
    MemberFactory.create_batch(2, church=world.church)
    when = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    local = when.astimezone(world.church.tzinfo)
    response = post(
        staff, "/api/v1/messages", {"body": "Sunday!", "audience": {"all": True}, "scheduled_at": local.isoformat()}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "scheduled" and body["counts"]["recipients"] == 2
    assert Message.objects.get(pk=body["id"]).scheduled_at == when
    assert not Recipient.objects.filter(message_id=body["id"]).exists()  # materialized when due

    naive = post(
        staff, "/api/v1/messages", {"body": "x", "audience": {"all": True}, "scheduled_at": "2030-05-03T09:00:00"}
    )
    assert "offset" in assert_error_shape(naive, 400, "validation_error")["details"]["scheduled_at"][0]
    past = (timezone.now() - timedelta(hours=2)).isoformat()
    error = assert_error_shape(
        post(staff, "/api/v1/messages", {"body": "x", "audience": {"all": True}, "scheduled_at": past}), 400
    )
    assert "scheduled_at" in error["details"]
    garbage = post(staff, "/api/v1/messages", {"body": "x", "audience": {"all": True}, "scheduled_at": "tuesday"})
    assert "scheduled_at" in assert_error_shape(garbage, 400)["details"]
    assert Message.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"audience": {"all": True}}, "body"),
        ({"body": "", "audience": {"all": True}}, "body"),
        ({"body": "a" * 1601, "audience": {"all": True}}, "body"),
        ({"body": "hi"}, "audience"),
        ({"body": "hi", "audience": {}}, "audience"),
        ({"body": "hi", "audience": {"all": False}}, "audience"),
        ({"body": "hi", "audience": "everyone"}, "audience"),
        ({"body": "hi", "audience": {"group_ids": ["x"]}}, "audience"),
        ({"body": "hi", "audience": {"group_ids": [999999]}}, "audience"),
        ({"body": "hi", "audience": {"all": True}, "media_urls": ["not a url"]}, "media_urls"),
    ],
)
def test_bad_messages_are_400_with_field_details(world, sender, staff, payload, field):
    MemberFactory(church=world.church)
    error = assert_error_shape(post(staff, "/api/v1/messages", payload), 400)
    assert field in error["details"], error
    assert not Message.objects.exists()


def test_malformed_json_and_other_churches_ids_are_refused(world, other_world, sender, staff):
    MemberFactory(church=world.church)
    assert_error_shape(
        staff.generic("POST", "/api/v1/messages", data="{nope", content_type="application/json"),
        400,
        "malformed_request",
    )
    theirs = GroupFactory(church=other_world.church)
    error = assert_error_shape(
        post(staff, "/api/v1/messages", {"body": "hi", "audience": {"group_ids": [theirs.pk]}}), 400
    )
    assert "Unknown group" in error["details"]["audience"][0]
    assert not Message.objects.exists()


def test_no_sending_number_is_409(world, staff):
    MemberFactory(church=world.church)
    assert_error_shape(post(staff, "/api/v1/messages", {"body": "hi", "audience": {"all": True}}), 409, "no_sender")


def test_viewers_read_but_cannot_send(world, sender):
    MemberFactory(church=world.church)
    viewer = world.api_client(Role.VIEWER)
    assert viewer.get("/api/v1/messages").status_code == 200
    assert_role_refused(viewer, "/api/v1/messages", "post", {"body": "hi", "audience": {"all": True}})
    assert_role_refused(viewer, "/api/v1/messages/preview", "post", {"body": "hi"})
    assert not Message.objects.exists()


# --- Reading -------------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [2, 25])
def test_message_list_in_fixed_queries_newest_first_and_scoped(
    world, other_world, sender, rows, django_assert_max_num_queries
):
    MemberFactory(church=world.church)
    mine = [
        services.message_send(church=world.church, author=world.staff, body=f"m{i}", audience={"all": True})
        for i in range(rows)
    ]
    SenderNumber.objects.create(church=other_world.church, phone_number="+13125550199", provider="console")
    MemberFactory(church=other_world.church)
    services.message_send(church=other_world.church, author=None, body="theirs", audience={"all": True})
    client = world.api_client(Role.VIEWER)
    with django_assert_max_num_queries(3):  # key, last-used stamp, one page
        body = client.get("/api/v1/messages?page_size=100").json()
    assert [m["id"] for m in body["results"]] == [m.pk for m in reversed(mine)]
    assert set(body) == {"results", "next", "previous"}

    page = client.get("/api/v1/messages?page_size=1").json()
    assert len(page["results"]) == 1 and page["next"]
    assert client.get("/api/v1/messages?status=sent").json()["results"] == []
    assert len(client.get("/api/v1/messages?status=queued").json()["results"]) == rows
    assert "status" in assert_error_shape(client.get("/api/v1/messages?status=bogus"), 400)["details"]


def test_other_churches_messages_are_404_everywhere(world, other_world, sender, staff):
    SenderNumber.objects.create(church=other_world.church, phone_number="+13125550199", provider="console")
    MemberFactory(church=other_world.church)
    theirs = services.message_send(church=other_world.church, author=None, body="theirs", audience={"all": True})
    base = f"/api/v1/messages/{theirs.pk}"
    assert_other_church_404(staff, base)
    assert_other_church_404(staff, f"{base}/recipients")
    assert_other_church_404(staff, f"{base}/cancel", "post", {})
    assert_other_church_404(staff, f"{base}/resend-failed", "post", {})
    assert_error_shape(staff.get("/api/v1/messages/999999"), 404, "not_found")
    theirs.refresh_from_db()
    assert theirs.status == "queued"


@pytest.mark.parametrize("rows", [3, 12])
def test_recipients_with_status_filter_phones_and_fixed_queries(
    world, sender, open_hours, settings, rows, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    members = MemberFactory.create_batch(rows, church=world.church)
    message = sent_message(world, django_capture_on_commit_callbacks)
    failed = members[0]
    Recipient.objects.filter(message=message, member=failed).update(
        status="failed", error_code="30003", error_reason="The phone is off or unreachable.", failed_at=timezone.now()
    )
    client = world.api_client(Role.VIEWER)
    url = f"/api/v1/messages/{message.pk}/recipients"
    with django_assert_max_num_queries(4):  # key, last-used stamp, the message, one page
        body = client.get(f"{url}?page_size=500").json()
    assert len(body["results"]) == rows
    row = next(r for r in body["results"] if r["member_id"] == failed.pk)
    assert set(row) == {
        "id",
        "member_id",
        "phone",
        "status",
        "error_code",
        "error_reason",
        "attempts",
        "queued_at",
        "sent_at",
        "delivered_at",
        "failed_at",
    }
    assert row["phone"] == failed.phone and row["phone"].startswith("+1")
    assert row["status"] == "failed" and row["error_reason"] == "The phone is off or unreachable."

    only_failed = client.get(f"{url}?status=failed").json()["results"]
    assert [r["member_id"] for r in only_failed] == [failed.pk]
    first = client.get(f"{url}?page_size=2").json()
    second = client.get(first["next"]).json()
    assert [r["id"] for r in first["results"]] < [r["id"] for r in second["results"]]
    assert "status" in assert_error_shape(client.get(f"{url}?status=lost"), 400)["details"]


# --- Cancel and resend -----------------------------------------------------------------------------


def test_cancel_a_scheduled_message_then_409(world, sender, staff):
    MemberFactory.create_batch(2, church=world.church)
    message = services.message_send(
        church=world.church,
        author=None,
        body="Later",
        audience={"all": True},
        scheduled_at=timezone.now() + timedelta(hours=3),
    )
    assert_role_refused(world.api_client(Role.VIEWER), f"/api/v1/messages/{message.pk}/cancel")
    response = post(staff, f"/api/v1/messages/{message.pk}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "canceled"
    assert_error_shape(post(staff, f"/api/v1/messages/{message.pk}/cancel"), 409, "conflict")


def test_cancel_mid_send_skips_what_is_still_queued(world, sender, open_hours, staff):
    MemberFactory.create_batch(4, church=world.church)
    message = services.message_send(church=world.church, author=None, body="Hi", audience={"all": True})
    services.message_prepare(message_id=message.pk)  # materialized, nothing sent yet
    body = post(staff, f"/api/v1/messages/{message.pk}/cancel").json()
    assert body["status"] == "canceled" and body["counts"]["skipped"] == 4 and body["counts"]["queued"] == 0


def test_resend_to_failed(world, sender, open_hours, settings, staff, django_capture_on_commit_callbacks):
    MemberFactory.create_batch(3, church=world.church)
    settings.CONSOLE_SMS_FAILURE_RATE = 1.0
    message = sent_message(world, django_capture_on_commit_callbacks)
    assert message.failed_count == 3
    settings.CONSOLE_SMS_FAILURE_RATE = 0.0
    assert_role_refused(world.api_client(Role.VIEWER), f"/api/v1/messages/{message.pk}/resend-failed")
    with django_capture_on_commit_callbacks(execute=True):
        response = post(staff, f"/api/v1/messages/{message.pk}/resend-failed")
    assert response.status_code == 201 and response.json()["resend_of"] == message.pk
    assert staff.get(f"/api/v1/messages/{response.json()['id']}").json()["counts"]["delivered"] == 3
    assert_error_shape(post(staff, f"/api/v1/messages/{response.json()['id']}/resend-failed"), 409, "conflict")


# --- Preview -------------------------------------------------------------------------------------


def test_preview_counts_segments_and_offers_the_smart_quote_fix_without_side_effects(world, staff):
    group = GroupFactory(church=world.church)
    members = MemberFactory.create_batch(3, church=world.church)
    MemberFactory(church=world.church, sms_status=SmsStatus.UNSUBSCRIBED)
    church_services.group_members_add(church=world.church, group=group, member_ids=[m.pk for m in members[:2]])
    text = "We’re meeting at 6 — bring a friend 🙂 " + "x" * 40
    response = post(staff, "/api/v1/messages/preview", {"body": text, "audience": {"group_ids": [group.pk]}})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["recipients"] == 2 and body["encoding"] == "UCS-2" and body["segments"] == 2
    assert body["total_segments"] == 4
    assert body["non_gsm_chars"] == ["’", "—", "🙂"] and body["replaceable_chars"] == ["’", "—"]
    assert body["fixed_body"] == "We're meeting at 6 - bring a friend 🙂 " + "x" * 40
    assert body["problems"] == {} and body["needs_confirmation"] is False

    everyone = post(staff, "/api/v1/messages/preview", {"body": "Plain text", "audience": {"all": True}}).json()
    assert everyone["recipients"] == 3 and everyone["encoding"] == "GSM-7" and everyone["segments"] == 1
    assert everyone["needs_confirmation"] is True and everyone["non_gsm_chars"] == []

    text_only = post(staff, "/api/v1/messages/preview", {"body": "Hi {first_name}"}).json()
    assert text_only["recipients"] is None and text_only["total_segments"] is None

    problems = post(staff, "/api/v1/messages/preview", {"body": "", "audience": {"group_ids": [999999]}}).json()[
        "problems"
    ]
    assert set(problems) == {"body", "audience"}
    assert not Message.objects.exists()
    assert (
        "body"
        in assert_error_shape(post(staff, "/api/v1/messages/preview", {"audience": {"all": True}}), 400)["details"]
    )


def test_the_compose_page_can_preview_with_its_session_and_csrf_token(world):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world.staff)
    assert_error_shape(post(client, "/api/v1/messages/preview", {"body": "Hi"}), 403)
    token = client.get("/messages/new").cookies["csrftoken"].value
    response = post(client, "/api/v1/messages/preview", {"body": "Hi"}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and response.json()["segments"] == 1


# --- Templates -----------------------------------------------------------------------------------


def test_template_crud_for_staff(world):
    client = world.api_client(Role.STAFF)
    created = post(client, "/api/v1/templates", {"name": "Welcome", "body": "Hi {first_name}!"})
    assert created.status_code == 201, created.content
    template = created.json()
    assert set(template) == {"id", "name", "body", "created_at", "updated_at"}
    url = f"/api/v1/templates/{template['id']}"
    assert client.get(url).json()["body"] == "Hi {first_name}!"
    edited = client.patch(url, {"body": "Welcome, {first_name}!"}, format="json")
    assert edited.status_code == 200 and edited.json()["name"] == "Welcome"
    assert edited.json()["body"] == "Welcome, {first_name}!"
    assert client.delete(url).status_code == 204
    assert not MessageTemplate.objects.exists()
    assert_error_shape(client.get(url), 404)


def test_bad_template_input(world):
    client = world.api_client(Role.STAFF)
    services.template_create(church=world.church, acting_user=None, name="Welcome", body="Hi")
    assert "name" in assert_error_shape(post(client, "/api/v1/templates", {"body": "Hi"}), 400)["details"]
    assert "name" in assert_error_shape(post(client, "/api/v1/templates", {"name": " ", "body": "Hi"}), 400)["details"]
    assert "body" in assert_error_shape(post(client, "/api/v1/templates", {"name": "A", "body": ""}), 400)["details"]
    assert_error_shape(post(client, "/api/v1/templates", {"name": "welcome", "body": "Hi"}), 409, "conflict")
    assert_error_shape(
        client.generic("POST", "/api/v1/templates", data="[", content_type="application/json"), 400, "malformed_request"
    )
    assert MessageTemplate.objects.count() == 1


@pytest.mark.parametrize("rows", [2, 20])
def test_template_list_roles_scope_and_queries(world, other_world, rows, django_assert_max_num_queries):
    for i in range(rows):
        services.template_create(church=world.church, acting_user=None, name=f"T{i:02d}", body="Hi")
    theirs = services.template_create(church=other_world.church, acting_user=None, name="Theirs", body="Hi")
    viewer = world.api_client(Role.VIEWER)
    with django_assert_max_num_queries(3):  # key, last-used stamp, one page
        body = viewer.get("/api/v1/templates").json()
    assert [t["name"] for t in body["results"]] == [f"T{i:02d}" for i in range(rows)]
    mine = body["results"][0]["id"]
    assert_role_refused(viewer, "/api/v1/templates", "post", {"name": "New", "body": "Hi"})
    assert_role_refused(viewer, f"/api/v1/templates/{mine}", "patch", {"name": "New"})
    assert_role_refused(viewer, f"/api/v1/templates/{mine}", "delete")

    staff = world.api_client(Role.STAFF)
    assert_other_church_404(staff, f"/api/v1/templates/{theirs.pk}")
    assert_other_church_404(staff, f"/api/v1/templates/{theirs.pk}", "patch", {"name": "Mine"})
    assert_other_church_404(staff, f"/api/v1/templates/{theirs.pk}", "delete")
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"
