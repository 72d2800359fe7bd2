"""Pure billing rules (no database): the current period, what a subscription's state allows, money text."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from dateutil.relativedelta import relativedelta
from django.utils import timezone
from django.utils.formats import date_format

from billing.models import Subscription

Status = Subscription.Status
# States in which Stripe keeps billing the church, period after period.
LIVE_STATUSES = {Status.ACTIVE, Status.PAST_DUE, Status.TRIALING, Status.UNPAID}
CHANGEABLE_STATUSES = {Status.ACTIVE, Status.PAST_DUE, Status.TRIALING}
TRIAL_WARNING_DAYS = 3


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Standing:
    """What the church may do now, and what to tell it."""

    state: str  # trialing, trial_expired, active, past_due, past_due_blocked, unpaid, canceled, inactive
    label: str
    can_broadcast: bool = True
    can_reply: bool = True
    can_grow: bool = True  # add members, branches, staff seats
    refusal: str = ""
    banner: str = ""
    banner_level: str = "warn"  # warn | bad


def current_period(sub: Subscription, now: datetime | None = None) -> Period:
    """The stored period; while Stripe keeps billing, roll it forward month by month if the renewal
    webhook is late (Stripe starts the next period exactly where the last ended, so rows still match)."""
    now = now or timezone.now()
    start, end = sub.current_period_start, sub.current_period_end
    if sub.has_stripe_subscription and sub.status in LIVE_STATUSES:
        for _ in range(120):
            if end > now:
                break
            start, end = end, end + relativedelta(months=1)
    return Period(start=start, end=end)


def day(value: datetime, church) -> str:
    return date_format(timezone.localtime(value, church.tzinfo), "F j, Y")


def money(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def standing_of(sub: Subscription, now: datetime | None = None) -> Standing:
    now = now or timezone.now()
    church = sub.church
    status = sub.status
    if status == Status.TRIALING and not sub.has_stripe_subscription:
        trial_end = sub.trial_ends_at or sub.current_period_end
        if trial_end > now:
            banner = ""
            if trial_end - now <= timedelta(days=TRIAL_WARNING_DAYS):
                banner = f"Your free trial ends on {day(trial_end, church)}. Choose a plan to keep sending."
            return Standing("trialing", "Free trial", banner=banner)
        message = "Your free trial has ended. Choose a plan on the Billing page to send again; your data is safe."
        return Standing("trial_expired", "Trial ended", False, False, False, message, message, "bad")
    if status in (Status.ACTIVE, Status.TRIALING):
        banner = ""
        if sub.cancel_at_period_end:
            banner = f"Your subscription ends on {day(sub.current_period_end, church)}."
        return Standing("active", "Active" if status == Status.ACTIVE else "Trial", banner=banner)
    if status == Status.PAST_DUE:
        grace_end = (sub.past_due_since or now) + timedelta(days=sub.plan.grace_period_days)
        if now < grace_end:
            banner = (
                f"We couldn't take your last payment. Update your card by {day(grace_end, church)} — after that "
                "new broadcasts pause (replies to members keep working)."
            )
            return Standing("past_due", "Past due", banner=banner)
        message = (
            "Broadcasts are paused because your last payment failed. Update your card on the Billing page to "
            "send again; replies to members still work."
        )
        return Standing("past_due_blocked", "Past due", False, True, True, message, message, "bad")
    if status == Status.UNPAID:
        message = "Sending is paused because your invoices are unpaid. Update your card on the Billing page."
        return Standing("unpaid", "Unpaid", False, False, False, message, message, "bad")
    if status == Status.CANCELED:
        message = "Your subscription has ended. Your data is still here to read; choose a plan to send again."
        return Standing("canceled", "Canceled", False, False, False, message, message, "bad")
    message = "Your subscription isn't active: the first payment didn't go through. Choose a plan again."
    return Standing("inactive", sub.get_status_display(), False, False, False, message, message, "bad")
