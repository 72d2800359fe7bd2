"""Writes for billing: the trial, Stripe Checkout / Portal / plan changes, mirroring Stripe's subscription
state, the church's spend cap and branch budgets, and support's credits and trial extensions.

Stripe calls never run inside an open transaction: we call Stripe, then write what it answered."""

import hashlib
import json
import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billing import enqueue, rules, selectors, stripe_client, trial
from billing.models import BranchBudget, Plan, Subscription, UsagePeriod
from billing.rules import CHANGEABLE_STATUSES, LIVE_STATUSES, Status
from churches.models import Church, User
from churches.services import audit_record
from koinonia.exceptions import BusinessRuleError

logger = logging.getLogger(__name__)
MAX_CREDIT_SEGMENTS = 1_000_000
MAX_TRIAL_EXTENSION_DAYS = 90


# --- Trial and lookup -----------------------------------------------------------------------------


def subscription_start_trial(*, church: Church) -> Subscription:
    """The trial subscription (idempotent). Churches from before billing get theirs lazily."""
    fields = trial.trial_fields(church)
    trial_end = fields["trial_ends_at"]
    with transaction.atomic():
        sub, created = Subscription.objects.select_related("plan").get_or_create(church=church, defaults=fields)
        if created:
            audit_record(
                church=church, action="billing.trial_started", target=sub, data={"ends": trial_end.isoformat()}
            )
    sub.church = church
    return sub


def subscription_ensure(*, church: Church) -> Subscription:
    return selectors.subscription_find(church=church) or subscription_start_trial(church=church)


def _purchasable_plan(code: str) -> Plan:
    plan = selectors.plan_list_public().filter(code=str(code or "")[:32]).first()
    if plan is None:
        raise BusinessRuleError("There is no plan by that name.", code="unknown_plan", status=400, field="plan")
    if not plan.stripe_price_id:
        raise BusinessRuleError(
            f"The {plan.name} plan can't be bought online yet. Contact support.", code="plan_unavailable", status=422
        )
    return plan


# --- Checkout, portal, plan changes (owner actions) -----------------------------------------------


def _idempotency_key(prefix: str, params: dict) -> str:
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:24]
    return f"koinonia-{prefix}-{digest}"


def _ensure_customer(*, church: Church, sub: Subscription) -> str:
    if sub.stripe_customer_id:
        return sub.stripe_customer_id
    params = {
        "name": church.name,
        "email": church.contact_email or "",
        "metadata": {"church_id": str(church.pk), "church_slug": church.slug},
    }
    try:
        customer = stripe_client.client().v1.customers.create(
            params=params, options={"idempotency_key": _idempotency_key(f"customer-{church.pk}", params)}
        )
    except stripe_client.StripeError as exc:
        logger.warning("stripe customer create failed", exc_info=True)
        raise stripe_client.provider_error(exc) from exc
    Subscription.objects.filter(pk=sub.pk, stripe_customer_id="").update(stripe_customer_id=customer.id)
    sub.refresh_from_db(fields=["stripe_customer_id"])
    return sub.stripe_customer_id


