"""The fake speaks Stripe's protocol: the stripe library works against it unchanged."""

import pytest
import stripe

from tests.fakes.stripe import decode_form


def test_bracketed_form_keys_decode_like_stripe():
    pairs = [
        ("line_items[0][price]", "p1"),
        ("line_items[0][quantity]", "1"),
        ("line_items[1][price]", "p2"),
        ("metadata[church_id]", "4"),
        ("expand[]", "latest_invoice"),
    ]
    assert decode_form(pairs) == {
        "line_items": [{"price": "p1", "quantity": "1"}, {"price": "p2"}],
        "metadata": {"church_id": "4"},
        "expand": ["latest_invoice"],
    }


@pytest.mark.django_db
def test_auth_idempotency_and_errors(fake_stripe):
    client = stripe.StripeClient(fake_stripe.api_key, base_addresses={"api": fake_stripe.url}, max_network_retries=0)
    first = client.v1.customers.create(params={"name": "A"}, options={"idempotency_key": "k1"})
    again = client.v1.customers.create(params={"name": "A"}, options={"idempotency_key": "k1"})
    assert first.id == again.id and len(fake_stripe.state.customers) == 1
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create(params={"name": "B"}, options={"idempotency_key": "k1"})
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient("sk_test_wrong", base_addresses={"api": fake_stripe.url}).v1.customers.create()
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.subscriptions.retrieve("sub_nope")
    assert missing.value.code == "resource_missing" and missing.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "customer": first.id,
                "line_items": [{"price": "price_test_growth_overage", "quantity": 1}],  # metered takes no quantity
            }
        )
    event = {
        "event_name": "sms_segments",
        "identifier": "id-1",
        "payload": {"stripe_customer_id": first.id, "value": "5"},
    }
    client.v1.billing.meter_events.create(params=event)
    with pytest.raises(stripe.InvalidRequestError) as duplicate:
        client.v1.billing.meter_events.create(params=event)
    assert duplicate.value.code == "resource_already_exists"
