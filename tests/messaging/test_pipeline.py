"""The broadcast pipeline end to end (console provider, eager tasks): materialize, send, deliver."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from churches import services as church_services
from churches.models import SmsStatus
from koinonia.exceptions import BusinessRuleError
from messaging.broadcasts import services, tasks
from messaging.broadcasts.quiet_hours import next_send_time
from messaging.models import Message, Recipient, SenderNumber
from tests.factories import GroupFactory, MemberFactory

pytestmark = pytest.mark.django_db

ALWAYS_OPEN = {"quiet_hours_start": time(0, 0), "quiet_hours_end": time(0, 0)}


@pytest.fixture
def sender(world):
    return SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")


@pytest.fixture
def open_hours(world):
    for key, value in ALWAYS_OPEN.items():
        setattr(world.church, key, value)
    world.church.save()
    return world.church


def send(world, capture, **kwargs):
    kwargs.setdefault("author", world.staff)
    with capture(execute=True):
        message = services.message_send(church=world.church, **kwargs)
    message.refresh_from_db()
    return message


def test_broadcast_to_everyone_is_delivered_with_exact_counts(
    world, sender, open_hours, django_capture_on_commit_callbacks
):
    MemberFactory.create_batch(30, church=world.church)
    MemberFactory.create_batch(3, church=world.church, sms_status=SmsStatus.UNSUBSCRIBED)
    MemberFactory.create_batch(2, church=world.church, sms_status=SmsStatus.NEVER_CONSENTED)
    message = send(world, django_capture_on_commit_callbacks, body="Potluck moved to 6pm", audience={"all": True})
    assert message.status == Message.Status.SENT
    assert message.counts == {"recipients": 30, "queued": 0, "sent": 0, "delivered": 30, "failed": 0, "skipped": 0}
    assert message.segments_sent == 30
    assert set(Recipient.objects.filter(message=message).values_list("status", flat=True)) == {"delivered"}


def test_audience_dedupes_across_groups_and_branches(world, sender, open_hours, django_capture_on_commit_callbacks):
    branch = church_services.branch_create(church=world.church, acting_user=None, name="North")
    youth, choir = GroupFactory(church=world.church), GroupFactory(church=world.church)
    both = MemberFactory.create_batch(4, church=world.church, branch=branch)
    only_choir = MemberFactory.create_batch(2, church=world.church)
    MemberFactory.create_batch(5, church=world.church)  # not in the audience
    church_services.group_members_add(church=world.church, group=youth, member_ids=[m.pk for m in both])
    church_services.group_members_add(church=world.church, group=choir, member_ids=[m.pk for m in both + only_choir])
    message = send(
        world,
        django_capture_on_commit_callbacks,
        body="Rehearsal tonight",
        audience={"group_ids": [youth.pk, choir.pk], "branch_ids": [branch.pk], "member_ids": [both[0].pk]},
    )
    assert message.recipient_count == 6 and message.delivered_count == 6


def test_merge_fields_are_rendered_per_member(world, sender, open_hours, django_capture_on_commit_callbacks, caplog):
    MemberFactory(church=world.church, first_name="Ruth", last_name="Miller")
    caplog.set_level("INFO", logger="messaging.providers.console")
    send(
        world,
        django_capture_on_commit_callbacks,
        body="Hi {first_name} {last_name}, from {church_name}",
        audience={"all": True},
    )
    assert any(f"Hi Ruth Miller, from {world.church.name}" in r.getMessage() for r in caplog.records)


def test_opted_out_between_accept_and_send_is_skipped(world, sender, open_hours, django_capture_on_commit_callbacks):
    members = MemberFactory.create_batch(3, church=world.church)
    message = services.message_send(church=world.church, author=world.staff, body="Hello", audience={"all": True})
    services.message_prepare(message_id=message.pk)
    church_services.consent_record(
        church=world.church, member=members[0], kind="opt_out", source="keyword", raw_text="STOP"
    )
    with django_capture_on_commit_callbacks(execute=True):
        tasks.send_message(message.pk)
    message.refresh_from_db()
    assert message.counts["skipped"] == 1 and message.counts["delivered"] == 2
    skipped = Recipient.objects.get(message=message, member=members[0])
    assert skipped.status == "skipped" and "Opted out" in skipped.error_reason


def test_idempotency_key_returns_the_same_message(world, sender, open_hours):
    MemberFactory.create_batch(2, church=world.church)
    first = services.message_send(
        church=world.church, author=None, body="Hi", audience={"all": True}, idempotency_key="abc"
    )
    again = services.message_send(
        church=world.church, author=None, body="Different", audience={"all": True}, idempotency_key="abc"
    )
    assert first.pk == again.pk and Message.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"body": "", "audience": {"all": True}}, "body"),
        ({"body": "a" * 1531, "audience": {"all": True}}, "body"),
        ({"body": "hi", "audience": {}}, "audience"),
        ({"body": "hi", "audience": {"group_ids": ["x"]}}, "audience"),
        ({"body": "hi", "audience": {"group_ids": [999999]}}, "audience"),
    ],
)
def test_bad_broadcasts_are_refused_with_a_field(world, sender, kwargs, field):
    MemberFactory(church=world.church)
    with pytest.raises(BusinessRuleError) as exc:
        services.message_send(church=world.church, author=None, **kwargs)
    assert exc.value.field == field
    assert not Message.objects.exists()


def test_another_churchs_groups_cannot_be_targeted(world, other_world, sender):
    theirs = GroupFactory(church=other_world.church)
    with pytest.raises(BusinessRuleError, match="Unknown group"):
        services.message_send(church=world.church, author=None, body="hi", audience={"group_ids": [theirs.pk]})


def test_cancel_skips_everything_not_yet_sent(world, sender, open_hours):
    MemberFactory.create_batch(5, church=world.church)
    message = services.message_send(church=world.church, author=None, body="Hi", audience={"all": True})
    services.message_prepare(message_id=message.pk)
    canceled = services.message_cancel(church=world.church, message_id=message.pk, acting_user=world.admin)
    assert canceled.status == "canceled" and canceled.counts["skipped"] == 5 and canceled.counts["queued"] == 0
    assert tasks.send_message(message.pk) == "done"
    assert not Recipient.objects.exclude(status="skipped").filter(message=message).exists()
    with pytest.raises(BusinessRuleError, match="already"):
        services.message_cancel(church=world.church, message_id=message.pk, acting_user=None)


def test_resend_to_failed(world, sender, open_hours, settings, django_capture_on_commit_callbacks):
    MemberFactory.create_batch(6, church=world.church)
    settings.CONSOLE_SMS_FAILURE_RATE = 1.0
    message = send(world, django_capture_on_commit_callbacks, body="Hi", audience={"all": True})
    assert message.counts["failed"] == 6
    assert "couldn't deliver" in Recipient.objects.filter(message=message).first().error_reason
    settings.CONSOLE_SMS_FAILURE_RATE = 0.0
    with django_capture_on_commit_callbacks(execute=True):
        resent = services.message_resend_failed(church=world.church, message_id=message.pk, author=world.staff)
    resent.refresh_from_db()
    assert resent.resend_of_id == message.pk and resent.counts["delivered"] == 6


def test_quiet_hours_hold_and_release_by_recipient_timezone(world, sender, django_capture_on_commit_callbacks):
    # 03:30 UTC is 21:30 in Chicago (quiet until 08:00 CST = 14:00 UTC) and 19:30 in Los Angeles.
    chicago = MemberFactory(church=world.church, timezone="America/Chicago")
    los_angeles = MemberFactory(church=world.church, timezone="America/Los_Angeles")
    with time_machine.travel(datetime(2026, 11, 24, 3, 30, tzinfo=UTC), tick=False):
        message = send(world, django_capture_on_commit_callbacks, body="Prayer vigil", audience={"all": True})
    assert message.status == "sending" and message.counts["delivered"] == 1 and message.counts["queued"] == 1
    held = Recipient.objects.get(message=message, member=chicago)
    assert held.status == "queued" and held.send_after == datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
    assert held.attempts == 0
    assert Recipient.objects.get(message=message, member=los_angeles).status == "delivered"

    with time_machine.travel(datetime(2026, 11, 24, 13, 0, tzinfo=UTC), tick=False):  # still 07:00 in Chicago
        with django_capture_on_commit_callbacks(execute=True):
            tasks.sweep()
    assert Recipient.objects.get(pk=held.pk).status == "queued"
    with time_machine.travel(datetime(2026, 11, 24, 14, 1, tzinfo=UTC), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            tasks.sweep()
    message.refresh_from_db()
    assert message.status == "sent" and message.counts["delivered"] == 2 and message.counts["queued"] == 0


def test_quiet_hours_past_expiry_are_skipped(world, sender, django_capture_on_commit_callbacks):
    MemberFactory(church=world.church, timezone="America/Chicago")
    with time_machine.travel(datetime(2026, 11, 24, 3, 30, tzinfo=UTC), tick=False):
        message = services.message_send(church=world.church, author=None, body="Tonight only", audience={"all": True})
        Message.objects.filter(pk=message.pk).update(expires_at=datetime(2026, 11, 24, 5, 0, tzinfo=UTC))
        services.message_prepare(message_id=message.pk)
        tasks.send_message(message.pk)
    message.refresh_from_db()
    assert message.status == "sent" and message.counts["skipped"] == 1
    assert "Quiet hours" in Recipient.objects.get(message=message).error_reason


def test_next_send_time_is_dst_correct():
    start, end = time(21, 0), time(8, 0)
    chicago_night = datetime(2026, 3, 8, 5, 0, tzinfo=ZoneInfo("UTC"))  # 23:00 CST on Mar 7
    # DST starts at 2am on Mar 8: 08:00 CDT is 13:00 UTC, not 14:00.
    assert next_send_time(now=chicago_night, tz_name="America/Chicago", quiet_start=start, quiet_end=end) == datetime(
        2026, 3, 8, 13, 0, tzinfo=ZoneInfo("UTC")
    )
    noon = datetime(2026, 6, 1, 17, 0, tzinfo=ZoneInfo("UTC"))
    assert next_send_time(now=noon, tz_name="America/Chicago", quiet_start=start, quiet_end=end) is None
    early = datetime(2026, 6, 1, 11, 0, tzinfo=ZoneInfo("UTC"))  # 06:00 CDT → 08:00 CDT same day
    assert next_send_time(now=early, tz_name="America/Chicago", quiet_start=start, quiet_end=end) == datetime(
        2026, 6, 1, 13, 0, tzinfo=ZoneInfo("UTC")
    )
    assert timezone.is_aware(noon) and timedelta(hours=1)


def test_deleting_a_member_keeps_the_broadcast_history(world, sender, open_hours, django_capture_on_commit_callbacks):
    members = MemberFactory.create_batch(3, church=world.church)
    message = send(world, django_capture_on_commit_callbacks, body="Hello", audience={"all": True})
    assert church_services.member_delete_many(church=world.church, member_ids=[members[0].pk], acting_user=None) == 1
    assert Recipient.objects.filter(message=message).count() == 3
    message.refresh_from_db()
    assert message.counts["delivered"] == 3
    assert world.page_client().get(f"/messages/{message.pk}/").status_code == 200
