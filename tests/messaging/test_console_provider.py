"""The embedded default provider: logs, answers at once, and reports delivery the way a carrier does,
through the production callback path (stored once as a ProviderEvent, applied by status batches)."""

import logging
from datetime import time

import pytest

from messaging import webhooks
from messaging.broadcasts import services
from messaging.models import Message, ProviderEvent, Recipient, SenderNumber
from messaging.providers import get_provider
from messaging.providers.base import Reason
from messaging.providers.console import SIMULATED_FAILURE_CODE, report_statuses, set_status_receiver
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def send(body: str = "Potluck moved to 6pm."):
    return get_provider("console").send(
        from_number="+15555550100", to_number="+15555550123", body=body, webhook_url="https://app.example.test/h"
    )


def test_console_logs_and_counts_segments(caplog):
    caplog.set_level(logging.INFO, logger="messaging.providers.console")
    result = send("a" * 161)
    assert result.provider_message_id.startswith("console-")
    assert (result.segments, result.status) == (2, "queued")
    assert result.provider_message_id in caplog.text and "+15555550123" not in caplog.text  # never log phones
    assert "+1555" in caplog.text and caplog.text.count("23") >= 1
    assert send().provider_message_id != result.provider_message_id


def test_reports_go_to_the_function_the_webhook_views_call():
    previous = set_status_receiver(None)
    set_status_receiver(previous)
    assert previous is webhooks.ingest_status


def test_a_recorded_send_is_reported_delivered_as_a_stored_callback(settings, django_capture_on_commit_callbacks):
    settings.CONSOLE_SMS_FAILURE_RATE = 0.0
    result = send()
    with django_capture_on_commit_callbacks(execute=True):
        get_provider("console").sends_recorded([result.provider_message_id])
    event = ProviderEvent.objects.get(provider="console")
    assert (event.event_id, event.event_type) == (f"{result.provider_message_id}:delivered", "message.finalized")
    assert event.provider_message_id == result.provider_message_id and event.occurred_at is not None
    assert event.payload["status"] == "delivered" and event.payload["error_code"] is None
    # No recipient has this id (a stray send): the batch examined it and left it waiting, like a carrier's.
    assert (event.outcome, event.detail) == (ProviderEvent.Outcome.PENDING, "waiting for send result")

    # Reports are stored once: the same report posted again is a duplicate.
    report_statuses.apply(args=([event.payload],))
    assert ProviderEvent.objects.filter(provider="console").count() == 1


def test_failure_rate(settings):
    settings.CONSOLE_SMS_FAILURE_RATE = 1.0
    result = send()
    get_provider("console").sends_recorded([result.provider_message_id])
    event = ProviderEvent.objects.get(provider="console")
    assert (event.payload["status"], event.payload["error_code"]) == ("delivery_failed", SIMULATED_FAILURE_CODE)
    assert get_provider("console").describe_error(SIMULATED_FAILURE_CODE).startswith(Reason.UNDELIVERABLE)


def test_no_simulation_without_a_receiver():
    previous = set_status_receiver(None)
    try:
        get_provider("console").sends_recorded([send().provider_message_id])
    finally:
        set_status_receiver(previous)
    assert not ProviderEvent.objects.exists()


def test_a_broadcast_is_delivered_by_applied_callbacks(world, django_capture_on_commit_callbacks):
    world.church.quiet_hours_start = world.church.quiet_hours_end = time(0, 0)
    world.church.save()
    SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")
    MemberFactory.create_batch(3, church=world.church)
    with django_capture_on_commit_callbacks(execute=True):
        message = services.message_send(church=world.church, author=world.staff, body="Hi", audience={"all": True})
    message.refresh_from_db()
    assert (message.status, message.delivered_count) == (Message.Status.SENT, 3)
    recipients = {r.provider_message_id: r.pk for r in Recipient.objects.filter(message=message)}
    events = ProviderEvent.objects.filter(provider="console")
    assert {e.provider_message_id for e in events} == set(recipients)
    assert {(e.outcome, e.detail) for e in events} == {
        (ProviderEvent.Outcome.APPLIED, f"recipient {pk}") for pk in recipients.values()
    }
