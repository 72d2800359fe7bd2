"""/hooks/stripe/: no secret means no webhook, signatures dated too far in the future are refused like
stale ones, and signed bodies of the wrong shape are a 400 in the JSON error shape that stores nothing."""

import json
import time

import pytest

from billing.models import StripeEvent, Subscription
from tests.conftest import assert_error_shape
from tests.fakes.stripe import WEBHOOK_SECRET, stripe_signature

pytestmark = pytest.mark.django_db
URL = "/hooks/stripe/"
EVENT = json.dumps({"id": "evt_sec_1", "type": "invoice.paid", "data": {"object": {"customer": "cus_x"}}})


def _post(client, body: str, signature: str):
    return client.post(URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)


@pytest.fixture
def secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    return WEBHOOK_SECRET


def _subscriptions():
    return list(Subscription.objects.order_by("pk").values())


def test_a_signature_dated_in_the_future_is_refused(client, world, secret, settings):
    before = _subscriptions()
    tolerance = settings.WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS
    future = stripe_signature(EVENT, timestamp=int(time.time()) + tolerance + 60)
    assert_error_shape(_post(client, EVENT, future), 400, "invalid_signature")
    assert not StripeEvent.objects.exists() and _subscriptions() == before
    # Clock skew inside the window is fine.
    skewed = stripe_signature(EVENT, timestamp=int(time.time()) + tolerance - 60)
    assert _post(client, EVENT, skewed).status_code == 200
    assert StripeEvent.objects.count() == 1


def test_the_verifier_checks_both_directions_and_refuses_an_empty_secret():
    from billing.webhooks import StripeSignatureError, verify_stripe_signature

    body, now = EVENT.encode(), 1_750_000_000
    header = stripe_signature(body, WEBHOOK_SECRET, timestamp=now)
    verify_stripe_signature(body, header, secret=WEBHOOK_SECRET, tolerance=300, now=now + 300)
    verify_stripe_signature(body, header, secret=WEBHOOK_SECRET, tolerance=300, now=now - 300)
    for moment in (now + 301, now - 301):
        with pytest.raises(StripeSignatureError):
            verify_stripe_signature(body, header, secret=WEBHOOK_SECRET, tolerance=300, now=moment)
    with pytest.raises(StripeSignatureError):
        verify_stripe_signature(body, stripe_signature(body, "", timestamp=now), secret="", tolerance=300, now=now)


@pytest.mark.parametrize("signed_with", ["", WEBHOOK_SECRET])
def test_without_a_secret_the_hook_does_not_exist(client, world, settings, signed_with):
    settings.STRIPE_WEBHOOK_SECRET = ""
    before = _subscriptions()
    assert_error_shape(_post(client, EVENT, stripe_signature(EVENT, signed_with)), 404, "not_found")
    assert not StripeEvent.objects.exists() and _subscriptions() == before


MALFORMED = {
    "data is a list": {"id": "evt_m1", "type": "invoice.paid", "data": [{"object": {}}]},
    "data is a string": {"id": "evt_m2", "type": "invoice.paid", "data": "object"},
    "no object": {"id": "evt_m3", "type": "invoice.paid", "data": {}},
    "object is a list": {"id": "evt_m4", "type": "invoice.paid", "data": {"object": []}},
    "empty id": {"id": "", "type": "invoice.paid", "data": {"object": {}}},
    "created is text": {"id": "evt_m5", "type": "invoice.paid", "created": "yesterday", "data": {"object": {}}},
    "created is huge": {"id": "evt_m6", "type": "invoice.paid", "created": 10**30, "data": {"object": {}}},
    "created is negative": {"id": "evt_m7", "type": "invoice.paid", "created": -5, "data": {"object": {}}},
    "NUL in the object": {"id": "evt_m8", "type": "invoice.paid", "data": {"object": {"customer": "cus\u0000"}}},
}


@pytest.mark.parametrize("event", MALFORMED.values(), ids=MALFORMED.keys())
def test_signed_but_malformed_events_are_a_400_json_error(client, world, secret, event):
    body = json.dumps(event)
    assert_error_shape(_post(client, body, stripe_signature(body)), 400, "malformed_request")
    assert not StripeEvent.objects.exists()


@pytest.mark.parametrize("depth", [900, 50_000])
def test_a_deeply_nested_event_is_a_400_not_a_500(client, world, secret, depth):
    body = '{"id": "evt_deep", "type": "invoice.paid", "data": {"object": {"x": ' + "[" * depth + "]" * depth + "}}}"
    assert_error_shape(_post(client, body, stripe_signature(body)), 400, "malformed_request")
    assert not StripeEvent.objects.exists()
