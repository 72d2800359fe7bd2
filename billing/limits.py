"""The plan-limit checker behind billing's plan policy (``billing/policy.py``): refuses, with a clear
message and an upgrade path, what the church's plan, subscription state, spend cap or branch budgets don't allow.

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
        estimate = selectors.send_estimate(church=church, sub=sub, adding=adding, branch_id=context.get("branch_id"))
        if not estimate["allowed"]:
            raise BusinessRuleError(estimate["message"], code=estimate["code"], status=estimate["status"])
        return
    if not standing.can_grow:
        raise BusinessRuleError(standing.refusal, code="subscription_inactive", status=402)
    _check_count(church=church, sub=sub, resource=resource, adding=adding)


def broadcast_headroom(*, church: Church, branch_id: int | None = None) -> int | None:
    """How many more segments a broadcast could add right now before :func:`check` refuses it on amount
    (the allowance when overage is off, the spend cap, the branch budget); None when nothing caps the
    amount. A church that cannot broadcast at all has none. Mirrors ``selectors.send_estimate``, which stays
    the authority (a test holds the two together)."""
    sub = selectors.subscription_get(church=church)
    if not rules.standing_of(sub).can_broadcast:
        return 0
    plan = sub.plan
    period = rules.current_period(sub, timezone.now())
    used, allowance = selectors.used_and_allowance(church=church, plan=plan, period=period)
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
        + selectors.upgrade_hint(plan=sub.plan, field=field, needed=current + adding, noun=noun)
    )
    raise BusinessRuleError(message, code="plan_limit", status=402)
