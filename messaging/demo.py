"""Demo data for messaging (called from ``seed_demo``): a console sending number and a recurring message
that fires every few minutes to three members, so ``make run`` shows the scheduler at work with no
manual step. Safe to run again: it changes nothing the second time."""

import os
from datetime import time

from django.db import transaction
from django.utils import timezone

from churches.models import Church, Member, SmsStatus, User
from messaging.broadcasts.models import Message
from messaging.broadcasts.services import message_send
from messaging.numbers.models import SenderNumber
from messaging.numbers.services import sender_number_add
from messaging.recurring.models import RecurringMessage
from messaging.recurring.services import recurring_create

DEMO_SENDER = "+15555550100"  # a provider test number: never a real phone
DEMO_RECURRING = "Demo: prayer chain reminder"
DEMO_AUDIENCE_SIZE = 3
DEMO_BROADCAST_KEY = "demo:first-broadcast"


def _seed_first_broadcast(*, church: Church, owner: User) -> list[str]:
    """One broadcast to every demo member, queued now and sent by the worker as soon as ``make run``
    starts it: the message page shows delivery arriving live (the console provider simulates it)."""
    if Message.objects.for_church(church).filter(idempotency_key=DEMO_BROADCAST_KEY).exists():
        return []
    # The demo numbers are fictional and the console provider texts nobody, so the demo church has no
    # quiet hours: otherwise a demo started in the evening would show every text held until 8am.
    church.quiet_hours_start = church.quiet_hours_end = time(0, 0)
    church.save(update_fields=["quiet_hours_start", "quiet_hours_end"])
    message = message_send(
        church=church,
        author=owner,
        body="Welcome to Koinonia, {first_name}! This is a demo text from {church_name}.",
        audience={"all": True},
        idempotency_key=DEMO_BROADCAST_KEY,
    )
    return [f"Queued a demo broadcast to {message.recipient_count} members (Messages → Message {message.pk})."]


@transaction.atomic
def seed_demo_messaging(*, church: Church, owner: User) -> list[str]:
    """Returns what it did, one line each."""
    done = []
    if not SenderNumber.objects.for_church(church).filter(status=SenderNumber.Status.ACTIVE).exists():
        sender_number_add(church=church, phone_number=DEMO_SENDER, provider="console", acting_user=owner)
        done.append(f"Added the demo sending number {DEMO_SENDER} (console provider: texts are logged).")
    done += _seed_first_broadcast(church=church, owner=owner)
    if RecurringMessage.objects.for_church(church).filter(name=DEMO_RECURRING).exists():
        return done
    # A small audience of three members, so the demo spends little of the trial's allowance.
    members = Member.objects.for_church(church).filter(sms_status=SmsStatus.SUBSCRIBED).order_by("id")
    member_ids = list(members.values_list("pk", flat=True)[:DEMO_AUDIENCE_SIZE])
    if not member_ids:
        return done
    minutes = int(os.environ.get("DEMO_RECURRING_MINUTES", "2"))
    now = timezone.localtime(timezone.now(), church.tzinfo)
    recurring_create(
        church=church,
        acting_user=owner,
        name=DEMO_RECURRING,
        body="Prayer chain: please keep {church_name} in your prayers this week, {first_name}.",
        audience={"member_ids": member_ids},
        frequency="rrule",
        rrule=f"FREQ=MINUTELY;INTERVAL={minutes}",
        time_of_day=now.time().replace(second=0, microsecond=0),
        start_date=now.date(),
    )
    done.append(
        f"Added “{DEMO_RECURRING}”: every {minutes} minutes to {len(member_ids)} members (Messages → Recurring)."
    )
    return done
