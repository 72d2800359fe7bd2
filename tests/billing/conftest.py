import pytest

from billing.models import Plan, Subscription
from tests.fakes.stripe import FakeStripe, post_events

PRICES = {
    "price_test_starter": "licensed",
    "price_test_growth": "licensed",
    "price_test_pro": "licensed",
    "price_test_starter_overage": "metered",
    "price_test_growth_overage": "metered",
    "price_test_pro_overage": "metered",
}
AMOUNTS = {"price_test_starter": 4900, "price_test_growth": 7900, "price_test_pro": 12900}


@pytest.fixture(scope="session")
def _stripe_server():
    with FakeStripe(prices=PRICES, amounts=AMOUNTS) as fake:
        yield fake


@pytest.fixture
def fake_stripe(_stripe_server, settings, db):
    """The fake Stripe, emptied, with our settings pointed at it and the plans priced in it."""
    _stripe_server.reset()
    _stripe_server.point_settings_at(settings)
    for code in ("starter", "growth", "pro"):
        Plan.objects.filter(code=code).update(
            stripe_price_id=f"price_test_{code}", stripe_overage_price_id=f"price_test_{code}_overage"
        )
    return _stripe_server


def subscribe(world, fake, plan="growth", *, pay=True):
    """Owner chooses ``plan`` on the billing page and completes Stripe Checkout; returns the events."""
    page = world.page_client("owner")
    response = page.post("/billing/plan/", {"plan": plan})
    assert response.status_code == 302 and response["Location"].startswith(fake.url), response
    session_id = response["Location"].rsplit("/", 1)[1]
    events = fake.complete_checkout(session_id, pay=pay)
    return events


def subscribe_and_deliver(client, world, fake, plan="growth") -> Subscription:
    responses = post_events(client, subscribe(world, fake, plan))
    assert all(r.status_code == 200 for r in responses)
    return Subscription.objects.get(church=world.church)
