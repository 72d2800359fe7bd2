"""The trial every church is owed: its plan and dates. Shared by ``services`` (which saves it at sign-up)
and ``selectors`` (which builds it, unsaved, for a church whose subscription isn't written yet)."""

from datetime import timedelta

from billing.models import Plan, Subscription
from billing.rules import Status
from churches.models import Church

TRIAL_PLAN_DEFAULTS = {
    "name": "Free trial",
    "price_cents": 0,
    "max_members": 500,
    "max_branches": 2,
    "max_staff_seats": 5,
    "included_segments": 500,
    "overage_cents_per_1000": None,
    "grace_period_days": 0,
    "is_trial": True,
    "is_public": False,
}
# Sign-up sets Church.trial_ends_at; this covers churches created before billing existed.
LEGACY_TRIAL_DAYS = 14


def trial_plan() -> Plan:
    plan = Plan.objects.filter(is_trial=True).first()
    if plan is None:  # only if support deleted the seeded trial plan
        plan, _ = Plan.objects.get_or_create(code="trial", defaults=TRIAL_PLAN_DEFAULTS)
    return plan


def trial_fields(church: Church) -> dict:
    trial_end = church.trial_ends_at or church.created_at + timedelta(days=LEGACY_TRIAL_DAYS)
    return {
        "plan": trial_plan(),
        "status": Status.TRIALING,
        "trial_ends_at": trial_end,
        "current_period_start": church.created_at,
        "current_period_end": trial_end,
    }


def trial_subscription_build(*, church: Church) -> Subscription:
    """The trial a church is owed, unsaved (for reads)."""
    return Subscription(church=church, **trial_fields(church))
