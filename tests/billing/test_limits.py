"""Limits that warn before they bite: the allowance, the church's spend cap and branch budgets block sends
that would exceed them with a clear message; member, branch and seat limits refuse with an upgrade path."""

import pytest
from django.utils import timezone

from billing.models import Plan
from churches import services as church_services
from churches.models import Role
from koinonia import policy
from koinonia.exceptions import BusinessRuleError
from koinonia.hooks import segments_sent
from tests.billing.conftest import subscribe_and_deliver

pytestmark = pytest.mark.django_db


def sent(church, segments, branch_id=None):
    segments_sent.send(
        sender=None,
        church_id=church.pk,
        segments=segments,
        message_id=None,
        branch_id=branch_id,
        occurred_at=timezone.now(),
    )


def refusal(church, resource, adding=1, **context) -> BusinessRuleError | None:
    try:
        policy.current().check(church=church, resource=resource, adding=adding, **context)
    except BusinessRuleError as exc:
        return exc
    return None


def test_compose_sees_the_cost_and_what_is_left(world):
    sent(world.church, 120)
    summary = policy.current().usage_summary(church=world.church, adding=30)
    assert (summary["allowance"], summary["used"], summary["remaining"]) == (500, 120, 380)
    assert summary["send"] == {
        "segments": 30,
        "within_allowance": True,
        "overage_segments": 0,
        "overage_cents": 0,
        "allowed": True,
        "code": "",
        "status": 200,
        "message": "",
    }
    assert summary["projected"] >= 120


def test_trial_allowance_is_a_hard_limit_with_an_upgrade_path(world):
    sent(world.church, 490)
    assert refusal(world.church, "broadcast", 10) is None
    exc = refusal(world.church, "broadcast", 11)
    assert exc.code == "plan_limit" and exc.status == 402
    assert "needs 11 segments but only 10 are left" in exc.message and "Upgrade to Starter" in exc.message
    assert policy.current().usage_summary(church=world.church, adding=11)["send"]["allowed"] is False
    # Replies and confirmations don't draw on the broadcast allowance check.
    assert refusal(world.church, "reply") is None and refusal(world.church, "confirmation") is None


def test_spend_cap_blocks_sends_that_would_pass_it(client, world, other_world, fake_stripe):
    subscribe_and_deliver(client, world, fake_stripe, "growth")  # 5,000 included; $12.00 per 1,000 after
    sent(world.church, 5000)
    assert refusal(world.church, "broadcast", 10_000) is None  # no cap: overage is allowed
    owner = world.page_client(Role.OWNER)
    assert owner.post("/billing/spend-cap/", {"spend_cap": "1.00"}).status_code == 302
    assert refusal(world.church, "broadcast", 83) is None  # 83 × 1.2¢ = $1.00 (rounded up)
    exc = refusal(world.church, "broadcast", 84)
    assert exc.code == "spend_cap" and exc.status == 422
    assert "$1.01, over your $1.00 spend cap" in exc.message and "Raise the cap on the Billing page" in exc.message
    assert policy.current().usage_summary(church=world.church, adding=84)["send"]["code"] == "spend_cap"
    assert refusal(other_world.church, "broadcast", 84) is None  # another church's cap is its own
    # A cap of 0 means: never past the allowance. Empty means no cap.
    owner.post("/billing/spend-cap/", {"spend_cap": "0"})
    assert refusal(world.church, "broadcast", 1).code == "spend_cap"
    owner.post("/billing/spend-cap/", {"spend_cap": ""})
    assert refusal(world.church, "broadcast", 1) is None
    bad = owner.post("/billing/spend-cap/", {"spend_cap": "-5"})
    assert bad.status_code == 400


