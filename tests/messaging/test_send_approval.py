"""Send safety: an owner's rule holds large sends by staff for an admin's approval, on the compose page and
in the API alike; admins approve or reject (pages and API, with scopes), the people concerned are emailed
and told in the app, and every step is in the audit log. Another church's message is a 404; lower roles
are refused."""

import pytest
from django.core import mail

from churches.models import AuditLog, Member, Role
from messaging.broadcasts import services
from messaging.models import Message, SenderNumber
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def church(world):
    SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")
    MemberFactory.create_batch(4, church=world.church)
    world.church.approval_for_everyone = True
    world.church.approval_over = 2
    world.church.save(update_fields=["approval_for_everyone", "approval_over"])
    return world.church


@pytest.fixture
def prepared(monkeypatch):
    """Message ids handed to the prepare task (nothing is materialized in these tests)."""
    calls = []
    monkeypatch.setattr(services, "_enqueue_prepare", calls.append)
    return calls


def compose(client, **fields):
    data = {"audience_kind": "all", "when": "now", "idempotency_key": "", "send": "1", "confirmed": "yes", **fields}
    return client.post("/messages/new", data)


def held_message(world) -> Message:
    return services.message_send(
        church=world.church, author=world.staff, body="Hi {first_name}", audience={"all": True}, acting_role="staff"
    )


