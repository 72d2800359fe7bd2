"""Recurring messages firing through the one broadcast path: one message per firing however many ticks
run, pause and resume, ends, refusals recorded on the schedule, quiet hours, and scheduled one-off
messages released by the same tick."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from django.utils import timezone

from churches.models import SmsStatus
from koinonia.exceptions import BusinessRuleError
from messaging.broadcasts import services
from messaging.models import Message, MessageTemplate, Recipient, RecurringMessage, SenderNumber
from messaging.recurring import services as recurring_services
from messaging.recurring import tasks
from messaging.recurring.services import firing_key
from tests.factories import GroupFactory, MemberFactory

pytestmark = pytest.mark.django_db

ALWAYS_OPEN = {"quiet_hours_start": time(0, 0), "quiet_hours_end": time(0, 0)}
# Sunday March 1, 2026, 08:00 in Chicago (CST, UTC-6).
START = datetime(2026, 3, 1, 14, 0, tzinfo=UTC)


@pytest.fixture
def sender(world):
    return SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")


@pytest.fixture
def open_hours(world):
    for key, value in ALWAYS_OPEN.items():
        setattr(world.church, key, value)
    world.church.save()
    return world.church


@pytest.fixture
def members(world):
    return MemberFactory.create_batch(3, church=world.church)


def make(world, **kwargs) -> RecurringMessage:
    kwargs.setdefault("body", "Service at 10! {first_name}, see you there.")
    kwargs.setdefault("audience", {"all": True})
    kwargs.setdefault("frequency", "daily")
    kwargs.setdefault("time_of_day", time(9, 0))
    kwargs.setdefault("start_date", date(2026, 3, 1))
    with time_machine.travel(kwargs.pop("now", START), tick=False):
        return recurring_services.recurring_create(church=world.church, acting_user=world.staff, **kwargs)


def tick(at: datetime, capture) -> dict:
    with time_machine.travel(at, tick=False), capture(execute=True):
        return tasks.recurring_tick()


def firings(recurring) -> list[Message]:
    return list(Message.objects.filter(recurring=recurring).order_by("id"))


def test_a_firing_is_a_normal_broadcast_linked_to_its_schedule(
    world, sender, open_hours, members, django_capture_on_commit_callbacks
):
    recurring = make(world)
    assert recurring.next_run_at == datetime(2026, 3, 1, 15, 0, tzinfo=UTC)  # 9:00 CST
    assert recurring.church.timezone == recurring.timezone == "America/Chicago"

    assert tick(START + timedelta(minutes=59), django_capture_on_commit_callbacks)["fired"] == 0
    stats = tick(datetime(2026, 3, 1, 15, 0, 20, tzinfo=UTC), django_capture_on_commit_callbacks)
    assert stats["fired"] == 1

    [message] = firings(recurring)
    assert message.author == world.staff and message.audience == {"all": True}
    assert message.idempotency_key == f"recurring:{recurring.pk}:2026-03-01T15:00:00+00:00"
    assert message.status == Message.Status.SENT and message.counts["delivered"] == 3
    recurring.refresh_from_db()
    assert recurring.fired_count == 1 and recurring.last_fired_at == datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
    assert recurring.next_run_at == datetime(2026, 3, 2, 15, 0, tzinfo=UTC) and recurring.last_error == ""


def test_duplicate_ticks_and_a_stale_second_scheduler_make_exactly_one_message(
    world, sender, open_hours, members, django_capture_on_commit_callbacks
):
    recurring = make(world)
    due = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
    for seconds in (0, 0, 5, 30):  # the same tick twice, then more ticks within the minute
        tick(due + timedelta(seconds=seconds), django_capture_on_commit_callbacks)
    assert len(firings(recurring)) == 1

    # A second beat that read the schedule before the first advanced it fires the same send time:
    # the firing key finds the message already made.
    RecurringMessage.objects.filter(pk=recurring.pk).update(next_run_at=due)
    with time_machine.travel(due + timedelta(seconds=40), tick=False):
        assert recurring_services.recurring_fire(recurring_id=recurring.pk, now=timezone.now()) == "fired"
    assert len(firings(recurring)) == 1
    assert Recipient.objects.filter(message__recurring=recurring).count() == 3
    recurring.refresh_from_db()
    assert recurring.fired_count == 1

    # The next day is a new firing.
    tick(due + timedelta(days=1), django_capture_on_commit_callbacks)
    assert [m.idempotency_key for m in firings(recurring)] == [
        firing_key(recurring.pk, due + timedelta(days=n)) for n in (0, 1)
    ]


def test_a_daily_time_is_sent_at_local_9am_on_both_sides_of_spring_forward(
    world, sender, open_hours, members, django_capture_on_commit_callbacks
):
    recurring = make(world, start_date=date(2026, 3, 7))
    # 9:00 CST = 15:00 UTC on Saturday March 7; 9:00 CDT = 14:00 UTC from Sunday March 8.
    for at in (datetime(2026, 3, 7, 15, 0, tzinfo=UTC), datetime(2026, 3, 8, 14, 0, tzinfo=UTC)):
        tick(at, django_capture_on_commit_callbacks)
    assert [m.created_at.astimezone(world.church.tzinfo).strftime("%d %H:%M") for m in firings(recurring)] == [
        "07 09:00",
        "08 09:00",
    ]
    recurring.refresh_from_db()
    assert recurring.next_run_at == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)


def test_paused_schedules_do_not_fire_and_resume_from_the_next_time(
    world, sender, open_hours, members, django_capture_on_commit_callbacks
):
    recurring = make(world)
    with time_machine.travel(START, tick=False):
        recurring_services.recurring_pause(church=world.church, recurring=recurring, acting_user=world.staff)
    for day in range(3):
        tick(datetime(2026, 3, 1 + day, 15, 0, tzinfo=UTC), django_capture_on_commit_callbacks)
    assert firings(recurring) == []

    with time_machine.travel(datetime(2026, 3, 3, 16, 0, tzinfo=UTC), tick=False):  # after Tuesday's time
        resumed = recurring_services.recurring_resume(church=world.church, recurring=recurring, acting_user=world.staff)
    assert resumed.state == "active" and resumed.next_run_at == datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
    tick(datetime(2026, 3, 3, 16, 1, tzinfo=UTC), django_capture_on_commit_callbacks)
    assert firings(recurring) == []  # times missed while paused are not sent
    tick(datetime(2026, 3, 4, 15, 0, tzinfo=UTC), django_capture_on_commit_callbacks)
    assert len(firings(recurring)) == 1


def test_a_schedule_ends_after_its_count_and_cannot_be_resumed(
    world, sender, open_hours, members, django_capture_on_commit_callbacks
):
    recurring = make(world, count=2)
    for day in range(4):
        tick(datetime(2026, 3, 1 + day, 15, 0, tzinfo=UTC), django_capture_on_commit_callbacks)
    recurring.refresh_from_db()
    assert len(firings(recurring)) == 2 and recurring.state == "finished" and recurring.next_run_at is None
    with pytest.raises(BusinessRuleError, match="has ended"):
        recurring_services.recurring_resume(church=world.church, recurring=recurring, acting_user=world.staff)


def test_a_refused_firing_is_recorded_on_the_schedule_and_the_schedule_moves_on(
    world, open_hours, members, django_capture_on_commit_callbacks
):
    recurring = make(world)  # the church has no sending number
    stats = tick(datetime(2026, 3, 1, 15, 0, tzinfo=UTC), django_capture_on_commit_callbacks)
    assert stats["refused"] == 1 and firings(recurring) == []
    recurring.refresh_from_db()
    assert "no sending number" in recurring.last_error and recurring.last_error.startswith("Not sent for Sun Mar 1")
    assert recurring.next_run_at == datetime(2026, 3, 2, 15, 0, tzinfo=UTC) and recurring.fired_count == 0

    SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")
    tick(datetime(2026, 3, 2, 15, 0, tzinfo=UTC), django_capture_on_commit_callbacks)
    recurring.refresh_from_db()
    assert len(firings(recurring)) == 1 and recurring.last_error == "" and recurring.last_error_at is None


def test_one_refusal_does_not_hold_up_other_schedules(
    world, sender, open_hours, members, django_capture_on_commit_callbacks
):
    empty_group = GroupFactory(church=world.church)
    nobody = make(world, audience={"group_ids": [empty_group.pk]})
    everyone = make(world)
    stats = tick(datetime(2026, 3, 1, 15, 0, tzinfo=UTC), django_capture_on_commit_callbacks)
    assert stats == {"fired": 1, "refused": 1, "missed": 0, "busy": 0, "scheduled_released": 0}
    nobody.refresh_from_db()
    assert "Nobody in this audience" in nobody.last_error
    assert len(firings(everyone)) == 1


def test_after_an_outage_only_the_latest_missed_time_is_sent_and_old_ones_are_skipped(
    world, sender, open_hours, members, django_capture_on_commit_callbacks, settings
):
    settings.RECURRING_MISFIRE_GRACE_SECONDS = 3600
    every_ten = make(world, frequency="rrule", rrule="FREQ=MINUTELY;INTERVAL=10", time_of_day=time(9, 0))
    # The scheduler was down from 9:00 to 9:35: the 9:30 firing is sent, 9:00-9:20 are not.
    tick(datetime(2026, 3, 1, 15, 35, tzinfo=UTC), django_capture_on_commit_callbacks)
    assert [m.idempotency_key[-14:] for m in firings(every_ten)] == ["15:30:00+00:00"]
    every_ten.refresh_from_db()
    assert every_ten.next_run_at == datetime(2026, 3, 1, 15, 40, tzinfo=UTC)

    daily = make(world)
    tick(datetime(2026, 3, 1, 17, 1, tzinfo=UTC), django_capture_on_commit_callbacks)  # 2 hours late
    daily.refresh_from_db()
    assert firings(daily) == [] and "scheduler was not running" in daily.last_error
    assert daily.next_run_at == datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def test_a_template_schedule_sends_the_templates_current_text(
    world, sender, open_hours, members, django_capture_on_commit_callbacks
):
    template = MessageTemplate.objects.create(church=world.church, name="Sunday", body="Old text")
    recurring = make(world, body="", template_id=template.pk)
    MessageTemplate.objects.filter(pk=template.pk).update(body="Choir at 9, service at 10")
    tick(datetime(2026, 3, 1, 15, 0, tzinfo=UTC), django_capture_on_commit_callbacks)
    assert firings(recurring)[0].body == "Choir at 9, service at 10"
    template.delete()  # the schedule keeps the text it had when saved
    tick(datetime(2026, 3, 2, 15, 0, tzinfo=UTC), django_capture_on_commit_callbacks)
    assert firings(recurring)[1].body == "Old text"


def test_firings_respect_quiet_hours(world, sender, django_capture_on_commit_callbacks):
    member = MemberFactory(church=world.church, timezone="America/Chicago")
    recurring = make(world, time_of_day=time(22, 0))  # inside the church's 21:00-08:00 quiet hours
    tick(datetime(2026, 3, 2, 4, 0, tzinfo=UTC), django_capture_on_commit_callbacks)
    [message] = firings(recurring)
    held = Recipient.objects.get(message=message, member=member)
    assert held.status == "queued" and held.send_after == datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 8:00 CST


def test_only_subscribed_members_of_the_audience_receive_a_firing(
    world, sender, open_hours, django_capture_on_commit_callbacks
):
    group = GroupFactory(church=world.church)
    inside = MemberFactory.create_batch(2, church=world.church)
    opted_out = MemberFactory(church=world.church, sms_status=SmsStatus.UNSUBSCRIBED)
    MemberFactory(church=world.church)  # not in the group
    from churches.services import group_members_add

    group_members_add(church=world.church, group=group, member_ids=[m.pk for m in [*inside, opted_out]])
    recurring = make(world, audience={"group_ids": [group.pk]})
    tick(datetime(2026, 3, 1, 15, 0, tzinfo=UTC), django_capture_on_commit_callbacks)
    assert set(Recipient.objects.filter(message__recurring=recurring).values_list("member_id", flat=True)) == {
        m.pk for m in inside
    }


def test_the_tick_releases_scheduled_one_off_messages_on_time(
    world, sender, open_hours, members, django_capture_on_commit_callbacks
):
    with time_machine.travel(START, tick=False):
        message = services.message_send(
            church=world.church,
            author=world.staff,
            body="Potluck tonight",
            audience={"all": True},
            scheduled_at=START + timedelta(hours=3),
        )
    assert tick(START + timedelta(hours=2), django_capture_on_commit_callbacks)["scheduled_released"] == 0
    assert tick(START + timedelta(hours=3, seconds=5), django_capture_on_commit_callbacks)["scheduled_released"] == 1
    message.refresh_from_db()
    assert message.status == Message.Status.SENT and message.counts["delivered"] == 3
    assert tick(START + timedelta(hours=3, seconds=65), django_capture_on_commit_callbacks)["scheduled_released"] == 0


def test_editing_recomputes_the_next_time_and_deleting_keeps_sent_messages(
    world, sender, open_hours, members, django_capture_on_commit_callbacks
):
    recurring = make(world)
    tick(datetime(2026, 3, 1, 15, 0, tzinfo=UTC), django_capture_on_commit_callbacks)
    with time_machine.travel(datetime(2026, 3, 1, 16, 0, tzinfo=UTC), tick=False):
        edited = recurring_services.recurring_update(
            church=world.church,
            recurring=recurring,
            acting_user=world.staff,
            frequency="monthly",
            nth_week=2,
            nth_weekday=6,
            time_of_day=time(18, 30),
        )
    assert edited.weekdays == [] and edited.month_day is None
    assert edited.next_run_at == datetime(2026, 3, 8, 23, 30, tzinfo=UTC)  # second Sunday, 18:30 CDT
    recurring_services.recurring_delete(church=world.church, recurring=edited, acting_user=world.staff)
    assert not RecurringMessage.objects.filter(pk=recurring.pk).exists()
    assert Message.objects.filter(church=world.church).count() == 1


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"end_date": date(2026, 2, 1)}, "end_date", "before the start date"),
        ({"body": ""}, "body", "Write a message"),
        ({"audience": {}}, "audience", "Choose who receives"),
        ({"template_id": 999999}, "template_id", "Unknown template"),
        ({"frequency": "monthly", "month_day": 30, "rrule": "FREQ=DAILY"}, None, None),  # fine: rrule ignored
    ],
)
def test_bad_schedules_are_refused_by_field(world, sender, changes, field, words):
    if field is None:
        recurring = make(world, **changes)
        assert recurring.rrule == "" and recurring.month_day == 30
        return
    with pytest.raises(BusinessRuleError) as refused:
        make(world, **changes)
    assert refused.value.field == field and words in refused.value.message


def test_another_churchs_audience_or_template_is_refused(world, other_world, sender):
    theirs = GroupFactory(church=other_world.church)
    with pytest.raises(BusinessRuleError, match="Unknown group"):
        make(world, audience={"group_ids": [theirs.pk]})
    their_template = MessageTemplate.objects.create(church=other_world.church, name="T", body="Hello")
    with pytest.raises(BusinessRuleError, match="Unknown template"):
        make(world, body="", template_id=their_template.pk)
