"""Reads for billing: usage so far and projected, budgets, plans, invoices (from Stripe), counts."""

import logging
from datetime import datetime, timedelta

from django.apps import apps
from django.core.cache import cache
from django.db.models import QuerySet
from django.utils import timezone

from billing import rules, stripe_client, trial
from billing.models import BranchBudget, BranchUsage, Plan, Subscription, UsagePeriod
from churches.models import Church, StaffMembership
from koinonia.tenancy import access_function, church_object_get

logger = logging.getLogger(__name__)
INVOICE_CACHE_SECONDS = 60
MIN_ELAPSED_FOR_PROJECTION = timedelta(days=1)


# --- access functions: the one way to fetch a church's row by id --------------------------------------
# Each raises ``koinonia.exceptions.NotFound`` (404 in pages and API) for a missing id and for another
# church's id alike; ``queryset`` lets a caller add joins, annotations or a row lock without a second query.


@access_function(BranchBudget)
def branch_budget_get(*, church: Church, id: int, queryset: QuerySet[BranchBudget] | None = None) -> BranchBudget:
    return church_object_get(BranchBudget.objects if queryset is None else queryset, church=church, id=id)


def subscription_find(*, church: Church) -> Subscription | None:
    sub = Subscription.objects.for_church(church).select_related("plan").first()
    if sub is not None:
        sub.church = church  # the caller's instance: no second query for sub.church
    return sub


def subscription_get(*, church: Church) -> Subscription:
    """The church's subscription; for a church without one yet (created before billing, or its
    sign-up signal not yet handled), the trial it is owed, unsaved: reads never write."""
    sub = subscription_find(church=church)
    if sub is not None:
        return sub
    return trial.trial_subscription_build(church=church)


def plan_code(*, church: Church) -> str:
    """The code of the church's plan (the trial's for a church without a subscription yet)."""
    return subscription_get(church=church).plan.code


def usage_period_find(*, church_id: int, period: rules.Period) -> UsagePeriod | None:
    return UsagePeriod.objects.for_church(church_id).filter(period_start=period.start).first()


def plan_list_public() -> QuerySet[Plan]:
    return Plan.objects.filter(is_public=True, is_trial=False)


def plan_upgrade_for(*, current: Plan, field: str, needed: int) -> Plan | None:
    """The cheapest public plan whose ``field`` limit holds ``needed``."""
    return (
        plan_list_public()
        .filter(**{f"{field}__gte": needed})
        .exclude(pk=current.pk)
        .order_by("price_cents", "sort_order")
        .first()
    )


def _directory_model(name: str):
    # Member and Branch belong to the directory; count them when they exist.
    try:
        return apps.get_model("churches", name)
    except LookupError:
        return None


def resource_count(*, church: Church, resource: str) -> int:
    if resource == "staff_seats":
        # Seats are accepted memberships; an invitation takes a seat only when accepted.
        return StaffMembership.objects.for_church(church).count()
    model = _directory_model({"members": "Member", "branches": "Branch"}.get(resource, ""))
    return model._default_manager.for_church(church).count() if model is not None else 0


def branch_exists(*, church: Church, branch_id: int) -> bool:
    model = _directory_model("Branch")
    if model is None:
        return branch_id > 0
    return model._default_manager.for_church(church).filter(pk=branch_id).exists()


def branch_names(*, church: Church, branch_ids) -> dict[int, str]:
    model = _directory_model("Branch")
    if model is None or not branch_ids:
        return {}
    rows = model._default_manager.for_church(church).filter(pk__in=list(branch_ids))
    return {row.pk: str(row) for row in rows}


def branch_budget_usage(*, church: Church, branch_id: int, period: rules.Period) -> tuple[BranchBudget | None, int]:
    budget = BranchBudget.objects.for_church(church).filter(branch_id=branch_id).first()
    if budget is None:
        return None, 0
    used = (
        BranchUsage.objects.for_church(church)
        .filter(period_start=period.start, branch_id=branch_id)
        .values_list("segments_used", flat=True)
        .first()
    )
    return budget, used or 0


def branch_budget_list(*, church: Church, period: rules.Period) -> list[dict]:
    budgets = list(BranchBudget.objects.for_church(church).order_by("branch_id"))
    if not budgets:
        return []
    used = dict(
        BranchUsage.objects.for_church(church)
        .filter(period_start=period.start)
        .values_list("branch_id", "segments_used")
    )
    names = branch_names(church=church, branch_ids=[b.branch_id for b in budgets])
    return [
        {
            "budget": b,
            "name": names.get(b.branch_id, f"Branch #{b.branch_id}"),
            "used": used.get(b.branch_id, 0),
            "left": max(0, b.monthly_segments - used.get(b.branch_id, 0)),
        }
        for b in budgets
    ]


