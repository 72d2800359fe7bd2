"""Stripe webhooks: verify the signature, store each event once (by id), answer fast, apply later.

Applying is idempotent and order-independent: whatever the event, we re-fetch the subscription it is
about and mirror Stripe's current state (``services.subscription_apply_stripe`` ignores a fetch older
than the one already applied). Events about customers we don't know are recorded and ignored."""

import hashlib
import hmac
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
from koinonia.api.parsers import json_payload_problem
from koinonia.exceptions import BusinessRuleError
from koinonia.signing import check_signed_at

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
WEBHOOK_JSON_DEPTH = 32  # Stripe events nest well under 10 deep (an expanded invoice's lines included)


def _unsafe_json_problem(value) -> str | None:
    return json_payload_problem(value, max_depth=WEBHOOK_JSON_DEPTH)


INVOICE_EVENTS = {"invoice.paid", "invoice.payment_failed", "invoice.payment_succeeded"}


class TransientStripeError(Exception):
    """Stripe couldn't be reached while applying an event; the task retries."""


class StripeSignatureError(Exception):
    """The event is not provably from Stripe; the message is a short reason for logs."""


def verify_stripe_signature(
    payload: bytes, header: str, *, secret: str, tolerance: int, now: float | None = None
) -> None:
    """Stripe's scheme: ``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>[,v1=…]``.

    An empty secret verifies nothing (anyone can sign with it). The timestamp must be within
    ``tolerance`` seconds of now on either side: stripe-python only refuses old ones, and a signature
    dated in the future would stay replayable for as long as its date is ahead.
    """
    if not secret:
        raise StripeSignatureError("no webhook secret is configured")
    timestamp, signatures = None, []
    for part in (header or "").split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            timestamp = value
        elif name == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise StripeSignatureError("no timestamp or v1 signature")
    check_signed_at(timestamp, now=now, tolerance=tolerance, error=StripeSignatureError)
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + payload, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise StripeSignatureError("signature does not match")


def stripe_webhooks_configured() -> bool:
    return bool(settings.STRIPE_WEBHOOK_SECRET)


def _event_from(payload: bytes) -> dict:
    """The verified body as an event with an id, a type and an object; BusinessRuleError (400) if not."""
    malformed = BusinessRuleError("The event has no id, type or object.", code="malformed_request", status=400)
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise BusinessRuleError("The event is not JSON.", code="malformed_request", status=400) from exc
    except RecursionError:
        raise malformed from None
    data = event.get("data") if isinstance(event, dict) else None
    if not (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and event["id"]
        and isinstance(event.get("type"), str)
        and isinstance(data, dict)
        and isinstance(data.get("object"), dict)
    ):
        raise malformed
    created = event.get("created")
    if created is not None and (isinstance(created, bool) or not isinstance(created, int) or not 0 <= created < 2**32):
        raise malformed
    if _unsafe_json_problem(event) is not None:
        raise malformed
    return event


def stripe_event_receive(*, payload: bytes, signature: str) -> tuple[StripeEvent, bool]:
    """Verify and store; returns the event and whether it still needs applying."""
    if not stripe_webhooks_configured():
        # Without a secret nothing can be verified: answer as if the hook did not exist.
        raise BusinessRuleError("Not found.", code="not_found", status=404)
    try:
        verify_stripe_signature(
            payload,
            signature,
            secret=settings.STRIPE_WEBHOOK_SECRET,
            tolerance=settings.WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS,
        )
    except StripeSignatureError as exc:
        logger.warning("rejected Stripe webhook", extra={"reason": str(exc)})
        raise BusinessRuleError("Invalid Stripe signature.", code="invalid_signature", status=400) from exc
    event = _event_from(payload)

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
