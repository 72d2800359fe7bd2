"""``make run`` shows a recurring message firing with no manual step: seed_demo adds a sending number and
a demo schedule (every two minutes), once."""

from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command

from messaging.models import Message, RecurringMessage, SenderNumber
from messaging.recurring import tasks

pytestmark = pytest.mark.django_db


def test_seed_demo_adds_a_recurring_message_that_fires_on_its_own(django_capture_on_commit_callbacks):
    call_command("seed_demo", stdout=None)
    call_command("seed_demo", stdout=None)  # idempotent
    recurring = RecurringMessage.objects.get()
    assert SenderNumber.objects.filter(church=recurring.church, provider="console").count() == 1
    assert recurring.state == "active" and len(recurring.audience["member_ids"]) == 3
    assert recurring.rrule == "FREQ=MINUTELY;INTERVAL=2"
    first = recurring.next_run_at
    for n in range(2):
        with time_machine.travel(first + timedelta(minutes=2 * n, seconds=10), tick=False):
            with django_capture_on_commit_callbacks(execute=True):
                tasks.recurring_tick()
    messages = Message.objects.filter(recurring=recurring)
    assert messages.count() == 2 and {m.recipient_count for m in messages} == {3}


def test_seed_demo_queues_a_demo_broadcast_once_and_it_is_delivered(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the worker's part, run eagerly here
        call_command("seed_demo", stdout=None)
    call_command("seed_demo", stdout=None)
    demo = Message.objects.get(idempotency_key="demo:first-broadcast")
    assert demo.status == "sent" and demo.recipient_count >= 30
    assert demo.delivered_count + demo.failed_count == demo.recipient_count
