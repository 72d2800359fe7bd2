"""The billing page, its owner-only actions, the usage API and support's admin: roles, other churches,
bad input, and query counts."""

import pytest
from django.utils import timezone

from billing.models import BranchBudget, Subscription
from churches import services as church_services
from churches.models import AuditLog, Role
from koinonia import policy
from koinonia.hooks import segments_sent
from tests.billing.conftest import subscribe_and_deliver
from tests.conftest import assert_error_shape
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_only_owners_manage_billing_and_admins_may_look(world, fake_stripe):
    for role in (Role.STAFF, Role.VIEWER):
        assert world.page_client(role).get("/billing/").status_code == 403
    admin = world.page_client(Role.ADMIN)
    page = admin.get("/billing/")
    assert page.status_code == 200 and b"Only owners can change the plan" in page.content
    for url, data in (
        ("/billing/plan/", {"plan": "growth"}),
        ("/billing/portal/", {}),
        ("/billing/spend-cap/", {"spend_cap": "5"}),
        ("/billing/budgets/", {"branch_id": 1, "monthly_segments": 5}),
    ):
        assert admin.post(url, data).status_code == 403, url
    assert fake_stripe.state.requests == []
    assert world.page_client(Role.OWNER).get("/billing/").status_code == 200


def test_signed_out_and_churchless_users_are_sent_away(client, world):
    assert client.get("/billing/").status_code == 302
    client.force_login(UserFactory())
    assert client.get("/billing/")["Location"] == "/no-church/"


def test_unknown_plan_is_refused_without_changing_anything(world, other_world, fake_stripe):
    owner = world.page_client(Role.OWNER)
    for plan in ("platinum", "trial", "", "x" * 500):
        response = owner.post("/billing/plan/", {"plan": plan})
        assert response.status_code == 400, plan
    assert b"There is no plan by that name" in owner.post("/billing/plan/", {"plan": "platinum"}).content
    assert fake_stripe.state.requests == []
    assert not Subscription.objects.exclude(stripe_customer_id="").exists()


def test_portal_opens_for_the_churchs_own_customer(client, world, fake_stripe):
    owner = world.page_client(Role.OWNER)
    assert owner.post("/billing/portal/").status_code == 409  # no customer before the first checkout
    sub = subscribe_and_deliver(client, world, fake_stripe)
    response = owner.post("/billing/portal/")
    assert response.status_code == 302 and response["Location"].startswith(f"{fake_stripe.url}/portal/")
    (call,) = fake_stripe.requests_to("POST", "/v1/billing_portal/sessions")
    assert call["customer"] == sub.stripe_customer_id and call["return_url"].endswith("/billing/")
    fake_stripe.portal_configured = False  # Stripe refuses: the owner gets words, not a 500
    response = owner.post("/billing/portal/")
    assert response.status_code == 502 and b"payment provider" in response.content


def test_stripe_down_during_checkout_is_a_clear_error(world, fake_stripe):
    fake_stripe.fail_next(1, status=500, path_prefix="/v1/checkout/")
    response = world.page_client(Role.OWNER).post("/billing/plan/", {"plan": "growth"})
    assert response.status_code == 502 and b"try again in a minute" in response.content


def test_billing_page_shows_usage_invoices_and_counts_queries(
    client, world, fake_stripe, django_assert_max_num_queries
):
    subscribe_and_deliver(client, world, fake_stripe, "growth")
    youth = church_services.branch_create(church=world.church, acting_user=world.owner, name="Youth")
    BranchBudget.objects.create(church=world.church, branch_id=youth.pk, monthly_segments=300)
    segments_sent.send(
        sender=None,
        church_id=world.church.pk,
        segments=1234,
        message_id=None,
        branch_id=youth.pk,
        occurred_at=timezone.now(),
    )
    owner = world.page_client(Role.OWNER)
    with django_assert_max_num_queries(14):
        page = owner.get("/billing/")
    body = page.content.decode()
    assert page.status_code == 200
    assert "1,234" in body and "5,000 included" in body and "Growth" in body and "Youth" in body
    assert "$79.00" in body and "paid" in body  # the first invoice, from Stripe
    assert "Upgrade" in body and "Downgrade" in body
    fake_stripe.fail_next(5, status=500, path_prefix="/v1/invoices")
    from django.core.cache import cache

    cache.clear()
    assert b"Invoices can't be loaded right now" in owner.get("/billing/").content


