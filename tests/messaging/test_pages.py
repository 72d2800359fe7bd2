"""Staff pages under /messages/: list, compose (preview, confirm step, scheduling in the church's time
zone), detail with progress and recipients, cancel, resend, templates."""

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.utils import timezone

from churches import services as church_services
from churches.models import Role, SmsStatus
from messaging.broadcasts import selectors, services
from messaging.models import Message, MessageTemplate, Recipient, SenderNumber
from tests.factories import GroupFactory, MemberFactory

pytestmark = pytest.mark.django_db


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
    return world.page_client(Role.STAFF)


def group_of(world, size, **member_kwargs):
    group = GroupFactory(church=world.church)
    members = MemberFactory.create_batch(size, church=world.church, **member_kwargs)
    church_services.group_members_add(church=world.church, group=group, member_ids=[m.pk for m in members])
    return group, members


def compose(client, **fields):
    data = {"audience_kind": "all", "when": "now", "idempotency_key": "", "send": "1", **fields}
    return client.post("/messages/new", data)


def their_message(other_world):
    SenderNumber.objects.create(church=other_world.church, phone_number="+13125550199", provider="console")
    MemberFactory(church=other_world.church)
    return services.message_send(church=other_world.church, author=None, body="Theirs", audience={"all": True})


# --- List ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [2, 25])
def test_message_list_in_fixed_queries_and_scoped(world, other_world, sender, rows, django_assert_max_num_queries):
    MemberFactory(church=world.church)
    for i in range(rows):
        services.message_send(church=world.church, author=world.staff, body=f"Notice {i}", audience={"all": True})
    their_message(other_world)
    client = world.page_client(Role.VIEWER)
    with django_assert_max_num_queries(6):  # session, user, membership + church, one page, base nav, unread badge
        response = client.get("/messages/")
    assert response.status_code == 200
    page = response.content.decode()
    assert f"Notice {rows - 1}" in page and "Theirs" not in page
    assert "New message" not in page  # viewers can't send
    assert client.get("/messages/?status=sent").content.decode().count("Notice") == 0


def test_message_list_pages_with_older_link(world, sender, monkeypatch):
    monkeypatch.setattr("messaging.broadcasts.views.PAGE_SIZE", 2)
    MemberFactory(church=world.church)
    made = [
        services.message_send(church=world.church, author=world.staff, body=f"Notice {i}", audience={"all": True})
        for i in range(3)
    ]
    client = world.page_client(Role.VIEWER)
    first = client.get("/messages/")
    assert first.context["next_before"] == made[1].pk
    older = client.get(f"/messages/?before={made[1].pk}").content.decode()
    assert "Notice 0" in older and "Notice 2" not in older


def test_pages_need_sign_in(client):
    assert client.get("/messages/").status_code == 302
    assert client.get("/messages/new").status_code == 302


# --- Compose -------------------------------------------------------------------------------------


def test_compose_page_for_staff_only_with_a_template_to_start_from(world, other_world):
    template = services.template_create(church=world.church, acting_user=None, name="Welcome", body="Hi {first_name}!")
    theirs = services.template_create(church=other_world.church, acting_user=None, name="Theirs", body="x")
    assert world.page_client(Role.VIEWER).get("/messages/new").status_code == 403
    response = world.page_client(Role.STAFF).get(f"/messages/new?template={template.pk}")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Hi {first_name}!</textarea>" in page and 'data-preview-url="/api/v1/messages/preview"' in page
    assert 'name="idempotency_key"' in page and "America/Chicago" in page
    assert world.page_client(Role.STAFF).get(f"/messages/new?template={theirs.pk}").status_code == 404
    MemberFactory.create_batch(2, church=world.church)
    fresh = world.page_client(Role.STAFF).get("/messages/new")
    assert fresh.context["preview"].recipients == 2  # everyone, the form's default
    assert "Write a message" not in fresh.content.decode()  # nothing typed yet is not an error


def test_send_now_to_a_group_with_merge_fields_skips_opted_out(
    world, sender, open_hours, staff, django_capture_on_commit_callbacks, caplog
):
    group, members = group_of(world, 2)
    opted_out = MemberFactory(church=world.church, sms_status=SmsStatus.UNSUBSCRIBED, first_name="Zed")
    church_services.group_members_add(church=world.church, group=group, member_ids=[opted_out.pk])
    caplog.set_level("INFO", logger="messaging.providers.console")
    with django_capture_on_commit_callbacks(execute=True):
        response = compose(
            staff, body="Hello {first_name} from {church_name}", audience_kind="some", group_ids=[group.pk]
        )
    message = Message.objects.get()
    assert response.status_code == 302 and response.url == f"/messages/{message.pk}/"
    message.refresh_from_db()
    assert message.author == world.staff and message.audience == {"group_ids": [group.pk]}
    assert message.counts["delivered"] == 2
    assert not Recipient.objects.filter(member=opted_out).exists()
    texts = [r.getMessage() for r in caplog.records]
    assert any(f"Hello {members[0].first_name} from {world.church.name}" in t for t in texts)
    assert not any("Hello Zed" in t for t in texts)


