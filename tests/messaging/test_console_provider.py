"""The embedded default provider: logs, answers at once, and simulates delivery for whoever listens."""

import logging

import pytest

from messaging.providers import get_provider
from messaging.providers.base import Reason
from messaging.providers.console import SIMULATED_FAILURE_CODE, SimulatedDelivery, set_delivery_handler


@pytest.fixture
def deliveries():
    received: list[SimulatedDelivery] = []
    previous = set_delivery_handler(received.append)
    yield received
    set_delivery_handler(previous)


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


def test_console_simulates_delivery(deliveries, settings):
    settings.CONSOLE_SMS_FAILURE_RATE = 0.0
    result = send()
    assert deliveries == [
        SimulatedDelivery(
            provider_message_id=result.provider_message_id,
            from_number="+15555550100",
            to_number="+15555550123",
            webhook_url="https://app.example.test/h",
            status="delivered",
            error_code=None,
        )
    ]


def test_console_failure_rate(deliveries, settings):
    settings.CONSOLE_SMS_FAILURE_RATE = 1.0
    send()
    (delivery,) = deliveries
    assert (delivery.status, delivery.error_code) == ("delivery_failed", SIMULATED_FAILURE_CODE)
    assert get_provider("console").describe_error(delivery.error_code).startswith(Reason.UNDELIVERABLE)


def test_no_simulation_without_a_handler(deliveries):
    set_delivery_handler(None)
    assert send().provider_message_id
    assert deliveries == []
