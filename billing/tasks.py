"""Thin Celery tasks for billing; each is idempotent and safe to run twice."""

from celery import shared_task

from billing import notifications, usage, webhooks


@shared_task(bind=True, acks_late=True, max_retries=8)
def process_webhook_stripe_event(self, event_pk: int) -> None:
    try:
        webhooks.stripe_event_process(event_pk=event_pk)
    except webhooks.TransientStripeError as exc:
        if self.request.is_eager:
            return  # run inline (tests, eager dev setups): the periodic sweep applies it later
        raise self.retry(exc=exc, countdown=min(600, 15 * 2**self.request.retries)) from exc


@shared_task(acks_late=True)
def report_overage(usage_period_id: int) -> None:
    usage.overage_report(usage_period_id=usage_period_id)


@shared_task(acks_late=True)
def send_meter_report(report_id: int) -> None:
    usage.meter_report_send(report_id=report_id)


@shared_task
def send_billing_email(church_id: int, kind: str, used: int | None = None) -> None:
    notifications.billing_email_send(church_id=church_id, kind=kind, used=used)


@shared_task
def retry_pending_billing_work() -> None:
    """Periodic sweep (every few minutes): unsent meter reports and stored-but-unapplied Stripe events."""
    usage.meter_reports_retry()
    webhooks.stripe_events_retry()
