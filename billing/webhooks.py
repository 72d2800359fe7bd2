"""Stripe webhooks: verify the signature, store each event once (by id), answer fast, apply later.

Applying is idempotent and order-independent: whatever the event, we re-fetch the subscription it is
about and mirror Stripe's current state (``services.subscription_apply_stripe`` ignores a fetch older
than the one already applied). Events about customers we don't know are recorded and ignored."""

import json
import logging
from datetime import timedelta

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from billing import enqueue, services, stripe_client
from billing.models import StripeEvent, Subscription
from koinonia.exceptions import BusinessRuleError

logger = logging.getLogger(__name__)
CLAIM_SECONDS = 120
SUBSCRIPTION_EVENTS = {
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "customer.subscription.trial_will_end",
}
INVOICE_EVENTS = {"invoice.paid", "invoice.payment_failed", "invoice.payment_succeeded"}


class TransientStripeError(Exception):
    """Stripe couldn't be reached while applying an event; the task retries."""


def stripe_event_receive(*, payload: bytes, signature: str) -> tuple[StripeEvent, bool]:
    """Verify and store; returns the event and whether it still needs applying."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise BusinessRuleError("Stripe webhooks are not configured.", code="not_configured", status=503)
    try:
        stripe.WebhookSignature.verify_header(
            payload, signature, secret, tolerance=settings.WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError as exc:
        raise BusinessRuleError("Invalid Stripe signature.", code="invalid_signature", status=400) from exc
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise BusinessRuleError("The event is not JSON.", code="malformed_request", status=400) from exc
    if not (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and isinstance(event.get("type"), str)
        and isinstance((event.get("data") or {}).get("object"), dict)
    ):
        raise BusinessRuleError("The event has no id, type or object.", code="malformed_request", status=400)

    try:
        with transaction.atomic():
            stored, _ = StripeEvent.objects.get_or_create(
                event_id=event["id"][:100],
                defaults={
                    "type": event["type"][:100],
                    "api_version": str(event.get("api_version") or "")[:40],
                    "stripe_created": stripe_client.from_timestamp(event.get("created")),
                    "payload": event,
                },
            )
    except IntegrityError:  # the same event delivered twice at once
        stored = StripeEvent.objects.get(event_id=event["id"][:100])
    pending = stored.processed_at is None
    if pending:
        enqueue.stripe_event_process_later(stored.pk)
    return stored, pending


def _claim(event_pk: int) -> StripeEvent | None:
    now = timezone.now()
    claimed = (
        StripeEvent.objects.filter(pk=event_pk, processed_at=None)
        .filter(Q(claimed_until=None) | Q(claimed_until__lt=now))
        .update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS), attempts=F("attempts") + 1)
    )
    return StripeEvent.objects.get(pk=event_pk) if claimed else None


def stripe_event_process(*, event_pk: int) -> str | None:
    """Apply one stored event (once). Raises TransientStripeError when Stripe can't be reached."""
    event = _claim(event_pk)
    if event is None:
        return None  # applied already, or another worker holds it
    try:
        outcome, church_id = _apply(event)
    except stripe_client.StripeError as exc:
        if isinstance(exc, stripe.InvalidRequestError):
            outcome, church_id = f"ignored: Stripe refused the lookup ({exc.code or 'invalid'})", event.church_id
        else:
            StripeEvent.objects.filter(pk=event.pk).update(claimed_until=None, outcome=f"retrying: {exc}"[:255])
            raise TransientStripeError(str(exc)) from exc
    StripeEvent.objects.filter(pk=event.pk).update(
        processed_at=timezone.now(), claimed_until=None, outcome=outcome[:255], church_id=church_id
    )
    logger.info("stripe event applied", extra={"event": event.event_id, "type": event.type, "outcome": outcome})
    return outcome


def _subscription_for_customer(customer_id: str) -> Subscription | None:
    if not customer_id:
        return None
    return Subscription.objects.select_related("plan", "church").filter(stripe_customer_id=customer_id).first()


def _apply(event: StripeEvent) -> tuple[str, int | None]:
    obj = event.payload["data"]["object"]
    customer_id = stripe_client.ident(obj.get("customer"))
    if event.type == "checkout.session.completed":
        sub = _subscription_for_customer(customer_id)
        if sub is None:
            return "ignored: unknown customer", None
        subscription_id = stripe_client.ident(obj.get("subscription"))
        if not subscription_id:
            return "ignored: no subscription in this session", sub.church_id
    elif event.type in SUBSCRIPTION_EVENTS:
        sub = _subscription_for_customer(customer_id)
        subscription_id = obj.get("id") or ""
    elif event.type in INVOICE_EVENTS:
        sub = _subscription_for_customer(customer_id)
        subscription_id = stripe_client.invoice_subscription_id(obj)
        if sub is not None and not subscription_id:
            return "ignored: invoice without a subscription", sub.church_id
    else:
        return "ignored: event type not used", None
    if sub is None:
        return "ignored: unknown customer", None
    fetched_at = timezone.now()
    data = stripe_client.client().v1.subscriptions.retrieve(subscription_id, params={"expand": ["latest_invoice"]})
    outcome = services.subscription_apply_stripe(sub=sub, data=stripe_client.as_dict(data), fetched_at=fetched_at)
    return outcome, sub.church_id


def stripe_events_retry() -> int:
    """Apply events that were stored but never applied (a lost task, Stripe down) — the sweep."""
    stale = timezone.now() - timedelta(minutes=5)
    ids = list(StripeEvent.objects.filter(processed_at=None, received_at__lt=stale).values_list("pk", flat=True)[:200])
    done = 0
    for event_pk in ids:
        try:
            done += stripe_event_process(event_pk=event_pk) is not None
        except TransientStripeError:
            break  # Stripe is down: try again next sweep
    return done
