"""Usage metering: segments handed to the provider bump one aggregate row per (church, period) and, for
branch budgets, one per (church, period, branch) — set-based ``UPDATE … SET n = n + k``, never a row per
segment. Crossing 80% / 100% of the allowance emails the owners once. Overage goes to Stripe as meter
events through an outbox (MeterReport) whose identifiers name the range they cover."""

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from billing import enqueue, rules, stripe_client
from billing.models import BranchUsage, MeterReport, Subscription, UsagePeriod
from churches.models import Church
from koinonia import events

logger = logging.getLogger(__name__)
WARNING_THRESHOLDS = ((100, "warned_100_at"), (80, "warned_80_at"))
RETRY_AFTER = timedelta(minutes=1)


def _subscription_for_id(church_id: int) -> Subscription | None:
    sub = Subscription.objects.for_church(church_id).select_related("plan").first()
    if sub is None:
        from billing.services import subscription_start_trial

        church = Church.objects.filter(pk=church_id).first()
        sub = subscription_start_trial(church=church) if church is not None else None
    return sub


def _bump(model, lookup: dict, defaults: dict, delta: int) -> None:
    """``UPDATE … SET segments_used = segments_used + delta`` on the row, creating it the first time."""
    expression = F("segments_used") + delta if delta >= 0 else Greatest(F("segments_used") + delta, 0)
    if model.objects.filter(**lookup).update(segments_used=expression):
        return
    try:
        with transaction.atomic():
            model.objects.create(**lookup, **defaults, segments_used=max(delta, 0))
    except IntegrityError:  # a concurrent sender created it first
        model.objects.filter(**lookup).update(segments_used=expression)


def usage_record(
    *, church_id: int, segments: int, branch_id: int | None = None, occurred_at: datetime | None = None
) -> None:
    """Count ``segments`` handed to the provider (called from the ``segments_sent`` hook, per batch)."""
    if segments <= 0:
        return
    _apply(church_id=church_id, delta=segments, branch_id=branch_id, occurred_at=occurred_at)


def usage_release(
    *, church_id: int, segments: int, branch_id: int | None = None, occurred_at: datetime | None = None
) -> None:
    """Take back segments that failed before reaching the carrier (provider ``sending_failed``)."""
    if segments <= 0:
        return
    _apply(church_id=church_id, delta=-segments, branch_id=branch_id, occurred_at=occurred_at)


@transaction.atomic
def _apply(*, church_id: int, delta: int, branch_id: int | None, occurred_at: datetime | None) -> None:
    sub = _subscription_for_id(church_id)
    if sub is None:
        logger.warning("usage for unknown church", extra={"church_id": church_id})
        return
    period = rules.current_period(sub, occurred_at or timezone.now())
    lookup = {"church_id": church_id, "period_start": period.start}
    _bump(UsagePeriod, lookup, {"period_end": period.end}, delta)
    if branch_id:
        _bump(BranchUsage, {**lookup, "branch_id": branch_id}, {}, delta)
    if delta <= 0:
        return
    usage = UsagePeriod.objects.get(**lookup)
    allowance = sub.plan.included_segments + usage.credit_segments
    _warn_once(usage=usage, allowance=allowance)
    if usage.segments_used - allowance > usage.overage_reported and sub.plan.overage_enabled:
        enqueue.overage_report_later(usage.pk)


def _warn_once(*, usage: UsagePeriod, allowance: int) -> None:
    if allowance <= 0:
        return
    for percent, field in WARNING_THRESHOLDS:
        if getattr(usage, field) is None and usage.segments_used * 100 >= allowance * percent:
            # The conditional UPDATE lets exactly one concurrent sender win the email.
            claimed = UsagePeriod.objects.filter(pk=usage.pk, **{field: None}).update(**{field: timezone.now()})
            if claimed:
                enqueue.billing_email_send_later(usage.church_id, f"usage_{percent}", usage.segments_used)
                events.emit(
                    church=usage.church_id,
                    type="billing.usage_threshold",
                    data={
                        "percent": percent,
                        "segments_used": usage.segments_used,
                        "allowance": allowance,
                        "period_start": usage.period_start,
                        "period_end": usage.period_end,
                    },
                )
            return  # crossing 100% at once doesn't also send the 80% email


def overage_report(*, usage_period_id: int) -> MeterReport | None:
    """Write the next meter report for this period's unreported overage, then send it after commit."""
    with transaction.atomic():
        usage = UsagePeriod.objects.select_for_update().filter(pk=usage_period_id).first()
        if usage is None:
            return None
        sub = Subscription.objects.select_related("plan").get(church_id=usage.church_id)
        if not sub.stripe_customer_id or not sub.plan.overage_enabled or not sub.plan.stripe_overage_price_id:
            return None
        billable = max(0, usage.segments_used - sub.plan.included_segments - usage.credit_segments)
        if billable <= usage.overage_reported:
            return None
        report = MeterReport.objects.create(
            church_id=usage.church_id,
            usage_period=usage,
            identifier=f"koinonia-usage-{usage.pk}-{usage.overage_reported}-{billable}",
            segments=billable - usage.overage_reported,
            stripe_customer_id=sub.stripe_customer_id,
        )
        usage.overage_reported = billable
        usage.save(update_fields=["overage_reported"])
        enqueue.meter_report_send_later(report.pk)
    return report


def meter_report_send(*, report_id: int) -> bool:
    """Send one meter event. Safe to repeat: Stripe rejects a second event with the same identifier,
    which we take as proof the first arrived."""
    report = MeterReport.objects.filter(pk=report_id, sent_at=None).first()
    if report is None:
        return True
    params = {
        "event_name": stripe_client.meter_event_name(),
        "identifier": report.identifier,
        "timestamp": int(report.created_at.timestamp()),
        "payload": {"stripe_customer_id": report.stripe_customer_id, "value": str(report.segments)},
    }
    try:
        stripe_client.client().v1.billing.meter_events.create(params=params)
    except stripe_client.StripeError as exc:
        if getattr(exc, "code", None) != "resource_already_exists":
            MeterReport.objects.filter(pk=report.pk).update(last_error=str(exc)[:500])
            logger.warning("stripe meter event failed", extra={"identifier": report.identifier})
            return False
    MeterReport.objects.filter(pk=report.pk, sent_at=None).update(sent_at=timezone.now(), last_error="")
    return True


def meter_reports_retry() -> int:
    """Resend reports that were written but not (known to be) sent — the outbox sweep."""
    stale = timezone.now() - RETRY_AFTER
    ids = list(MeterReport.objects.filter(sent_at=None, created_at__lt=stale).values_list("pk", flat=True)[:500])
    return sum(1 for report_id in ids if meter_report_send(report_id=report_id))
