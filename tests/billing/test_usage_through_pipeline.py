"""Billing meets the real send pipeline: usage equals the segments actually handed to the provider,
and per-branch budgets stop a branch's broadcast before anything is queued."""

import pytest

from billing.selectors import usage_summary
from billing.services import branch_budget_set, credit_grant
from churches import services as church_services
from koinonia.exceptions import BusinessRuleError
from messaging import services as messaging_services
from messaging.models import Message, SenderNumber
from tests.messaging.support import bulk_members

pytestmark = pytest.mark.django_db


@pytest.fixture
def sending_church(world):
    church = world.church
    church.quiet_hours_start = church.quiet_hours_end
    church.save()
    SenderNumber.objects.create(church=church, phone_number="+13125550100", provider="console")
    credit_grant(church=church, acting_user=world.owner, segments=5000, reason="test allowance")
    return church


def _usage(church):
    from billing.selectors import subscription_get

    return usage_summary(church=church, sub=subscription_get(church=church))


def test_usage_equals_segments_sent_in_a_thousand_recipient_broadcast(
    world, sending_church, django_capture_on_commit_callbacks
):
    bulk_members(sending_church, 1000)
    before = _usage(sending_church)["used"]
    body = "Hi {first_name}! " + "Our harvest supper is Saturday at 6pm in the fellowship hall. " * 3  # 2 segments
    with django_capture_on_commit_callbacks(execute=True):
        message = messaging_services.message_send(
            church=sending_church, author=world.staff, body=body, audience={"all": True}
        )
    message = Message.objects.get(pk=message.pk)
    assert message.delivered_count == 1000
    assert message.segments_sent == 2000
    assert _usage(sending_church)["used"] - before == message.segments_sent


def test_branch_budget_blocks_a_branch_broadcast(world, sending_church):
    branch = church_services.branch_create(church=sending_church, acting_user=None, name="North Campus")
    bulk_members(sending_church, 30)
    from churches.models import Member

    Member.objects.filter(church=sending_church).update(branch=branch)
    branch_budget_set(church=sending_church, acting_user=world.owner, branch_id=branch.pk, monthly_segments=20)
    with pytest.raises(BusinessRuleError) as refused:
        messaging_services.message_send(
            church=sending_church, author=world.staff, body="Hello north", audience={"branch_ids": [branch.pk]}
        )
    assert refused.value.code == "branch_budget"
    assert not Message.objects.exists()
