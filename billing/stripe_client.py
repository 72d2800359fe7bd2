"""The one place we talk to Stripe: a StripeClient pointed at ``STRIPE_API_BASE`` (a local fake in tests),
answers turned into plain dicts, and readers for the shapes we depend on (post-``2025-03-31.basil``:
periods on subscription items, invoice → subscription through ``parent``), tolerating the older ones."""

from datetime import UTC, datetime
from functools import lru_cache

import stripe
from django.conf import settings

from koinonia.exceptions import BusinessRuleError

StripeError = stripe.StripeError


def is_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


@lru_cache(maxsize=8)
def _client(api_key: str, api_base: str, max_network_retries: int) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base, "meter_events": api_base},
        max_network_retries=max_network_retries,
    )


def client() -> stripe.StripeClient:
    if not is_configured():
        raise BusinessRuleError(
            "Online billing isn't set up on this server yet. Contact support.", code="billing_unavailable", status=503
        )
    return _client(
        settings.STRIPE_SECRET_KEY,
        settings.STRIPE_API_BASE,
        getattr(settings, "STRIPE_MAX_NETWORK_RETRIES", 2),
    )


def as_dict(obj) -> dict:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def provider_error(exc: stripe.StripeError) -> BusinessRuleError:
    """A Stripe failure shown to the church in plain words (the details go to the logs)."""
    return BusinessRuleError(
        "Our payment provider didn't accept that just now. Please try again in a minute.",
        code="payment_provider_error",
        status=502,
    )


def meter_event_name() -> str:
    return getattr(settings, "STRIPE_METER_EVENT_NAME", "sms_segments")


def from_timestamp(value) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def ident(value) -> str:
    """A Stripe reference is an id or, when expanded, an object with an id."""
    if isinstance(value, dict):
        return value.get("id") or ""
    return value or ""


def subscription_items(subscription: dict) -> list[dict]:
    items = subscription.get("items") or {}
    return list(items.get("data") or []) if isinstance(items, dict) else list(items)


def subscription_price_ids(subscription: dict) -> list[str]:
    return [ident(item.get("price")) for item in subscription_items(subscription) if item.get("price")]


def subscription_period(subscription: dict) -> tuple[datetime | None, datetime | None]:
    """Periods live on items since basil; older payloads carried them on the subscription."""
    starts = [i["current_period_start"] for i in subscription_items(subscription) if i.get("current_period_start")]
    ends = [i["current_period_end"] for i in subscription_items(subscription) if i.get("current_period_end")]
    start = min(starts) if starts else subscription.get("current_period_start")
    end = max(ends) if ends else subscription.get("current_period_end")
    return from_timestamp(start), from_timestamp(end)


def invoice_subscription_id(invoice: dict) -> str:
    """``invoice.parent.subscription_details.subscription`` (basil) or ``invoice.subscription`` (older)."""
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return ident(details.get("subscription")) or ident(invoice.get("subscription"))
