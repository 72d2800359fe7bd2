"""/metrics: off unless METRICS_ENABLED, bearer-token protected when METRICS_TOKEN is set, and it shows
request latency by view, sends by provider and outcome, provider errors and the scrape-time ages."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY

from koinonia import metrics
from messaging.broadcasts import services, tasks
from messaging.models import ProviderEvent
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def enabled(settings):
    settings.METRICS_ENABLED = True
    settings.METRICS_TOKEN = "s3cret-token"
    return Client()


def _scrape(client) -> str:
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def test_metrics_are_off_unless_enabled(settings):
    settings.METRICS_ENABLED = False
    assert Client().get("/metrics").status_code == 404


def test_the_token_is_required_when_set(enabled):
    assert enabled.get("/metrics").status_code == 401
    assert enabled.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert enabled.get("/metrics", HTTP_AUTHORIZATION="s3cret-token").status_code == 401
    assert "koinonia_webhook_ingest_lag_seconds" in _scrape(enabled)


def test_without_a_token_an_enabled_page_is_open(settings):
    settings.METRICS_ENABLED = True
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics").status_code == 200


def test_requests_are_timed_by_view_name(enabled):
    before = REGISTRY.get_sample_value(
        "koinonia_http_request_duration_seconds_count", {"view": "health", "method": "GET"}
    )
    assert enabled.get("/health").status_code == 200
    after = REGISTRY.get_sample_value(
        "koinonia_http_request_duration_seconds_count", {"view": "health", "method": "GET"}
    )
    assert after == (before or 0) + 1
    assert 'koinonia_http_request_duration_seconds_bucket{le="0.005",method="GET",view="health"}' in _scrape(enabled)


def test_broadcast_sends_are_counted_by_provider_and_outcome(
    world, enabled, settings, django_capture_on_commit_callbacks
):
    from messaging.models import SenderNumber

    world.church.quiet_hours_start = world.church.quiet_hours_end
    world.church.save()
    SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")
    MemberFactory.create_batch(3, church=world.church)
    labels = {"provider": "console", "kind": "broadcast", "outcome": "sent"}
    before = REGISTRY.get_sample_value("koinonia_sms_sends_total", labels) or 0
    message = services.message_send(church=world.church, author=world.staff, body="Hi", audience={"all": True})
    services.message_prepare(message_id=message.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.send_message(message.pk) == "done"
    assert REGISTRY.get_sample_value("koinonia_sms_sends_total", labels) == before + 3
    assert 'koinonia_sms_sends_total{kind="broadcast",outcome="sent",provider="console"}' in _scrape(enabled)


def test_provider_errors_are_counted_by_status():
    before = REGISTRY.get_sample_value("koinonia_sms_provider_errors_total", {"provider": "telnyx", "status": "429"})
    metrics.count_provider_error(provider="telnyx", status=429)
    after = REGISTRY.get_sample_value("koinonia_sms_provider_errors_total", {"provider": "telnyx", "status": "429"})
    assert after == (before or 0) + 1


def test_webhook_ingest_lag_is_the_oldest_pending_callbacks_age(enabled):
    assert "koinonia_webhook_ingest_lag_seconds 0.0" in _scrape(enabled)
    ProviderEvent.objects.create(
        provider="telnyx",
        event_id="ev-1",
        event_type="message.finalized",
        provider_message_id="pm-1",
        received_at=timezone.now() - timedelta(minutes=5),
    )
    line = next(line for line in _scrape(enabled).splitlines() if line.startswith("koinonia_webhook_ingest_lag"))
    assert 299 <= float(line.split()[1]) < 400


def test_task_wait_is_measured_from_the_publish_stamp():
    class Request:
        delivery_info = {"routing_key": "priority"}
        headers = None
        eta = None
        koinonia_sent_at = timezone.now().timestamp() - 2.0

    class Task:
        name = "conversations.tasks.send_conversation_message"
        request = Request()

    before = REGISTRY.get_sample_value("koinonia_task_queue_wait_seconds_sum", {"queue": "priority"}) or 0
    metrics.observe_task_start(Task)
    metrics.observe_task_end(Task)
    waited = REGISTRY.get_sample_value("koinonia_task_queue_wait_seconds_sum", {"queue": "priority"}) - before
    assert 2.0 <= waited < 10
    assert (
        REGISTRY.get_sample_value("koinonia_task_runtime_seconds_count", {"queue": "priority", "task": Task.name}) >= 1
    )


def test_sentry_starts_without_personal_data():
    import sentry_sdk

    from koinonia.sentry import init_sentry

    init_sentry(dsn="https://public@127.0.0.1/1", environment="test", traces_sample_rate=0.0)
    try:
        options = sentry_sdk.get_client().options
        assert options["send_default_pii"] is False and options["max_request_body_size"] == "never"
        names = {type(i).__name__ for i in sentry_sdk.get_client().integrations.values()}
        assert {"DjangoIntegration", "CeleryIntegration"} <= names
    finally:
        sentry_sdk.init(dsn=None)