def test_everyone_needs_the_confirm_step(world, sender, open_hours, staff, django_capture_on_commit_callbacks):
    MemberFactory.create_batch(2, church=world.church)
    fields = {"body": "Picnic Sunday", "audience_kind": "all", "idempotency_key": "page-key-1"}
    response = compose(staff, **fields)
    assert response.status_code == 200 and "Check before sending" in response.content.decode()
    assert response.context["preview"].recipients == 2
    assert not Message.objects.exists()

    back = compose(staff, **fields, edit="1")
    assert "Picnic Sunday</textarea>" in back.content.decode() and not Message.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        sent = compose(staff, **fields, confirmed="yes")
    assert sent.status_code == 302 and Message.objects.get().counts["delivered"] == 2
    # A double-click on "Yes" (the same form key) doesn't send twice.
    again = compose(staff, **fields, confirmed="yes")
    assert again.status_code == 302 and Message.objects.count() == 1


def test_large_audiences_need_the_confirm_step(world, sender, staff, monkeypatch):
    monkeypatch.setattr(selectors, "DEFAULT_CONFIRM_THRESHOLD", 2)
    small, _ = group_of(world, 2)
    large, _ = group_of(world, 3)
    response = compose(staff, body="Hi", audience_kind="some", group_ids=[large.pk])
    assert "Check before sending" in response.content.decode() and not Message.objects.exists()
    assert compose(staff, body="Hi", audience_kind="some", group_ids=[small.pk]).status_code == 302
    assert Message.objects.count() == 1


def test_schedule_reads_the_time_in_the_churchs_time_zone(world, sender, staff):
    MemberFactory(church=world.church)
    group, _ = group_of(world, 1)
    with time_machine.travel(datetime(2026, 3, 1, 18, 0, tzinfo=UTC), tick=False):
        # March 10 is after the DST change: 09:30 in Chicago is 14:30 UTC (CDT, UTC-5).
        response = compose(
            staff,
            body="Board meeting",
            audience_kind="some",
            group_ids=[group.pk],
            when="later",
            scheduled_for="2026-03-10T09:30",
        )
        assert response.status_code == 302, response.content.decode()[:2000]
        message = Message.objects.get()
        assert message.status == "scheduled"
        assert message.scheduled_at == datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
        detail = staff.get(f"/messages/{message.pk}/").content.decode()
        assert "Mar 10, 2026 9:30 AM" in detail

        # 02:30 on March 8 doesn't exist in Chicago (clocks jump from 2:00 to 3:00).
        gap = compose(
            staff, body="x", audience_kind="some", group_ids=[group.pk], when="later", scheduled_for="2026-03-08T02:30"
        )
        assert gap.status_code == 400 and "scheduled_for" in gap.context["form"].errors
        past = compose(
            staff, body="x", audience_kind="some", group_ids=[group.pk], when="later", scheduled_for="2026-02-27T09:00"
        )
        assert past.status_code == 400 and "already passed" in past.context["form"].errors["scheduled_for"][0]
        missing = compose(staff, body="x", audience_kind="some", group_ids=[group.pk], when="later")
        assert "scheduled_for" in missing.context["form"].errors
    assert Message.objects.count() == 1


def test_compose_shows_errors_instead_of_sending(world, other_world, staff):
    MemberFactory(church=world.church)
    no_sender = compose(staff, body="Hi", audience_kind="some", member_ids=[MemberFactory(church=world.church).pk])
    assert no_sender.status_code == 409 and "no sending number" in no_sender.content.decode()
    SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")
    empty = compose(staff, body="   ", audience_kind="some", group_ids=[group_of(world, 1)[0].pk])
    assert empty.status_code == 400 and "body" in empty.context["form"].errors
    nobody = compose(staff, body="Hi", audience_kind="some")
    assert nobody.status_code == 400 and "audience_kind" in nobody.context["form"].errors
    their_group = GroupFactory(church=other_world.church)
    theirs = compose(staff, body="Hi", audience_kind="some", group_ids=[their_group.pk])
    assert theirs.status_code == 400 and "group_ids" in theirs.context["form"].errors
    their_member = MemberFactory(church=other_world.church)
    theirs = compose(staff, body="Hi", audience_kind="some", member_ids=[their_member.pk])
    assert theirs.status_code == 400 and "Unknown member" in theirs.content.decode()
    assert compose(staff, body="Hi", audience_kind="some", member_ids=["abc"]).status_code == 400
    assert not Message.objects.exists()


