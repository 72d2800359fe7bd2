"""/hooks/stripe/: signatures verified, events stored once per id, applied idempotently and in any order;
unknown customers and bad bodies answered without a 500 and without touching any church."""

import json
import time

import pytest

from billing import tasks
from billing.models import StripeEvent, Subscription
from tests.billing.conftest import subscribe, subscribe_and_deliver
from tests.conftest import assert_error_shape
from tests.fakes.stripe import post_events, stripe_signature, unknown_customer_event

pytestmark = pytest.mark.django_db
URL = "/hooks/stripe/"


def test_signature_matches_the_reference_vector():
    body = '{"id":"evt_test_1","object":"event","type":"invoice.paid"}'
    assert stripe_signature(body, "whsec_test_fake_secret", timestamp=1750000000) == (
        "t=1750000000,v1=022c964bd4b3df7c558005a6b58f6819fd1ea27ffd42e1e1b3fbb3c0d2fc5ea9"
    )


def _state():
    return list(Subscription.objects.order_by("pk").values("church_id", "status", "plan_id", "stripe_subscription_id"))


def test_bad_signatures_are_rejected_and_nothing_is_stored(client, world, fake_stripe):
    sub = subscribe_and_deliver(client, world, fake_stripe)
    (event,) = fake_stripe.cancel(sub.stripe_subscription_id)
    body = json.dumps(event)
    before, stored = _state(), StripeEvent.objects.count()
    tampered = body.replace('"canceled"', '"active"', 1)
    cases = {
        "tampered body": (tampered, stripe_signature(body)),
        "wrong secret": (body, stripe_signature(body, "whsec_someone_else")),
        "stale timestamp": (body, stripe_signature(body, timestamp=int(time.time()) - 301)),
        "missing header": (body, ""),
        "garbage header": (body, "v1=deadbeef"),
    }
    for name, (payload, signature) in cases.items():
        response = client.post(URL, data=payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)
        assert_error_shape(response, 400, "invalid_signature"), name
    assert _state() == before and StripeEvent.objects.count() == stored
    # Signed but not JSON, or JSON without an event's shape: 400, not 500.
    for payload in ("not json", json.dumps({"hello": "world"}), json.dumps([1, 2])):
        response = client.post(
            URL, data=payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=stripe_signature(payload)
        )
        assert_error_shape(response, 400, "malformed_request")
    assert client.get(URL).status_code == 405


def test_without_a_configured_secret_everything_is_refused(client, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    body = json.dumps({"id": "evt_1", "type": "invoice.paid", "data": {"object": {}}})
    response = client.post(
        URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=stripe_signature(body)
    )
    assert_error_shape(response, 404, "not_found")


def test_duplicates_and_out_of_order_events_reach_the_same_end_state(client, world, other_world, fake_stripe):
    # The same life, twice: in order for one church; shuffled, late and duplicated for the other.
    lives = {}
    for w in (world, other_world):
        events = subscribe(w, fake_stripe, "growth")
        sub_id = fake_stripe.session_for_customer(Subscription.objects.get(church=w.church).stripe_customer_id)[
            "subscription"
        ]
        events += fake_stripe.fail_payment(sub_id)
        events += fake_stripe.pay_latest_invoice(sub_id)
        events += fake_stripe.renew(sub_id)
        lives[w.church.pk] = events
    post_events(client, lives[world.church.pk])
    shuffled = list(reversed(lives[other_world.church.pk]))
    post_events(client, shuffled + shuffled[::2] + shuffled[1::3])

    def end_state(w):
        s = Subscription.objects.get(church=w.church)
        return (
            s.status,
            s.plan.code,
            s.past_due_since,
            s.cancel_at_period_end,
            s.current_period_end - s.current_period_start,
        )

    assert end_state(world) == end_state(other_world) == end_state(world)
    assert end_state(world)[:2] == ("active", "growth")
    # Stored once per event id; duplicates acknowledged without being applied again.
    ids = [e["id"] for life in lives.values() for e in life]
    assert StripeEvent.objects.count() == len(set(ids)) == len(ids)
    assert StripeEvent.objects.filter(processed_at__isnull=True).count() == 0
    again = post_events(client, lives[world.church.pk][:1])
    assert again[0].json()["duplicate"] is True


def test_a_late_failure_event_does_not_undo_a_later_payment(client, world, fake_stripe):
    sub = subscribe_and_deliver(client, world, fake_stripe)
    failed = fake_stripe.fail_payment(sub.stripe_subscription_id)
    paid = fake_stripe.pay_latest_invoice(sub.stripe_subscription_id)
    post_events(client, paid + failed)  # Stripe delivers the failure last
    sub.refresh_from_db()
    assert sub.status == "active" and sub.past_due_since is None


def test_events_for_unknown_customers_are_recorded_and_ignored(client, world, other_world, fake_stripe):
    subscribe_and_deliver(client, world, fake_stripe)
    before = _state()
    (response,) = post_events(client, unknown_customer_event(fake_stripe))
    assert response.status_code == 200
    event = StripeEvent.objects.get(event_id=response.json()["id"])
    assert event.processed_at is not None and event.outcome == "ignored: unknown customer" and event.church is None
    # An event type we don't use is acknowledged and ignored too.
    other = fake_stripe.event("charge.refunded", {"id": "ch_test_1", "object": "charge", "customer": "cus_x"})
    assert post_events(client, other)[0].status_code == 200
    assert _state() == before


def test_a_stripe_outage_while_applying_is_retried(client, world, fake_stripe, django_capture_on_commit_callbacks):
    sub = subscribe_and_deliver(client, world, fake_stripe)
    events = fake_stripe.cancel(sub.stripe_subscription_id)
    fake_stripe.fail_next(10, status=503, path_prefix="/v1/subscriptions/")
    (response,) = post_events(client, events)
    assert response.status_code == 200  # stored and acknowledged; applying waits for Stripe
    event = StripeEvent.objects.get(event_id=events[0]["id"])
    assert event.processed_at is None and event.outcome.startswith("retrying")
    sub.refresh_from_db()
    assert sub.status == "active"
    fake_stripe.reset_failures()
    StripeEvent.objects.filter(pk=event.pk).update(received_at=event.received_at.replace(year=2000))
    tasks.retry_pending_billing_work.delay()
    sub.refresh_from_db()
    event.refresh_from_db()
    assert sub.status == "canceled" and event.processed_at is not None