def test_budget_delete_is_scoped_to_the_church(world, other_world):
    theirs = BranchBudget.objects.create(church=other_world.church, branch_id=1, monthly_segments=10)
    mine = BranchBudget.objects.create(church=world.church, branch_id=2, monthly_segments=10)
    owner = world.page_client(Role.OWNER)
    assert owner.post(f"/billing/budgets/{theirs.pk}/delete/").status_code == 404
    assert world.page_client(Role.ADMIN).post(f"/billing/budgets/{mine.pk}/delete/").status_code == 403
    assert owner.post(f"/billing/budgets/{mine.pk}/delete/").status_code == 302
    assert list(BranchBudget.objects.values_list("pk", flat=True)) == [theirs.pk]
    assert AuditLog.objects.filter(church=world.church, action="billing.branch_budget_removed").exists()


def test_usage_api(world, other_world, django_assert_max_num_queries):
    segments_sent.send(
        sender=None, church_id=world.church.pk, segments=42, message_id=None, branch_id=None, occurred_at=timezone.now()
    )
    client = world.api_client(Role.ADMIN)
    client.get("/api/v1/usage")
    with django_assert_max_num_queries(4):  # key, subscription + plan, usage row (+ last-used write)
        response = client.get("/api/v1/usage")
    body = response.json()
    assert response.status_code == 200
    assert (body["allowance"], body["used"], body["remaining"], body["status"]) == (500, 42, 458, "trialing")
    assert body["projected"] >= 42 and body["period_end"] and body["plan"]["code"] == "trial"
    assert "send" not in body
    estimate = client.get("/api/v1/usage/?segments=600").json()["send"]
    assert estimate["allowed"] is False and estimate["code"] == "plan_limit"
    assert client.get("/api/v1/usage?segments=abc").status_code == 200
    # Another church sees its own numbers only; lower roles are refused.
    assert other_world.api_client(Role.ADMIN).get("/api/v1/usage").json()["used"] == 0
    assert_error_shape(world.api_client(Role.STAFF).get("/api/v1/usage"), 403, "permission_denied")
    assert_error_shape(world.api_client(Role.VIEWER).get("/api/v1/usage"), 403)
    assert_error_shape(world.api_client(Role.ADMIN).post("/api/v1/usage", {}), 405)


def test_support_grants_credit_and_extends_trials_with_an_audit_trail(client, world, other_world):
    support = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(support)
    segments_sent.send(
        sender=None, church_id=world.church.pk, segments=5, message_id=None, branch_id=None, occurred_at=timezone.now()
    )
    sub = Subscription.objects.get(church=world.church)
    assert client.get("/admin/billing/subscription/").status_code == 200
    assert client.get("/admin/billing/plan/").status_code == 200
    assert client.get("/admin/billing/stripeevent/").status_code == 200
    assert client.get("/admin/billing/usageperiod/").status_code == 200
    assert client.get("/admin/billing/meterreport/").status_code == 200

    url = f"/admin/billing/subscription/{sub.pk}/credit/"
    assert client.post(url, {"segments": 250, "reason": ""}).status_code == 200  # a reason is required
    assert client.post(url, {"segments": 250, "reason": "carrier outage on Sunday"}).status_code == 302
    assert world.api_client(Role.ADMIN).get("/api/v1/usage").json()["allowance"] == 750
    credit = AuditLog.objects.get(church=world.church, action="billing.credit_granted")
    assert credit.actor == support and credit.data["segments"] == 250 and credit.data["reason"]

    before = sub.trial_ends_at
    url = f"/admin/billing/subscription/{sub.pk}/extend-trial/"
    assert client.post(url, {"days": 7, "reason": "new pastor onboarding"}).status_code == 302
    sub.refresh_from_db()
    world.church.refresh_from_db()
    assert (sub.trial_ends_at - before).days == 7 and world.church.trial_ends_at == sub.trial_ends_at
    assert AuditLog.objects.get(church=world.church, action="billing.trial_extended").actor == support
    # Other churches are untouched; church staff can't reach the admin.
    assert not AuditLog.objects.filter(church=other_world.church, action__startswith="billing.").exists()
    owner = world.page_client(Role.OWNER)
    assert owner.get(url).status_code == 302  # to the admin login


def test_trial_extension_revives_an_expired_trial(world):
    from billing import services

    world.church.trial_ends_at = timezone.now() - timezone.timedelta(days=2)
    world.church.save(update_fields=["trial_ends_at"])
    assert policy.current().usage_summary(church=world.church)["status"] == "trial_expired"
    support = UserFactory(is_staff=True)
    services.trial_extend(church=world.church, acting_user=support, days=5, reason="asked nicely")
    assert policy.current().usage_summary(church=world.church)["status"] == "trialing"