def test_helper_buttons_fix_smart_quotes_and_find_members_without_javascript(world, other_world, staff):
    ruth = MemberFactory(church=world.church, first_name="Ruth", last_name="Miller")
    MemberFactory(church=other_world.church, first_name="Ruth", last_name="Other")
    fixed = compose(staff, body="We’re “here” — come", fix_smart="1")
    assert fixed.status_code == 200 and fixed.context["form"].initial["body"] == 'We\'re "here" - come'
    assert fixed.context["preview"].encoding == "GSM-7"
    assert not fixed.context["form"].errors

    found = compose(staff, body="", audience_kind="some", member_q="ruth", find_members="1")
    assert [m["id"] for m in found.context["found_members"]] == [ruth.pk]
    assert "Ruth Miller" in found.content.decode() and "Ruth Other" not in found.content.decode()
    picked = compose(staff, body="Hi", audience_kind="some", member_ids=[ruth.pk], find_members="1")
    assert [m["id"] for m in picked.context["picked_members"]] == [ruth.pk]
    assert picked.context["preview"].recipients == 1
    assert not Message.objects.exists()


def test_member_search_json(world, other_world, staff):
    ruth = MemberFactory(church=world.church, first_name="Ruth", last_name="Miller")
    MemberFactory(church=world.church, first_name="Ruth", sms_status=SmsStatus.UNSUBSCRIBED)
    MemberFactory(church=other_world.church, first_name="Ruth")
    results = staff.get("/messages/new/members.json?q=ru").json()["results"]
    assert len(results) == 2 and {"id": ruth.pk, "name": "Ruth Miller", "subscribed": True} in results
    assert staff.get("/messages/new/members.json").json() == {"results": []}
    assert world.page_client(Role.VIEWER).get("/messages/new/members.json?q=ru").status_code == 403


# --- Detail, progress, cancel, resend ------------------------------------------------------------


