"""The plan-limit checker registered with ``koinonia.hooks``: refuses, with a clear message and an upgrade
path, what the church's plan, subscription state, spend cap or branch budgets don't allow.

Resources: ``members`` / ``branches`` / ``staff_seats`` (``adding`` = how many more), ``broadcast``
(``adding`` = segments, optional ``branch_id``), ``reply`` (staff replies; ``kind="confirmation"`` for
opt-out/opt-in/help confirmations) and ``confirmation`` — confirmations are never refused."""

from django.utils import timezone

from billing import rules, selectors
from billing.models import Subscription
from churches.models import Church
from koinonia.exceptions import BusinessRuleError

COUNTED = {"members": "max_members", "branches": "max_branches", "staff_seats": "max_staff_seats"}
NOUNS = {"members": "members", "branches": "branches", "staff_seats": "staff seats"}
CONFIRMATION_KINDS = {"confirmation", "opt_out_confirmation", "opt_in_confirmation", "help"}


def check(*, church: Church, resource: str, adding: int = 1, **context) -> None:
    if resource == "confirmation" or context.get("kind") in CONFIRMATION_KINDS:
        return  # legally required texts always go out
    if resource not in COUNTED and resource not in ("broadcast", "reply"):
        return
    sub = selectors.subscription_get(church=church)
    standing = rules.standing_of(sub)
    if resource == "reply":
        if not standing.can_reply:
            raise BusinessRuleError(standing.refusal, code="subscription_inactive", status=402)
        return
    if resource == "broadcast":
        if not standing.can_broadcast:
            raise BusinessRuleError(standing.refusal, code="subscription_inactive", status=402)
        estimate = send_estimate(church=church, sub=sub, adding=adding, branch_id=context.get("branch_id"))
        if not estimate["allowed"]:
            raise BusinessRuleError(estimate["message"], code=estimate["code"], status=estimate["status"])
        return
    if not standing.can_grow:
        raise BusinessRuleError(standing.refusal, code="subscription_inactive", status=402)
    _check_count(church=church, sub=sub, resource=resource, adding=adding)


def _used_and_allowance(*, church: Church, plan, period: rules.Period) -> tuple[int, int]:
    """Segments used this period, and the period's allowance (the plan's plus any credit granted)."""
    usage = selectors.usage_period_find(church_id=church.pk, period=period)
    used = usage.segments_used if usage else 0
    return used, plan.included_segments + (usage.credit_segments if usage else 0)


def broadcast_headroom(*, church: Church, branch_id: int | None = None) -> int | None:
    """How many more segments a broadcast could add right now before :func:`check` refuses it on amount
    (the allowance when overage is off, the spend cap, the branch budget); None when nothing caps the
    amount. A church that cannot broadcast at all has none. Mirrors :func:`send_estimate`, which stays
    the authority (a test holds the two together)."""
    sub = selectors.subscription_get(church=church)
    if not rules.standing_of(sub).can_broadcast:
        return 0
    plan = sub.plan
    period = rules.current_period(sub, timezone.now())
    used, allowance = _used_and_allowance(church=church, plan=plan, period=period)
    room: int | None = None
    if not plan.overage_enabled:
        room = max(0, allowance - used)
    elif sub.spend_cap_cents is not None and plan.overage_cents_per_1000:
        # The most overage segments whose cost, rounded up to a cent, stays within the cap.
        most_overage = sub.spend_cap_cents * 1000 // plan.overage_cents_per_1000
        room = max(0, allowance + most_overage - used)
    if branch_id:
        budget, branch_used = selectors.branch_budget_usage(church=church, branch_id=int(branch_id), period=period)
        if budget is not None:
            branch_room = max(0, budget.monthly_segments - branch_used)
            room = branch_room if room is None else min(room, branch_room)
    return room


def upgrade_hint(*, plan, field: str, needed: int, noun: str) -> str:
    better = selectors.plan_upgrade_for(current=plan, field=field, needed=needed)
    if better is None:
        return "Contact support for a larger plan."
    return f"Upgrade to {better.name} (up to {getattr(better, field):,} {noun}) on the Billing page."


def _check_count(*, church: Church, sub: Subscription, resource: str, adding: int) -> None:
    field = COUNTED[resource]
    limit = getattr(sub.plan, field)
    current = selectors.resource_count(church=church, resource=resource)
    if current + adding <= limit:
        return
    noun = NOUNS[resource]
    message = (
        f"Your {sub.plan.name} plan allows {limit:,} {noun}; you have {current:,}"
        + (f" and this would add {adding:,}." if adding != 1 else ".")
        + " "
        + upgrade_hint(plan=sub.plan, field=field, needed=current + adding, noun=noun)
    )
    raise BusinessRuleError(message, code="plan_limit", status=402)


def send_estimate(
    *,
    church: Church,
    sub: Subscription,
    adding: int,
    branch_id: int | None = None,
    used: int | None = None,
    allowance: int | None = None,
    period: rules.Period | None = None,
) -> dict:
    """What sending ``adding`` segments would cost and whether the allowance, spend cap and branch
    budget allow it. Compose pages show this before the church presses Send."""
    plan = sub.plan
    period = period or rules.current_period(sub, timezone.now())
    if used is None or allowance is None:
        used, allowance = _used_and_allowance(church=church, plan=plan, period=period)
    overage_before = max(0, used - allowance)
    overage_after = max(0, used + adding - allowance)
    estimate = {
        "segments": adding,
        "within_allowance": overage_after == 0,
        "overage_segments": overage_after - overage_before,
        "overage_cents": plan.overage_cost_cents(overage_after) - plan.overage_cost_cents(overage_before),
        "allowed": True,
        "code": "",
        "status": 200,
        "message": "",
    }

    def refuse(message: str, code: str, status: int) -> dict:
        estimate.update(allowed=False, message=message, code=code, status=status)
        return estimate

    left = max(0, allowance - used)
    if overage_after and not plan.overage_enabled:
        hint = upgrade_hint(plan=plan, field="included_segments", needed=used + adding, noun="segments a month")
        return refuse(
            f"This send needs {adding:,} segments but only {left:,} are left on your {plan.name} plan until "
            f"{rules.day(period.end, church)}. {hint}",
            "plan_limit",
            402,
        )
    cap = sub.spend_cap_cents
    if overage_after and cap is not None and plan.overage_cost_cents(overage_after) > cap:
        return refuse(
            f"This send would bring this period's extra SMS charges to "
            f"{rules.money(plan.overage_cost_cents(overage_after))}, over your {rules.money(cap)} spend cap "
            f"({left:,} segments are left in your allowance). Raise the cap on the Billing page or send to fewer "
            "people.",
            "spend_cap",
            422,
        )
    if branch_id:
        budget, branch_used = selectors.branch_budget_usage(church=church, branch_id=int(branch_id), period=period)
        if budget is not None and branch_used + adding > budget.monthly_segments:
            return refuse(
                f"This send needs {adding:,} segments but this branch has "
                f"{max(0, budget.monthly_segments - branch_used):,} of its {budget.monthly_segments:,}-segment "
                "monthly budget left. An owner can raise the budget on the Billing page.",
                "branch_budget",
                422,
            )
    return estimate
