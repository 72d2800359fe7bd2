"""Shared helpers for the outgoing-webhook tests: a local receiver (a real HTTP server on loopback that
answers with queued statuses), endpoints made through the services, and a way to run due attempts."""

import pytest

from integrations import delivery, services
from integrations.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from tests.fakes.base import RecordingReceiver


@pytest.fixture
def receiver():
    with RecordingReceiver() as server:
        yield server


@pytest.fixture
def instant_retries(settings):
    """Every retry is due at once (the schedule scaled to zero), so a test drives attempts itself."""
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0
    return settings


def make_endpoint(world, url: str, events=("*",), **kwargs) -> tuple[WebhookEndpoint, str]:
    return services.webhook_endpoint_create(
        church=world.church, acting_user=world.owner, url=url, events=list(events), **kwargs
    )


def run_due(limit: int = 50) -> list[str]:
    """Make every due attempt (retries included), one round: the statuses of the attempts made."""
    made = []
    for delivery_id in delivery.due_delivery_ids(first_attempt_grace=__import__("datetime").timedelta(0)):
        status = delivery.deliver(delivery_id=delivery_id)
        if status is not None:
            made.append(status)
        if len(made) >= limit:
            break
    return made


def events_of(world, type: str | None = None) -> list[WebhookEvent]:
    rows = WebhookEvent.objects.filter(church=world.church).order_by("created_at", "id")
    return list(rows.filter(type=type) if type else rows)


def deliveries_of(endpoint) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.filter(endpoint=endpoint).order_by("id"))