def test_branch_budgets_block_sends_that_would_exceed_them(world, other_world):
    youth = church_services.branch_create(church=world.church, acting_user=world.owner, name="Youth")
    north = church_services.branch_create(church=world.church, acting_user=world.owner, name="North")
    owner = world.page_client(Role.OWNER)
    assert owner.post("/billing/budgets/", {"branch_id": youth.pk, "monthly_segments": 100}).status_code == 302
    sent(world.church, 90, branch_id=youth.pk)
    assert refusal(world.church, "broadcast", 10, branch_id=youth.pk) is None
    exc = refusal(world.church, "broadcast", 11, branch_id=youth.pk)
    assert exc.code == "branch_budget" and exc.status == 422 and "10 of its 100-segment monthly budget" in exc.message
    assert refusal(world.church, "broadcast", 11, branch_id=north.pk) is None
    assert refusal(world.church, "broadcast", 11) is None
    # Another church's branch can't be budgeted from here.
    theirs = church_services.branch_create(church=other_world.church, acting_user=other_world.owner, name="Theirs")
    response = owner.post("/billing/budgets/", {"branch_id": theirs.pk, "monthly_segments": 5})
    assert response.status_code == 400
    page = owner.get("/billing/")
    assert b"Youth" in page.content and b"90" in page.content


def test_member_and_branch_limits_have_an_upgrade_path(world):
    Plan.objects.filter(is_trial=True).update(max_members=2)  # support edits plans in admin
    for n in range(2):
        church_services.member_create(church=world.church, acting_user=world.owner, phone=f"+1312555010{n}")
    with pytest.raises(BusinessRuleError) as exc:
        church_services.member_create(church=world.church, acting_user=world.owner, phone="+13125550109")
    assert exc.value.code == "plan_limit" and exc.value.status == 402
    assert "allows 2 members; you have 2" in exc.value.message and "Upgrade to Starter" in exc.value.message
    exc = refusal(world.church, "members", 600)  # a big import: the hint names a plan that holds it all
    assert "this would add 600" in exc.message and "Upgrade to Growth (up to 2,000 members)" in exc.message

    for name in ("North", "South"):
        church_services.branch_create(church=world.church, acting_user=world.owner, name=name)
    with pytest.raises(BusinessRuleError) as exc:
        church_services.branch_create(church=world.church, acting_user=world.owner, name="East")
    assert "Upgrade to Growth (up to 3 branches)" in exc.value.message


def test_staff_seats_are_limited_on_the_team_page(world):
    # The trial has 5 seats; the church uses 4.
    page = world.page_client(Role.ADMIN)
    assert page.post("/settings/team/", {"email": "fifth@example.test", "role": "staff"}).status_code == 302
    _, token = church_services.staff_invite(
        church=world.church, acting_user=world.admin, email="sixth@example.test", role="staff"
    )
    church_services.invitation_accept_as_new_user(token=token, name="Sixth", password="correct-horse-battery")
    response = page.post("/settings/team/", {"email": "seventh@example.test", "role": "staff"})
    assert response.status_code == 400
    assert b"allows 5 staff seats; you have 5" in response.content and b"Upgrade to Growth" in response.content


def test_broadcast_headroom_is_exactly_what_the_checker_allows(client, world, fake_stripe):
    """Messaging counts a large audience only as far as the headroom; it must match the checker."""
    from billing.limits import broadcast_headroom

    def agrees(branch_id=None):
        room = broadcast_headroom(church=world.church, branch_id=branch_id)
        if room is None:
            assert refusal(world.church, "broadcast", 10**9, branch_id=branch_id) is None
        else:
            if room:
                assert refusal(world.church, "broadcast", room, branch_id=branch_id) is None
            assert refusal(world.church, "broadcast", room + 1, branch_id=branch_id) is not None
        return room

    sent(world.church, 120)
    assert agrees() == 380  # the trial: the allowance is a hard limit
    subscribe_and_deliver(client, world, fake_stripe, "growth")
    assert agrees() is None  # overage on, no cap
    owner = world.page_client(Role.OWNER)
    owner.post("/billing/spend-cap/", {"spend_cap": "1.00"})
    sent(world.church, 5000)
    assert agrees() == 83  # the allowance is used up; 83 more segments cost $1.00 (rounded up)
    owner.post("/billing/spend-cap/", {"spend_cap": "0"})
    assert agrees() == 0
    youth = church_services.branch_create(church=world.church, acting_user=world.owner, name="Youth")
    owner.post("/billing/spend-cap/", {"spend_cap": ""})
    owner.post("/billing/budgets/", {"branch_id": youth.pk, "monthly_segments": 100})
    sent(world.church, 90, branch_id=youth.pk)
    assert agrees(branch_id=youth.pk) == 10
    assert agrees() is None
