"""The plan policy (``koinonia/policy.py``): one interface, one registration point, a permissive default
without billing, and every app that acts asks it (never billing directly)."""

import pytest
from django.core.cache import cache
from django.urls import reverse

from billing.policy import BillingPlanPolicy
from churches import services as church_services
from conversations.services.outbound import reply_send
from koinonia import policy
from koinonia.api.throttling import api_key_rates
from koinonia.exceptions import BusinessRuleError
from messaging.broadcasts.services import message_send
from messaging.models import SenderNumber
from tests.conversations.factories import ConversationFactory
from tests.factories import BranchFactory, MemberFactory

pytestmark = pytest.mark.django_db


class RecordingPolicy(policy.PermissivePolicy):
    """Allows everything and remembers every question, with a plan and a headroom of its choosing."""

    def __init__(self, *, plan: str = "", headroom: int | None = None):
        self.calls: list[tuple] = []
        self.plan, self.room = plan, headroom

    def check(self, *, church, resource, adding=1, **context):
        self.calls.append(("check", church.pk, resource, adding, context.get("branch_id")))

    def headroom(self, *, church, branch_id=None):
        self.calls.append(("headroom", church.pk, branch_id))
        return self.room

    def usage_summary(self, *, church, adding=0, branch_id=None):
        self.calls.append(("usage_summary", church.pk, adding))
        return None

    def plan_code(self, *, church):
        self.calls.append(("plan_code", church.pk))
        return self.plan


def test_billing_registers_its_policy_once_at_startup():
    current = policy.current()
    assert isinstance(current, BillingPlanPolicy) and isinstance(current, policy.PlanPolicy)


def test_register_takes_only_a_policy_and_hands_back_the_one_it_replaces():
    class HalfAPolicy:
        def check(self, *, church, resource, adding=1, **context):
            return None

    before = policy.current()
    with pytest.raises(TypeError):
        policy.register(HalfAPolicy())
    assert policy.current() is before  # a refused registration changes nothing
    replacement = policy.PermissivePolicy()
    assert policy.register(replacement) is before
    assert policy.register(before) is replacement
    with policy.registered(RecordingPolicy()) as recording:
        assert policy.current() is recording
    assert policy.current() is before


def test_without_billing_everything_is_allowed_uncapped_and_unmetered(world, settings):
    cache.clear()
    for n in range(2):  # the trial allows 2 branches
        church_services.branch_create(church=world.church, acting_user=world.owner, name=f"Site {n}")
    with pytest.raises(BusinessRuleError) as refused:
        church_services.branch_create(church=world.church, acting_user=world.owner, name="Site 3")
    assert refused.value.code == "plan_limit"

    permissive = policy.PermissivePolicy()
    with policy.registered(permissive):
        church_services.branch_create(church=world.church, acting_user=world.owner, name="Site 3")
        assert permissive.headroom(church=world.church) is None
        assert permissive.usage_summary(church=world.church, adding=10) is None
        assert permissive.plan_code(church=world.church) == ""
        settings.API_RATE_LIMIT = settings.API_BURST_RATE_LIMIT = ""
        assert api_key_rates(world.church) == settings.API_PLAN_RATE_LIMITS["default"]
        response = world.page_client("viewer").get(reverse("dashboard"))
        assert response.status_code == 200 and response.context["usage"] is None


def test_every_app_asks_the_policy(world, settings, django_capture_on_commit_callbacks):
    cache.clear()
    settings.API_RATE_LIMIT = settings.API_BURST_RATE_LIMIT = ""
    church = world.church
    SenderNumber.objects.create(church=church, phone_number="+13125550100", provider="console")
    branch = BranchFactory(church=church)
    MemberFactory.create_batch(2, church=church, branch=branch)
    conversation = ConversationFactory(church=church)
    recording = RecordingPolicy(plan="pro", headroom=5000)
    with policy.registered(recording):
        church_services.member_create(church=church, acting_user=world.owner, phone="312-555-0177")
        church_services.branch_create(church=church, acting_user=world.owner, name="East")
        with django_capture_on_commit_callbacks(execute=False):
            message_send(church=church, author=world.staff, body="Hello", audience={"branch_ids": [branch.pk]})
            reply_send(church=church, conversation=conversation, acting_user=world.staff, body="Thanks!")
        assert api_key_rates(church) == settings.API_PLAN_RATE_LIMITS["pro"]
        world.page_client("viewer").get(reverse("dashboard"))
    assert ("check", church.pk, "members", 1, None) in recording.calls
    assert ("check", church.pk, "branches", 1, None) in recording.calls
    # A branch broadcast is checked against that branch's budget, and its audience counted up to the
    # headroom the policy reports.
    assert ("headroom", church.pk, branch.pk) in recording.calls
    assert ("check", church.pk, "broadcast", 2, branch.pk) in recording.calls
    assert ("check", church.pk, "reply", 1, None) in recording.calls
    assert ("plan_code", church.pk) in recording.calls
    assert ("usage_summary", church.pk, 0) in recording.calls
