"""Billing meets the real send pipeline: usage equals the segments actually handed to the provider,
per-branch budgets stop a branch's broadcast before anything is queued, and segments that fail before
reaching the carrier come back off both the church's usage and the branch's budget."""

import pytest
from django.utils import timezone

from billing.models import BranchUsage
from billing.selectors import usage_summary
from billing.services import branch_budget_set, credit_grant
from churches import services as church_services
from churches.models import Member
from koinonia.exceptions import BusinessRuleError
from messaging.broadcasts import services as messaging_services
from messaging.broadcasts import tasks as messaging_tasks
from messaging.models import Message, Recipient, SenderNumber
from messaging.providers.console.tasks import set_status_receiver
from tests.fakes.telnyx import FakeTelnyx
from tests.messaging.support import bulk_members, phone_for, wait_until

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
    Member.objects.filter(church=sending_church).update(branch=branch)
    branch_budget_set(church=sending_church, acting_user=world.owner, branch_id=branch.pk, monthly_segments=20)
    with pytest.raises(BusinessRuleError) as refused:
        messaging_services.message_send(
            church=sending_church, author=world.staff, body="Hello north", audience={"branch_ids": [branch.pk]}
        )
    assert refused.value.code == "branch_budget"
    assert not Message.objects.exists()


@pytest.fixture
def no_console_receipts():
    """The console provider's simulated receipts off: the test reports each text's fate itself, to the
    receiver the simulated receipts go to (``messaging.webhooks.ingest_status``, what the webhook views
    call once a signature is verified). Yields that receiver."""
    receiver = set_status_receiver(None)
    yield receiver
    set_status_receiver(receiver)


def _report(receiver, recipients, status, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for recipient in recipients:
            receiver(
                "console",
                {
                    "provider_message_id": recipient.provider_message_id,
                    "status": status,
                    "error_code": "console_unroutable",
                    "at": timezone.now().isoformat(),
                },
            )


def test_segments_failing_before_the_carrier_come_back_off_the_branch_budget_and_the_church(
    world, sending_church, no_console_receipts, django_capture_on_commit_callbacks
):
    branch = church_services.branch_create(church=sending_church, acting_user=None, name="North Campus")
    bulk_members(sending_church, 30)
    Member.objects.filter(church=sending_church).update(branch=branch)
    branch_budget_set(church=sending_church, acting_user=world.owner, branch_id=branch.pk, monthly_segments=1000)
    before = _usage(sending_church)["used"]
    body = "Hi {first_name}! " + "Our harvest supper is Saturday at 6pm in the fellowship hall. " * 3  # 2 segments

    def branch_used():
        return BranchUsage.objects.get(church=sending_church, branch_id=branch.pk).segments_used

    with django_capture_on_commit_callbacks(execute=True):
        message = messaging_services.message_send(
            church=sending_church, author=world.staff, body=body, audience={"branch_ids": [branch.pk]}
        )
    message.refresh_from_db()
    assert message.sent_count == 30 and message.segments_sent == 60
    assert branch_used() == 60 and _usage(sending_church)["used"] - before == 60

    recipients = list(Recipient.objects.filter(message=message).order_by("id"))
    refused_by_provider = recipients[:7]  # never reached a carrier: not billed
    _report(no_console_receipts, refused_by_provider, "sending_failed", django_capture_on_commit_callbacks)
    failed_segments = sum(r.segments for r in refused_by_provider)
    assert failed_segments == 14
    message.refresh_from_db()
    assert message.failed_count == 7 and message.segments_sent == 60 - failed_segments
    assert branch_used() == 60 - failed_segments
    assert _usage(sending_church)["used"] - before == 60 - failed_segments

    # The same callbacks again change nothing; a carrier's delivery failure was billed and stays so.
    _report(no_console_receipts, refused_by_provider, "sending_failed", django_capture_on_commit_callbacks)
    _report(no_console_receipts, recipients[7:9], "delivery_failed", django_capture_on_commit_callbacks)
    message.refresh_from_db()
    assert message.failed_count == 9 and message.segments_sent == 60 - failed_segments
    assert branch_used() == 60 - failed_segments
    assert _usage(sending_church)["used"] - before == 60 - failed_segments


@pytest.mark.django_db(transaction=True)
def test_texts_fake_telnyx_never_sent_come_back_off_the_branch_budget_through_the_webhook(
    postgres_only, live_server, settings, world
):
    """The same through the real wire: a branch broadcast to the fake Telnyx, which reports three texts
    ``sending_failed``; the signed callbacks reach our webhook and are applied in batches."""
    church = world.church
    church.quiet_hours_start = church.quiet_hours_end
    church.save()
    settings.PUBLIC_BASE_URL = live_server.url
    settings.SEND_RETRY_BASE_SECONDS = 0.01
    settings.SMS_HTTP_TIMEOUT = (3.05, 10)  # no read-timeout retries (which could double-send)
    SenderNumber.objects.create(church=church, phone_number="+13125550100", provider="telnyx")
    credit_grant(church=church, acting_user=world.owner, segments=5000, reason="test allowance")
    branch = church_services.branch_create(church=church, acting_user=None, name="North Campus")
    bulk_members(church, 12)
    Member.objects.filter(church=church).update(branch=branch)
    branch_budget_set(church=church, acting_user=world.owner, branch_id=branch.pk, monthly_segments=100)
    before = _usage(church)["used"]
    with FakeTelnyx() as telnyx:
        telnyx.point_settings_at(settings)
        for n in range(3):
            telnyx.fail_number(phone_for(n), "40002", status="sending_failed")
        message = messaging_services.message_send(
            church=church, author=None, body="Choir at 7", audience={"branch_ids": [branch.pk]}
        )
        messaging_tasks.prepare_message(message.pk)

        def settled():
            message.refresh_from_db()
            return message.queued_count == 0 and message.delivered_count == 9 and message.failed_count == 3

        wait_until(settled, timeout=30, tick=lambda: messaging_tasks.send_message(message.pk), what="callbacks")
        telnyx.wait_for_webhooks(timeout=10)
    assert len(telnyx.sent_messages) == 12 and message.segments_sent == 9
    assert BranchUsage.objects.get(church=church, branch_id=branch.pk).segments_used == 9
    assert _usage(church)["used"] - before == 9
