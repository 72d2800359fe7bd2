"""Delivery-status callbacks stored by the webhook and applied by a worker in set-based batches."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.outbox import subscriptions
from koinonia.bulk import bulk_update_rows
from messaging.broadcasts.delivery import accept_status, apply_status_batch
from messaging.models import Message, ProviderEvent, Recipient, SenderNumber
from messaging.providers.events import StatusUpdate
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _sent_message(church, count):
    sender, _ = SenderNumber.objects.get_or_create(
        church=church, phone_number="+13125550100", defaults={"provider": "telnyx"}
    )
    members = MemberFactory.create_batch(count, church=church)
    message = Message.objects.create(
        church=church,
        sender=sender,
        body="Hello",
        audience={"all": True},
        status=Message.Status.SENDING,
        recipient_count=count,
        sent_count=count,
        segments_sent=count,
        prepared_at=timezone.now(),
    )
    recipients = Recipient.objects.bulk_create(
        Recipient(
            church=church,
            message=message,
            member=member,
            phone=member.phone,
            status=Recipient.Status.SENT,
            provider_message_id=f"msg-{message.pk}-{n}",
            segments=1,
            attempts=1,
        )
        for n, member in enumerate(members)
    )
    return message, recipients


def _callback(provider_message_id, status, *, event_id=None, error_code="", at=None):
    return StatusUpdate(
        provider="telnyx",
        event_id=event_id or f"{provider_message_id}:{status}",
        event_type="message.finalized" if status != "sent" else "message.sent",
        provider_message_id=provider_message_id,
        provider_status=status,
        occurred_at=at or timezone.now(),
        error_code=error_code,
        payload={
            "data": {
                "id": event_id or f"{provider_message_id}:{status}",
                "event_type": "message.finalized" if status != "sent" else "message.sent",
                "occurred_at": (at or timezone.now()).isoformat(),
                "payload": {
                    "id": provider_message_id,
                    "to": [{"status": status}],
                    "errors": [{"code": error_code}] if error_code else [],
                },
            }
        },
    )


def test_a_batch_costs_the_same_statements_for_five_callbacks_or_fifty(world):
    counts = []
    # Which webhook endpoints listen is cached per church; once cached, receipts cost it no query.
    subscriptions(world.church.pk)
    for size in (5, 50):
        message, recipients = _sent_message(world.church, size)
        for recipient in recipients:
            assert accept_status(_callback(recipient.provider_message_id, "delivered")) == "accepted"
        with CaptureQueriesContext(connection) as queries:
            assert apply_status_batch() == size
        counts.append(len(queries))
        message.refresh_from_db()
        assert (message.delivered_count, message.sent_count) == (size, 0)
    assert counts[0] == counts[1]


def test_duplicates_out_of_order_and_failures_in_one_batch_count_exactly(world):
    message, (first, second, third) = _sent_message(world.church, 3)
    later = timezone.now() + timedelta(seconds=5)
    assert accept_status(_callback(first.provider_message_id, "delivered", at=later)) == "accepted"
    assert accept_status(_callback(first.provider_message_id, "delivered", at=later)) == "duplicate"
    # "sent" arrives after "delivered" for the same text: it must not move it back.
    assert accept_status(_callback(first.provider_message_id, "sent")) == "accepted"
    assert accept_status(_callback(second.provider_message_id, "delivery_failed", error_code="40008")) == "accepted"
    assert accept_status(_callback("not-ours", "delivered")) == "accepted"
    assert apply_status_batch() == 4
    message.refresh_from_db()
    assert message.counts == {"recipients": 3, "queued": 0, "sent": 1, "delivered": 1, "failed": 1, "skipped": 0}
    first.refresh_from_db()
    second.refresh_from_db()
    third.refresh_from_db()
    assert first.status == "delivered" and first.delivered_at is not None
    assert second.status == "failed" and second.error_code == "40008" and "carrier" in second.error_reason
    assert third.status == "sent"
    outcomes = dict(ProviderEvent.objects.values_list("event_id", "outcome"))
    assert outcomes[f"{first.provider_message_id}:sent"] == "ignored"
    assert outcomes[f"{first.provider_message_id}:delivered"] == "applied"
    assert outcomes["not-ours:delivered"] == "pending"  # waits for its send result
    assert apply_status_batch() == 0  # nothing left to examine


def test_bulk_update_rows_writes_nulls_and_times_and_respects_the_filter(world):
    message, recipients = _sent_message(world.church, 3)
    now = timezone.now()
    for recipient in recipients:
        recipient.status = Recipient.Status.FAILED
        recipient.failed_at = now
        recipient.error_reason = "Gone"
        recipient.segments = None
    # The third no longer matches the queryset (another worker took it): it must be left alone.
    Recipient.objects.filter(pk=recipients[2].pk).update(status=Recipient.Status.DELIVERED)
    updated = bulk_update_rows(
        Recipient.objects.filter(status=Recipient.Status.SENT),
        recipients,
        ["status", "failed_at", "error_reason", "segments"],
        batch_size=2,
    )
    assert updated == 2
    rows = {r.pk: r for r in Recipient.objects.filter(message=message)}
    for recipient in recipients[:2]:
        row = rows[recipient.pk]
        assert (row.status, row.failed_at, row.error_reason, row.segments) == ("failed", now, "Gone", None)
    assert rows[recipients[2].pk].status == "delivered" and rows[recipients[2].pk].segments == 1
    assert bulk_update_rows(Recipient.objects.all(), [], ["status"]) == 0