def _projection(used: int, period: rules.Period, now: datetime) -> int:
    elapsed = max(now - period.start, MIN_ELAPSED_FOR_PROJECTION)
    length = period.end - period.start
    if elapsed >= length:
        return used
    return round(used * (length / elapsed))


def usage_summary(
    *, church: Church, sub: Subscription, adding: int = 0, branch_id: int | None = None, now: datetime | None = None
) -> dict:
    """Allowance, used, remaining, projected and what a send of ``adding`` segments would do."""
    now = now or timezone.now()
    plan = sub.plan
    period = rules.current_period(sub, now)
    standing = rules.standing_of(sub, now)
    usage = usage_period_find(church_id=church.pk, period=period)
    used = usage.segments_used if usage else 0
    allowance = plan.included_segments + (usage.credit_segments if usage else 0)
    projected = _projection(used, period, now)
    summary = {
        "status": standing.state,
        "status_label": standing.label,
        "plan": {"code": plan.code, "name": plan.name, "price_cents": plan.price_cents},
        "period_start": period.start,
        "period_end": period.end,
        "allowance": allowance,
        "used": used,
        "remaining": max(0, allowance - used),
        "projected": projected,
        "overage_enabled": plan.overage_enabled,
        "overage_cents_per_1000": plan.overage_cents_per_1000,
        "overage_segments": max(0, used - allowance),
        "overage_cents": plan.overage_cost_cents(used - allowance),
        "projected_overage_cents": plan.overage_cost_cents(projected - allowance),
        "spend_cap_cents": sub.spend_cap_cents,
        "can_broadcast": standing.can_broadcast,
        "banner": standing.banner,
        "banner_level": standing.banner_level,
    }
    if adding:
        summary["send"] = send_estimate(
            church=church, sub=sub, adding=adding, branch_id=branch_id, used=used, allowance=allowance, period=period
        )
    return summary


# --- What a send would cost and whether it's allowed (compose pages, and the limit checker) ----------


def used_and_allowance(*, church: Church, plan, period: rules.Period) -> tuple[int, int]:
    """Segments used this period, and the period's allowance (the plan's plus any credit granted)."""
    usage = usage_period_find(church_id=church.pk, period=period)
    used = usage.segments_used if usage else 0
    return used, plan.included_segments + (usage.credit_segments if usage else 0)


def upgrade_hint(*, plan, field: str, needed: int, noun: str) -> str:
    better = plan_upgrade_for(current=plan, field=field, needed=needed)
    if better is None:
        return "Contact support for a larger plan."
    return f"Upgrade to {better.name} (up to {getattr(better, field):,} {noun}) on the Billing page."


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
        used, allowance = used_and_allowance(church=church, plan=plan, period=period)
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
        budget, branch_used = branch_budget_usage(church=church, branch_id=int(branch_id), period=period)
        if budget is not None and branch_used + adding > budget.monthly_segments:
            return refuse(
                f"This send needs {adding:,} segments but this branch has "
                f"{max(0, budget.monthly_segments - branch_used):,} of its {budget.monthly_segments:,}-segment "
                "monthly budget left. An owner can raise the budget on the Billing page.",
                "branch_budget",
                422,
            )
    return estimate


def invoice_list(*, sub: Subscription, limit: int = 12) -> list[dict] | None:
    """The church's recent invoices from Stripe (cached briefly); None when Stripe can't be reached."""
    if not sub.stripe_customer_id or not stripe_client.is_configured():
        return []
    key = f"billing:invoices:{sub.stripe_customer_id}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    try:
        page = stripe_client.client().v1.invoices.list(params={"customer": sub.stripe_customer_id, "limit": limit})
    except stripe_client.StripeError:
        logger.warning("stripe invoice list failed", exc_info=True)
        return None
    invoices = [
        {
            "id": inv.get("id"),
            "number": inv.get("number") or inv.get("id"),
            "status": inv.get("status"),
            "amount_due": inv.get("amount_due") or 0,
            "amount_paid": inv.get("amount_paid") or 0,
            "currency": (inv.get("currency") or "usd").upper(),
            "created": stripe_client.from_timestamp(inv.get("created")),
            "url": inv.get("hosted_invoice_url") or "",
        }
        for inv in (stripe_client.as_dict(item) for item in page.data)
    ]
    cache.set(key, invoices, INVOICE_CACHE_SECONDS)
    return invoices


def branch_choices(*, church: Church) -> list[tuple[int, str]]:
    model = _directory_model("Branch")
    if model is None:
        return []
    return [(row.pk, str(row)) for row in model._default_manager.for_church(church).order_by("name")]