@pytest.mark.parametrize("rows", [3, 12])
def test_detail_in_fixed_queries_with_recipients_and_failures(
    world, sender, open_hours, rows, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    members = MemberFactory.create_batch(rows, church=world.church)
    with django_capture_on_commit_callbacks(execute=True):
        message = services.message_send(church=world.church, author=world.staff, body="Hi", audience={"all": True})
    Recipient.objects.filter(message=message, member=members[0]).update(
        status="failed", error_code="30006", error_reason="This number is a landline.", failed_at=timezone.now()
    )
    client = world.page_client(Role.VIEWER)
    with django_assert_max_num_queries(7):  # session, user, membership + church, message, recipients, nav, unread badge
        response = client.get(f"/messages/{message.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert members[1].full_name in page and members[1].phone in page
    assert "This number is a landline." in page and 'role="progressbar"' in page
    assert "Cancel sending" not in page  # viewers see no buttons

    failed = client.get(f"/messages/{message.pk}/?status=failed")
    assert [r.member_id for r in failed.context["recipients"]] == [members[0].pk]


def test_detail_pages_recipients(world, sender, open_hours, monkeypatch):
    monkeypatch.setattr("messaging.broadcasts.views.PAGE_SIZE", 2)
    MemberFactory.create_batch(3, church=world.church)
    message = services.message_send(church=world.church, author=None, body="Hi", audience={"all": True})
    services.message_prepare(message_id=message.pk)
    client = world.page_client(Role.VIEWER)
    first = client.get(f"/messages/{message.pk}/")
    assert len(first.context["recipients"]) == 2 and first.context["next_after"]
    rest = client.get(f"/messages/{message.pk}/?after={first.context['next_after']}")
    assert len(rest.context["recipients"]) == 1 and rest.context["next_after"] is None


def test_progress_json_and_other_churches_are_404(world, other_world, sender, open_hours):
    MemberFactory.create_batch(4, church=world.church)
    message = services.message_send(church=world.church, author=None, body="Hi", audience={"all": True})
    services.message_prepare(message_id=message.pk)
    Recipient.objects.filter(message=message).order_by("id").first()
    Message.objects.filter(pk=message.pk).update(queued_count=2, delivered_count=1, failed_count=1)
    client = world.page_client(Role.VIEWER)
    data = client.get(f"/messages/{message.pk}/progress.json").json()
    assert data["status"] == "sending" and data["is_finished"] is False and data["can_cancel"] is True
    assert data["counts"]["delivered"] == 1 and data["widths"]["delivered"] == 25.0 and data["percent_done"] == 50

    theirs = their_message(other_world)
    staff = world.page_client(Role.STAFF)
    assert staff.get(f"/messages/{theirs.pk}/").status_code == 404
    assert staff.get(f"/messages/{theirs.pk}/progress.json").status_code == 404
    assert staff.post(f"/messages/{theirs.pk}/cancel/").status_code == 404
    assert staff.post(f"/messages/{theirs.pk}/resend-failed/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "queued"


def test_cancel_button(world, sender, staff):
    MemberFactory.create_batch(2, church=world.church)
    message = services.message_send(
        church=world.church,
        author=None,
        body="Later",
        audience={"all": True},
        scheduled_at=timezone.now() + timedelta(hours=1),
    )
    page = staff.get(f"/messages/{message.pk}/").content.decode()
    assert "Cancel sending" in page
    assert world.page_client(Role.VIEWER).post(f"/messages/{message.pk}/cancel/").status_code == 403
    response = staff.post(f"/messages/{message.pk}/cancel/", follow=True)
    assert "Canceled" in response.content.decode()
    message.refresh_from_db()
    assert message.status == "canceled"
    again = staff.post(f"/messages/{message.pk}/cancel/", follow=True)
    assert "already canceled" in again.content.decode()


def test_resend_to_failed_button(world, sender, open_hours, settings, staff, django_capture_on_commit_callbacks):
    MemberFactory.create_batch(2, church=world.church)
    settings.CONSOLE_SMS_FAILURE_RATE = 1.0
    with django_capture_on_commit_callbacks(execute=True):
        message = services.message_send(church=world.church, author=None, body="Hi", audience={"all": True})
    settings.CONSOLE_SMS_FAILURE_RATE = 0.0
    assert "Resend to failed" in staff.get(f"/messages/{message.pk}/").content.decode()
    assert world.page_client(Role.VIEWER).post(f"/messages/{message.pk}/resend-failed/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(f"/messages/{message.pk}/resend-failed/")
    resent = Message.objects.get(resend_of=message)
    assert response.status_code == 302 and response.url == f"/messages/{resent.pk}/"
    resent.refresh_from_db()
    assert resent.counts["delivered"] == 2
    nothing = staff.post(f"/messages/{resent.pk}/resend-failed/", follow=True)
    assert "No failed texts" in nothing.content.decode()


# --- Templates -----------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [2, 20])
def test_template_list_in_fixed_queries(world, other_world, rows, django_assert_max_num_queries):
    for i in range(rows):
        services.template_create(church=world.church, acting_user=world.staff, name=f"T{i:02d}", body="Hi")
    services.template_create(church=other_world.church, acting_user=None, name="Theirs", body="Hi")
    client = world.page_client(Role.VIEWER)
    with django_assert_max_num_queries(6):  # ... and the unread badge
        response = client.get("/messages/templates/")
    page = response.content.decode()
    assert response.status_code == 200 and "T01" in page and "Theirs" not in page and "New template" not in page


def test_template_pages_create_edit_delete(world, other_world, staff):
    assert world.page_client(Role.VIEWER).get("/messages/templates/new/").status_code == 403
    assert staff.post("/messages/templates/new/", {"name": "Welcome", "body": "Hi {first_name}"}).status_code == 302
    template = MessageTemplate.objects.get(church=world.church)
    duplicate = staff.post("/messages/templates/new/", {"name": "welcome", "body": "Hi"})
    assert duplicate.status_code == 400 and "already a template" in duplicate.content.decode()
    assert staff.post("/messages/templates/new/", {"name": "", "body": "Hi"}).status_code == 400

    assert staff.get(f"/messages/templates/{template.pk}/edit/").status_code == 200
    assert staff.post(f"/messages/templates/{template.pk}/edit/", {"name": "Hello", "body": "Hey"}).status_code == 302
    template.refresh_from_db()
    assert (template.name, template.body) == ("Hello", "Hey")
    assert world.page_client(Role.VIEWER).post(f"/messages/templates/{template.pk}/delete/").status_code == 403

    theirs = services.template_create(church=other_world.church, acting_user=None, name="Theirs", body="x")
    assert staff.get(f"/messages/templates/{theirs.pk}/edit/").status_code == 404
    assert staff.post(f"/messages/templates/{theirs.pk}/edit/", {"name": "Mine", "body": "x"}).status_code == 404
    assert staff.post(f"/messages/templates/{theirs.pk}/delete/").status_code == 404

    assert staff.post(f"/messages/templates/{template.pk}/delete/").status_code == 302
    assert not MessageTemplate.objects.filter(church=world.church).exists()
    assert MessageTemplate.objects.filter(pk=theirs.pk).exists()