def checkout_start(*, church: Church, acting_user: User, plan_code: str, success_url: str, cancel_url: str) -> str:
    """A Stripe Checkout Session for ``plan_code``; returns the URL to send the owner to."""
    plan = _purchasable_plan(plan_code)
    sub = subscription_ensure(church=church)
    if sub.has_stripe_subscription and sub.status in LIVE_STATUSES:
        raise BusinessRuleError(
            "You already have a subscription: change its plan instead.", code="conflict", status=409
        )
    _check_plan_fits(church=church, plan=plan)
    customer_id = _ensure_customer(church=church, sub=sub)
    line_items = [{"price": plan.stripe_price_id, "quantity": 1}]
    if plan.stripe_overage_price_id:
        line_items.append({"price": plan.stripe_overage_price_id})  # metered: no quantity
    params = {
        "mode": "subscription",
        "customer": customer_id,
        "line_items": line_items,
        "client_reference_id": f"church_{church.pk}",
        "metadata": {"church_id": str(church.pk), "plan": plan.code},
        "subscription_data": {"metadata": {"church_id": str(church.pk)}},
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    try:
        session = stripe_client.client().v1.checkout.sessions.create(params=params)
    except stripe_client.StripeError as exc:
        logger.warning("stripe checkout session failed", exc_info=True)
        raise stripe_client.provider_error(exc) from exc
    audit_record(
        church=church,
        actor=acting_user,
        action="billing.checkout_started",
        target=sub,
        data={"plan": plan.code, "session": session.id},
    )
    return session.url


def portal_session_create(*, church: Church, acting_user: User, return_url: str) -> str:
    sub = subscription_ensure(church=church)
    if not sub.stripe_customer_id:
        raise BusinessRuleError("Choose a plan first; then you can manage cards here.", code="no_customer", status=409)
    try:
        session = stripe_client.client().v1.billing_portal.sessions.create(
            params={"customer": sub.stripe_customer_id, "return_url": return_url}
        )
    except stripe_client.StripeError as exc:
        logger.warning("stripe portal session failed", exc_info=True)
        raise stripe_client.provider_error(exc) from exc
    audit_record(church=church, actor=acting_user, action="billing.portal_opened", target=sub)
    return session.url


def _plan_fit_problems(*, church: Church, plan: Plan) -> list[str]:
    problems = []
    from billing.limits import COUNTED

    for resource, field in COUNTED.items():
        have = selectors.resource_count(church=church, resource=resource)
        limit = getattr(plan, field)
        if have > limit:
            noun = resource.replace("_", " ")
            problems.append(f"{have - limit:,} {noun if have - limit != 1 else noun.rstrip('s')}")
    return problems


def _check_plan_fits(*, church: Church, plan: Plan) -> None:
    problems = _plan_fit_problems(church=church, plan=plan)
    if problems:
        raise BusinessRuleError(
            f"The {plan.name} plan is too small for what you have today: remove {', '.join(problems)} first, "
            "or pick a larger plan.",
            code="plan_limit",
            status=422,
            field="plan",
        )


def _item_changes(current: dict, plan: Plan) -> list[dict]:
    overage_prices = set(
        Plan.objects.exclude(stripe_overage_price_id="").values_list("stripe_overage_price_id", flat=True)
    )
    base, overage = None, None
    for item in stripe_client.subscription_items(current):
        price = item.get("price") or {}
        metered = isinstance(price, dict) and (price.get("recurring") or {}).get("usage_type") == "metered"
        if metered or stripe_client.ident(price) in overage_prices:
            overage = overage or item
        else:
            base = base or item
    if base is None:
        raise BusinessRuleError(
            "This subscription can't be changed here. Contact support.", code="conflict", status=409
        )
    changes = [{"id": base["id"], "price": plan.stripe_price_id, "quantity": 1}]
    if plan.stripe_overage_price_id and overage is not None:
        changes.append({"id": overage["id"], "price": plan.stripe_overage_price_id})
    elif plan.stripe_overage_price_id:
        changes.append({"price": plan.stripe_overage_price_id})
    elif overage is not None:
        changes.append({"id": overage["id"], "deleted": True})
    return changes


def subscription_change_plan(*, church: Church, acting_user: User, plan_code: str) -> Subscription:
    """Upgrade or downgrade a paying church in place (Stripe prorates); the new plan applies at once."""
    plan = _purchasable_plan(plan_code)
    sub = subscription_ensure(church=church)
    if not (sub.has_stripe_subscription and sub.status in CHANGEABLE_STATUSES):
        raise BusinessRuleError("Choose a plan through checkout first.", code="no_subscription", status=409)
    if plan.pk == sub.plan_id:
        raise BusinessRuleError(f"You're already on the {plan.name} plan.", code="conflict", status=409)
    _check_plan_fits(church=church, plan=plan)
    client = stripe_client.client()
    try:
        current = stripe_client.as_dict(client.v1.subscriptions.retrieve(sub.stripe_subscription_id))
        params = {"items": _item_changes(current, plan), "proration_behavior": "create_prorations"}
        key = _idempotency_key(f"plan-{sub.stripe_subscription_id}", {**params, "v": sub.updated_at.isoformat()})
        updated = client.v1.subscriptions.update(
            sub.stripe_subscription_id,
            params={**params, "expand": ["latest_invoice"]},
            options={"idempotency_key": key},
        )
    except stripe_client.StripeError as exc:
        logger.warning("stripe plan change failed", exc_info=True)
        raise stripe_client.provider_error(exc) from exc
    previous = sub.plan.code
    subscription_apply_stripe(sub=sub, data=stripe_client.as_dict(updated), fetched_at=timezone.now())
    audit_record(
        church=church,
        actor=acting_user,
        action="billing.plan_changed",
        target=sub,
        data={"from": previous, "to": plan.code},
    )
    return subscription_ensure(church=church)


# --- Mirroring Stripe -----------------------------------------------------------------------------


def _past_due_since(sub: Subscription, data: dict, fetched_at: datetime) -> datetime | None:
    if data.get("status") not in (Status.PAST_DUE, Status.UNPAID):
        return None
    candidates = [sub.past_due_since] if sub.past_due_since else []
    invoice = data.get("latest_invoice")
    if isinstance(invoice, dict) and invoice.get("status") in ("open", "uncollectible") and invoice.get("created"):
        candidates.append(stripe_client.from_timestamp(invoice["created"]))
    return min(candidates) if candidates else fetched_at


@transaction.atomic
def subscription_apply_stripe(*, sub: Subscription, data: dict, fetched_at: datetime) -> str:
    """Make our row say what Stripe's subscription ``data`` (fetched at ``fetched_at``) says. Idempotent,
    and order-independent: a fetch older than the one we last applied is ignored."""
    sub = Subscription.objects.select_for_update().select_related("plan", "church").get(pk=sub.pk)
    stripe_id = data.get("id") or ""
    if sub.stripe_subscription_id and sub.stripe_subscription_id != stripe_id:
        if sub.status in LIVE_STATUSES:
            return f"ignored: church already has subscription {sub.stripe_subscription_id}"
    elif sub.stripe_synced_at and fetched_at < sub.stripe_synced_at:
        return "ignored: older than the state already applied"
    if sub.stripe_customer_id and stripe_client.ident(data.get("customer")) != sub.stripe_customer_id:
        return "ignored: subscription belongs to another customer"

    before = (sub.status, sub.plan.code)
    status = data.get("status") if data.get("status") in Status.values else Status.INCOMPLETE
    plan = Plan.objects.filter(stripe_price_id__in=stripe_client.subscription_price_ids(data)).first()
    start, end = stripe_client.subscription_period(data)
    sub.stripe_subscription_id = stripe_id
    sub.stripe_customer_id = sub.stripe_customer_id or stripe_client.ident(data.get("customer"))
    sub.status = status
    sub.plan = plan or sub.plan
    sub.cancel_at_period_end = bool(data.get("cancel_at_period_end"))
    sub.past_due_since = _past_due_since(sub, data, fetched_at)
    sub.current_period_start = start or sub.current_period_start
    sub.current_period_end = end or sub.current_period_end
    if status == Status.TRIALING and data.get("trial_end"):
        sub.trial_ends_at = stripe_client.from_timestamp(data["trial_end"])
    sub.stripe_synced_at = fetched_at
    sub.save()
    after = (sub.status, sub.plan.code)
    if before != after:
        audit_record(
            church=sub.church,
            action="billing.subscription_changed",
            target=sub,
            data={"status": [before[0], after[0]], "plan": [before[1], after[1]], "stripe": stripe_id},
        )
        if after[0] == Status.PAST_DUE:
            enqueue.billing_email_send_later(sub.church_id, "payment_failed")
    note = "" if plan else " (unknown price: plan kept)"
    return f"applied: {sub.status} on {sub.plan.code}{note}"


# --- Church settings: spend cap and branch budgets (owners) ---------------------------------------


@transaction.atomic
def spend_cap_set(*, church: Church, acting_user: User, cap_cents: int | None) -> Subscription:
    if cap_cents is not None and not (0 <= cap_cents <= 100_000_00):
        raise BusinessRuleError("Choose a cap between $0 and $100,000.", field="spend_cap")
    sub = subscription_ensure(church=church)
    previous = sub.spend_cap_cents
    Subscription.objects.filter(pk=sub.pk).update(spend_cap_cents=cap_cents)
    audit_record(
        church=church,
        actor=acting_user,
        action="billing.spend_cap_set",
        target=sub,
        data={"from": previous, "to": cap_cents},
    )
    sub.spend_cap_cents = cap_cents
    return sub


@transaction.atomic
def branch_budget_set(*, church: Church, acting_user: User, branch_id: int, monthly_segments: int) -> BranchBudget:
    if not selectors.branch_exists(church=church, branch_id=branch_id):
        raise BusinessRuleError("No such branch.", code="not_found", status=404, field="branch_id")
    if not 0 <= monthly_segments <= 10_000_000:
        raise BusinessRuleError("Choose a budget between 0 and 10,000,000 segments.", field="monthly_segments")
    budget, _ = BranchBudget.objects.update_or_create(
        church=church,
        branch_id=branch_id,
        defaults={"monthly_segments": monthly_segments, "created_by": acting_user},
    )
    audit_record(
        church=church,
        actor=acting_user,
        action="billing.branch_budget_set",
        target=budget,
        data={"branch_id": branch_id, "monthly_segments": monthly_segments},
    )
    return budget


@transaction.atomic
def branch_budget_delete(*, church: Church, acting_user: User, budget_id: int) -> None:
    budget = selectors.branch_budget_get(church=church, id=budget_id)
    audit_record(
        church=church,
        actor=acting_user,
        action="billing.branch_budget_removed",
        target=budget,
        data={"branch_id": budget.branch_id, "monthly_segments": budget.monthly_segments},
    )
    budget.delete()


# --- Support actions (admin) ----------------------------------------------------------------------


def usage_period_ensure(*, church_id: int, period: rules.Period) -> UsagePeriod:
    usage, _ = UsagePeriod.objects.get_or_create(
        church_id=church_id, period_start=period.start, defaults={"period_end": period.end}
    )
    return usage


@transaction.atomic
def credit_grant(*, church: Church, acting_user: User, segments: int, reason: str) -> UsagePeriod:
    """Extra segments for the current period (a goodwill credit, or to cover a provider fault)."""
    if not 0 < segments <= MAX_CREDIT_SEGMENTS:
        raise BusinessRuleError(f"Grant between 1 and {MAX_CREDIT_SEGMENTS:,} segments.", field="segments")
    if not reason.strip():
        raise BusinessRuleError("Say why: the reason goes in the audit log.", field="reason")
    sub = subscription_ensure(church=church)
    usage = usage_period_ensure(church_id=church.pk, period=rules.current_period(sub))
    UsagePeriod.objects.filter(pk=usage.pk).update(credit_segments=F("credit_segments") + segments)
    audit_record(
        church=church,
        actor=acting_user,
        action="billing.credit_granted",
        target=usage,
        data={"segments": segments, "reason": reason.strip(), "period_start": usage.period_start.isoformat()},
    )
    usage.refresh_from_db()
    return usage


@transaction.atomic
def trial_extend(*, church: Church, acting_user: User, days: int, reason: str) -> Subscription:
    if not 0 < days <= MAX_TRIAL_EXTENSION_DAYS:
        raise BusinessRuleError(f"Extend by 1 to {MAX_TRIAL_EXTENSION_DAYS} days.", field="days")
    if not reason.strip():
        raise BusinessRuleError("Say why: the reason goes in the audit log.", field="reason")
    sub = subscription_ensure(church=church)
    sub = Subscription.objects.select_for_update().get(pk=sub.pk)
    if sub.has_stripe_subscription:
        raise BusinessRuleError("This church pays through Stripe; extend its trial there.", code="conflict", status=409)
    previous = sub.trial_ends_at or sub.current_period_end
    new_end = max(previous, timezone.now()) + timedelta(days=days)
    Subscription.objects.filter(pk=sub.pk).update(
        status=Status.TRIALING, trial_ends_at=new_end, current_period_end=new_end
    )
    UsagePeriod.objects.for_church(church).filter(period_start=sub.current_period_start).update(period_end=new_end)
    Church.objects.filter(pk=church.pk).update(trial_ends_at=new_end)
    church.trial_ends_at = new_end
    audit_record(
        church=church,
        actor=acting_user,
        action="billing.trial_extended",
        target=sub,
        data={"days": days, "reason": reason.strip(), "from": previous.isoformat(), "to": new_end.isoformat()},
    )
    sub.refresh_from_db()
    return sub