def test_a_staff_send_to_everyone_is_held_and_admins_are_emailed_and_notified(
    world, church, prepared, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = compose(world.page_client(Role.STAFF), body="Hello {first_name}")
    assert response.status_code == 302
    message = Message.objects.get(church=church)
    assert message.status == Message.Status.HELD
    assert prepared == []  # nothing goes to the pipeline while it waits
    assert sorted(m.to[0] for m in mail.outbox) == sorted([world.owner.email, world.admin.email])
    assert "awaits your approval" in mail.outbox[0].subject
    assert AuditLog.objects.filter(church=church, action="message.held", target_id=str(message.pk)).exists()
    # In the app: a notice on every page for owners and admins, not for staff.
    admin_page = world.page_client(Role.ADMIN).get("/dashboard/").content.decode()
    assert "1 message awaits your approval" in admin_page
    assert "awaits your approval" not in world.page_client(Role.STAFF).get("/dashboard/").content.decode()
    detail = world.page_client(Role.STAFF).get(f"/messages/{message.pk}/").content.decode()
    assert "Awaiting approval" in detail and "Approve and send" not in detail


def test_small_sends_and_admin_sends_are_not_held(world, church, prepared):
    two = list(Member.objects.for_church(church).values_list("pk", flat=True)[:2])
    small = services.message_send(
        church=church, author=world.staff, body="Hi", audience={"member_ids": two}, acting_role="staff"
    )
    assert small.status == Message.Status.QUEUED
    three = list(Member.objects.for_church(church).values_list("pk", flat=True)[:3])
    large = services.message_send(
        church=church, author=world.staff, body="Hi", audience={"member_ids": three}, acting_role="staff"
    )
    assert large.status == Message.Status.HELD
    by_admin = services.message_send(
        church=church, author=world.admin, body="Hi", audience={"all": True}, acting_role="admin"
    )
    assert by_admin.status == Message.Status.QUEUED
    system = services.message_send(church=church, author=None, body="Hi", audience={"all": True})
    assert system.status == Message.Status.QUEUED


def test_an_admin_approves_on_the_page_and_the_author_is_emailed(
    world, church, prepared, django_capture_on_commit_callbacks
):
    message = held_message(world)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = world.page_client(Role.ADMIN).post(f"/messages/{message.pk}/approve/")
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED
    assert message.approval_decided_by == world.admin and message.approval_decided_at is not None
    assert prepared == [message.pk]
    assert [m.to for m in mail.outbox] == [[world.staff.email]]
    assert "approved" in mail.outbox[0].subject
    assert AuditLog.objects.filter(church=church, action="message.approved", actor=world.admin).exists()
    assert "awaits your approval" not in world.page_client(Role.ADMIN).get("/dashboard/").content.decode()


def test_an_admin_rejects_with_a_reason(world, church, prepared, django_capture_on_commit_callbacks):
    message = held_message(world)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        world.page_client(Role.OWNER).post(f"/messages/{message.pk}/reject/", {"reason": "Wrong date"})
    message.refresh_from_db()
    assert message.status == Message.Status.REJECTED and message.is_finished
    assert "Wrong date" in message.status_detail
    assert prepared == []
    assert "Wrong date" in mail.outbox[0].body
    assert AuditLog.objects.filter(church=church, action="message.rejected", data__reason="Wrong date").exists()
    # Deciding twice is refused, not a second send.
    response = world.page_client(Role.ADMIN).post(f"/messages/{message.pk}/approve/", follow=True)
    assert "not awaiting approval" in response.content.decode()
    assert prepared == []


def test_staff_and_viewers_cannot_approve_and_another_church_is_a_404(world, other_world, church, prepared):
    message = held_message(world)
    for role in (Role.STAFF, Role.VIEWER):
        assert world.page_client(role).post(f"/messages/{message.pk}/approve/").status_code == 403
        assert world.page_client(role).post(f"/messages/{message.pk}/reject/").status_code == 403
    assert other_world.page_client(Role.OWNER).post(f"/messages/{message.pk}/approve/").status_code == 404
    assert other_world.page_client(Role.OWNER).post(f"/messages/{message.pk}/reject/").status_code == 404
    message.refresh_from_db()
    assert message.status == Message.Status.HELD


def test_the_api_holds_a_staff_keys_send_and_an_admin_key_approves(world, other_world, church, prepared):
    staff_api = world.api_client(Role.STAFF)
    response = staff_api.post("/api/v1/messages", {"body": "Hi all", "audience": {"all": True}}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "held"
    message_id = response.json()["id"]
    assert prepared == []
    # A staff key can't approve; another church's admin key sees a 404.
    assert staff_api.post(f"/api/v1/messages/{message_id}/approve").status_code == 403
    other = other_world.api_client(Role.ADMIN)
    assert other.post(f"/api/v1/messages/{message_id}/approve").status_code == 404
    admin_api = world.api_client(Role.ADMIN)
    response = admin_api.post(f"/api/v1/messages/{message_id}/approve")
    assert response.status_code == 200 and response.json()["status"] == "queued"
    assert prepared == [message_id]
    assert admin_api.post(f"/api/v1/messages/{message_id}/reject").status_code == 409


def test_the_api_rejects_and_admin_key_sends_are_not_held(world, church, prepared):
    message = held_message(world)
    admin_api = world.api_client(Role.ADMIN)
    response = admin_api.post(f"/api/v1/messages/{message.pk}/reject", {"reason": "x" * 501}, format="json")
    assert response.status_code == 400  # a field message, not a 500
    response = admin_api.post(f"/api/v1/messages/{message.pk}/reject", {"reason": "Not today"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "rejected"
    sent = admin_api.post("/api/v1/messages", {"body": "Hi", "audience": {"all": True}}, format="json")
    assert sent.json()["status"] == "queued"


def test_a_key_without_the_approve_scope_is_refused(world, church, prepared):
    from rest_framework.test import APIClient

    from churches import services as church_services

    message = held_message(world)
    _, raw = church_services.api_key_create(
        church=church, acting_user=None, name="no approve", role=Role.ADMIN, scopes=["messages:read", "messages:send"]
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.post(f"/api/v1/messages/{message.pk}/approve").status_code == 403


def test_only_owners_change_the_send_safety_setting(world, other_world):
    data = {"approval_for_everyone": "on", "approval_over": "250"}
    assert world.page_client(Role.ADMIN).post("/settings/send-safety/", data).status_code == 403
    assert world.page_client(Role.STAFF).post("/settings/send-safety/", data).status_code == 403
    response = world.page_client(Role.OWNER).post("/settings/send-safety/", {"approval_over": "0"})
    assert response.status_code == 400 and "errorlist" in response.content.decode()
    assert world.page_client(Role.OWNER).post("/settings/send-safety/", data).status_code == 302
    world.church.refresh_from_db()
    other_world.church.refresh_from_db()
    assert world.church.approval_for_everyone and world.church.approval_over == 250
    assert not other_world.church.approval_for_everyone and other_world.church.approval_over is None
    assert AuditLog.objects.filter(church=world.church, action="church.send_safety_changed").exists()
    page = world.page_client(Role.OWNER).get("/settings/").content.decode()
    assert "Send safety" in page and 'value="250"' in page


def test_compose_says_the_send_will_wait_for_approval(world, church):
    page = world.page_client(Role.STAFF).post(
        "/messages/new", {"body": "Hi", "audience_kind": "all", "when": "now", "send": "1"}
    )
    assert "An admin has to approve this send" in page.content.decode()  # the confirm step says so
