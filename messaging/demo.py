"""Demo data for messaging (called from ``seed_demo``): a console sending number and a recurring message
that fires every few minutes to three members, so ``make run`` shows the scheduler at work with no
manual step. Safe to run again: it changes nothing the second time."""

import os

from django.db import transaction
from django.utils import timezone

from churches.models import Church, Member, SmsStatus, User
from messaging.models import RecurringMessage, SenderNumber
from messaging.recurring_services import recurring_create
from messaging.services import sender_number_add

DEMO_SENDER = "+15555550100"  # a provider test number: never a real phone
DEMO_RECURRING = "Demo: prayer chain reminder"
DEMO_AUDIENCE_SIZE = 3


@transaction.atomic
def seed_demo_messaging(*, church: Church, owner: User) -> list[str]:
    """Returns what it did, one line each."""
    done = []
    if not SenderNumber.objects.filter(church=church, status=SenderNumber.Status.ACTIVE).exists():
        sender_number_add(church=church, phone_number=DEMO_SENDER, provider="console", acting_user=owner)
        done.append(f"Added the demo sending number {DEMO_SENDER} (console provider: texts are logged).")
    if RecurringMessage.objects.filter(church=church, name=DEMO_RECURRING).exists():
        return done
    # A small audience of three members, so the demo spends little of the trial's allowance.
    members = Member.objects.filter(church=church, sms_status=SmsStatus.SUBSCRIBED).order_by("id")
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
