"""The church's welcome text: sent to new members who consented (added by staff, through the API one at a
time or in bulk), only when the church wrote one, once per member ever, through the normal broadcast
path."""

from datetime import time

import pytest

from churches import services as church_services
from churches.models import ConsentEvent, Role, SmsStatus
from koinonia.models import TaskFailure
from messaging.broadcasts import tasks
from messaging.models import Message, Recipient, SenderNumber, WelcomeSent

pytestmark = pytest.mark.django_db

WELCOME = "Welcome to Grace Chapel, {first_name}! Reply STOP to opt out."


@pytest.fixture
def church(world):
    world.church.welcome_text = WELCOME
    world.church.quiet_hours_start = world.church.quiet_hours_end = time(0, 0)
    world.church.save()
    SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")
    return world.church


def add_member(world, capture, phone="+13125550142", consent="Signed the connect card", **kwargs):
    with capture(execute=True):
        return church_services.member_create(
            church=world.church, acting_user=world.staff, phone=phone, first_name="Ruth", consent=consent, **kwargs
        )


def welcomes(world) -> list[Message]:
    return list(Message.objects.filter(church=world.church, idempotency_key__startswith="welcome:").order_by("id"))


def test_a_member_added_by_staff_with_consent_is_welcomed_once(world, church, django_capture_on_commit_callbacks):
    member = add_member(world, django_capture_on_commit_callbacks)
    [message] = welcomes(world)
    assert message.body == WELCOME and message.audience == {"member_ids": [member.pk]}
    assert message.idempotency_key == f"welcome:{member.pk}"
    recipient = Recipient.objects.get(message=message)
    assert recipient.member_id == member.pk and recipient.status == "delivered"
    assert WelcomeSent.objects.get(member=member).message == message

    # A retried task and a repeated announcement change nothing.
    tasks.send_welcome(world.church.pk, [member.pk])
    with django_capture_on_commit_callbacks(execute=True):
        church_services.consent_record(
            church=world.church, member=member, kind="opt_in", source="staff", raw_text="again"
        )
    assert len(welcomes(world)) == 1


def test_opting_out_and_back_in_brings_no_second_welcome(world, church, django_capture_on_commit_callbacks):
    member = add_member(world, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        church_services.consent_record(church=world.church, member=member, kind="opt_out", source="keyword")
        church_services.consent_record(church=world.church, member=member, kind="opt_in", source="keyword")
    member.refresh_from_db()
    assert member.sms_status == SmsStatus.SUBSCRIBED
    assert len(welcomes(world)) == 1


def test_no_welcome_without_consent_or_without_a_welcome_text(world, church, django_capture_on_commit_callbacks):
    member = add_member(world, django_capture_on_commit_callbacks, consent="")
    assert welcomes(world) == []
    # Consent given later (the first opt-in) brings the welcome.
    with django_capture_on_commit_callbacks(execute=True):
        church_services.consent_record(
            church=world.church, member=member, kind="opt_in", source="staff", raw_text="Said yes at the door"
        )
    assert [m.audience for m in welcomes(world)] == [{"member_ids": [member.pk]}]

    world.church.welcome_text = ""
    world.church.save(update_fields=["welcome_text"])
    add_member(world, django_capture_on_commit_callbacks, phone="+13125550143")
    assert len(welcomes(world)) == 1


def test_members_who_texted_in_are_answered_in_their_conversation_not_by_a_broadcast(
    world, church, django_capture_on_commit_callbacks
):
    member = add_member(world, django_capture_on_commit_callbacks, consent="")
    with django_capture_on_commit_callbacks(execute=True):
        church_services.consent_record(
            church=world.church, member=member, kind="opt_in", source=ConsentEvent.Source.KEYWORD, raw_text="START"
        )
    assert welcomes(world) == []


def test_members_added_through_the_api_one_by_one_and_in_bulk(world, church, django_capture_on_commit_callbacks):
    client = world.api_client(Role.STAFF)
    with django_capture_on_commit_callbacks(execute=True):
        one = client.post(
            "/api/v1/members", {"phone": "+13125550150", "first_name": "Ann", "consent": "Web form"}, format="json"
        )
    assert one.status_code == 201, one.content
    rows = [{"phone": f"+1312555016{n}", "first_name": f"B{n}"} for n in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        bulk = client.post("/api/v1/members/bulk", {"members": rows, "consent": "Sign-up sheet"}, format="json")
    assert bulk.status_code == 200, bulk.content
    bulk_ids = sorted(row["id"] for row in bulk.json()["results"])
    assert [m.audience for m in welcomes(world)] == [{"member_ids": [one.json()["id"]]}, {"member_ids": bulk_ids}]
    assert welcomes(world)[1].recipient_count == 3

    # The same batch again (already subscribed, already welcomed): nothing new.
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/api/v1/members/bulk", {"members": rows, "consent": "Sign-up sheet"}, format="json")
    assert len(welcomes(world)) == 2


def test_a_welcome_that_cannot_be_sent_fails_its_task_and_nobody_is_marked_welcomed(
    world, church, django_capture_on_commit_callbacks
):
    SenderNumber.objects.filter(church=world.church).delete()
    member = add_member(world, django_capture_on_commit_callbacks)
    assert member.sms_status == SmsStatus.SUBSCRIBED  # adding the member is unaffected
    assert welcomes(world) == [] and not WelcomeSent.objects.exists()
    # In a worker the task fails (and is recorded for support, see test_jobs); it can be run again.
    result = tasks.send_welcome.apply(args=(world.church.pk, [member.pk]), throw=False)
    assert result.failed() and "no sending number" in str(result.result)
    assert (
        "no sending number"
        in TaskFailure.objects.get(task_name="messaging.broadcasts.tasks.send_welcome").exception_message
    )
    SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")
    tasks.send_welcome(world.church.pk, [member.pk])
    assert [m.audience for m in welcomes(world)] == [{"member_ids": [member.pk]}]


def test_members_added_by_a_csv_import_are_welcomed_once(world, church, django_capture_on_commit_callbacks):
    from tests.churches.test_import import csv_bytes, import_file

    data = csv_bytes("Ruth,Miller,(312) 555-0161,,", "Boaz,Miller,(312) 555-0162,,")
    import_file(world, django_capture_on_commit_callbacks, data)
    assert sum(m.recipient_count for m in welcomes(world)) == 2  # one welcome broadcast per import chunk
    import_file(world, django_capture_on_commit_callbacks, data)  # the same file again: nobody new
    assert sum(m.recipient_count for m in welcomes(world)) == 2
