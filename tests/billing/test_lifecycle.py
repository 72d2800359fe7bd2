"""Trial → checkout → active; upgrade and downgrade; payment failure → past due → grace → blocked
broadcasts (replies and confirmations still allowed) → paid → unblocked; cancel."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import StripeEvent, Subscription
from churches import services as church_services
from churches.models import AuditLog, Role, StaffMembership
from koinonia import policy
from koinonia.exceptions import BusinessRuleError
from koinonia.hooks import segments_sent
from tests.billing.conftest import subscribe, subscribe_and_deliver
from tests.fakes.stripe import post_events

pytestmark = pytest.mark.django_db


def refused(church, resource, adding=1, **context) -> BusinessRuleError | None:
    try:
        policy.current().check(church=church, resource=resource, adding=adding, **context)
    except BusinessRuleError as exc:
        return exc
    return None


def test_signup_starts_the_trial(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        church, _ = church_services.church_signup(
            church_name="New Life",
            timezone_name="America/Chicago",
            owner_name="Ann",
            email="ann@nl.test",
            password="correct-horse-battery",
        )
    sub = Subscription.objects.get(church=church)
    assert sub.status == "trialing" and sub.plan.is_trial
    assert sub.trial_ends_at == church.trial_ends_at
    assert policy.current().usage_summary(church=church)["status"] == "trialing"


def test_churches_from_before_billing_get_a_trial_lazily(world):
    assert not Subscription.objects.filter(church=world.church).exists()
    assert refused(world.church, "broadcast", 10) is None  # reads never write...
    assert policy.current().usage_summary(church=world.church)["status"] == "trialing"
    assert not Subscription.objects.filter(church=world.church).exists()
    segments_sent.send(
        sender=None, church_id=world.church.pk, segments=3, message_id=None, branch_id=None, occurred_at=timezone.now()
    )
    sub = Subscription.objects.get(church=world.church)  # ...the first usage saves the trial
    assert sub.status == "trialing"
    assert sub.trial_ends_at == world.church.created_at + timedelta(days=14)


def test_expired_trial_blocks_sending_until_a_plan_is_chosen(world, other_world):
    world.church.trial_ends_at = timezone.now() - timedelta(days=1)
    world.church.save(update_fields=["trial_ends_at"])
    exc = refused(world.church, "broadcast", 1)
    assert exc.code == "subscription_inactive" and exc.status == 402 and "trial has ended" in exc.message
    assert refused(world.church, "reply").code == "subscription_inactive"
    assert refused(world.church, "confirmation") is None
    assert refused(world.church, "reply", kind="opt_out_confirmation") is None
    assert refused(other_world.church, "broadcast", 1) is None


def test_trial_checkout_active(client, world, other_world, fake_stripe):
    events = subscribe(world, fake_stripe, "growth")
    sub = Subscription.objects.get(church=world.church)
    assert sub.status == "trialing" and sub.stripe_customer_id  # nothing changes before Stripe confirms
    (checkout,) = fake_stripe.requests_to("POST", "/v1/checkout/sessions")
    assert checkout["mode"] == "subscription" and checkout["customer"] == sub.stripe_customer_id
    assert checkout["line_items"] == [
        {"price": "price_test_growth", "quantity": "1"},
        {"price": "price_test_growth_overage"},  # metered: no quantity
    ]
    assert checkout["client_reference_id"] == f"church_{world.church.pk}"
    assert checkout["subscription_data"]["metadata"]["church_id"] == str(world.church.pk)

    responses = post_events(client, events)
    assert [r.status_code for r in responses] == [200, 200, 200]
    sub.refresh_from_db()
    stripe_sub = fake_stripe.subscription(sub.stripe_subscription_id)
    assert sub.status == "active" and sub.plan.code == "growth"
    assert int(sub.current_period_end.timestamp()) == stripe_sub["items"]["data"][0]["current_period_end"]
    assert refused(world.church, "broadcast", 100) is None
    assert StripeEvent.objects.filter(processed_at__isnull=False).count() == 3
    assert AuditLog.objects.filter(church=world.church, action="billing.subscription_changed").exists()
    # The other church is untouched.
    assert Subscription.objects.filter(church=other_world.church, status="active").count() == 0

    page = world.page_client(Role.OWNER).get("/billing/")
    assert page.status_code == 200 and b"Growth" in page.content and b"Active" in page.content


def test_upgrade_and_downgrade(client, world, fake_stripe):
    sub = subscribe_and_deliver(client, world, fake_stripe, "growth")
    page = world.page_client(Role.OWNER)

    response = page.post("/billing/plan/", {"plan": "pro"})
    assert response.status_code == 302 and response["Location"] == "/billing/"
    sub.refresh_from_db()
    assert sub.plan.code == "pro"  # applied from Stripe's answer at once
    prices = sorted(i["price"]["id"] for i in fake_stripe.subscription(sub.stripe_subscription_id)["items"]["data"])
    assert prices == ["price_test_pro", "price_test_pro_overage"]
    # The customer.subscription.updated webhook that follows changes nothing further.
    post_events(client, [e for e in fake_stripe.state.events if e["type"] == "customer.subscription.updated"])
    sub.refresh_from_db()
    assert sub.plan.code == "pro" and sub.status == "active"

    # Starter has 3 staff seats and the church uses 4: the downgrade says what to remove first.
    response = page.post("/billing/plan/", {"plan": "starter"})
    assert response.status_code == 422 and b"remove 1 staff seat" in response.content
    sub.refresh_from_db()
    assert sub.plan.code == "pro"
    viewer = StaffMembership.objects.get(church=world.church, role=Role.VIEWER)
    church_services.staff_remove(church=world.church, acting_user=world.owner, membership_id=viewer.pk)
    response = page.post("/billing/plan/", {"plan": "starter"})
    assert response.status_code == 302
    sub.refresh_from_db()
    assert sub.plan.code == "starter"
    assert list(
        AuditLog.objects.filter(church=world.church, action="billing.plan_changed").values_list("data", flat=True)
    ) == [{"from": "pro", "to": "starter"}, {"from": "growth", "to": "pro"}]


def test_past_due_keeps_sending_through_the_grace_period(client, world, fake_stripe):
    sub = subscribe_and_deliver(client, world, fake_stripe, "growth")
    post_events(client, fake_stripe.fail_payment(sub.stripe_subscription_id))
    sub.refresh_from_db()
    assert sub.status == "past_due" and sub.past_due_since is not None
    assert refused(world.church, "broadcast", 10) is None
    summary = policy.current().usage_summary(church=world.church)
    assert summary["status"] == "past_due" and "couldn't take your last payment" in summary["banner"]
    page = world.page_client(Role.ADMIN).get("/billing/")
    assert b"couldn&#x27;t take your last payment" in page.content


def test_payment_failure_grace_blocked_then_paid(client, world, fake_stripe, mailoutbox):
    sub = subscribe_and_deliver(client, world, fake_stripe, "growth")
    eight_days_ago = timezone.now() - timedelta(days=8)  # Growth's grace period is 7 days
    events = fake_stripe.fail_payment(sub.stripe_subscription_id, at=eight_days_ago)
    post_events(client, events)
    sub.refresh_from_db()
    assert sub.status == "past_due"
    assert abs((sub.past_due_since - eight_days_ago).total_seconds()) < 2

    exc = refused(world.church, "broadcast", 10)
    assert exc.code == "subscription_inactive" and "replies to members still work" in exc.message
    assert refused(world.church, "reply") is None
    assert refused(world.church, "confirmation") is None
    assert refused(world.church, "reply", kind="opt_out_confirmation") is None
    assert policy.current().usage_summary(church=world.church)["can_broadcast"] is False
    assert any("couldn't take your payment" in m.subject for m in mailoutbox)

    post_events(client, fake_stripe.pay_latest_invoice(sub.stripe_subscription_id))
    sub.refresh_from_db()
    assert sub.status == "active" and sub.past_due_since is None
    assert refused(world.church, "broadcast", 10) is None


def test_cancel_keeps_read_access(client, world, fake_stripe):
    sub = subscribe_and_deliver(client, world, fake_stripe, "growth")
    post_events(client, fake_stripe.cancel(sub.stripe_subscription_id))
    sub.refresh_from_db()
    assert sub.status == "canceled"
    assert refused(world.church, "broadcast", 1).code == "subscription_inactive"
    assert refused(world.church, "reply").code == "subscription_inactive"
    assert refused(world.church, "members", 1).code == "subscription_inactive"
    assert refused(world.church, "confirmation") is None
    page = world.page_client(Role.OWNER).get("/billing/")
    assert page.status_code == 200 and b"Canceled" in page.content
    assert world.api_client(Role.ADMIN).get("/api/v1/usage").json()["status"] == "canceled"
    # They can come back through checkout, to a plan that holds what they have.
    response = world.page_client(Role.OWNER).post("/billing/plan/", {"plan": "starter"})
    assert response.status_code == 422 and b"remove 1 staff seat" in response.content
    post_events(client, subscribe(world, fake_stripe, "pro"))
    sub.refresh_from_db()
    assert sub.status == "active" and sub.plan.code == "pro"
