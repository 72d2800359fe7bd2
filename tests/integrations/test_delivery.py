"""Delivering events: Standard Webhooks signatures checked with the reference library, retries with
the same webhook-id, rotation overlap, the SSRF rule, and disabling an endpoint that keeps failing."""

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from integrations import delivery, services, signing, tasks
from integrations.models import WebhookDelivery, WebhookEndpoint
from koinonia import events
from tests.integrations.conftest import deliveries_of, events_of, make_endpoint, run_due

pytestmark = pytest.mark.django_db


def _emit_member_deleted(world, member_id=42):
    events.emit(church=world.church, type="member.deleted", data={"id": member_id})


def test_delivery_is_signed_per_standard_webhooks_and_verifies_with_the_reference_library(world, receiver):
    endpoint, secret = make_endpoint(world, receiver.url("/hooks"), events=["member.deleted"])
    assert secret.startswith("whsec_")
    _emit_member_deleted(world)
    (event,) = events_of(world)
    assert run_due() == ["succeeded"]
    (request,) = receiver.wait_for(1)
    assert request.path == "/hooks" and request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == event.id and event.id.startswith("evt_")
    payload = Webhook(secret).verify(request.body, request.headers)
    assert payload == {"type": "member.deleted", "timestamp": event.payload["timestamp"], "data": {"id": 42}}
    # A tampered body, another secret and a stale timestamp all fail verification.
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request.body.replace(b"42", b"43"), request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(request.body, request.headers)
    stale = int((timezone.now() - timedelta(minutes=10)).timestamp())
    stale_headers = signing.headers(msg_id=event.id, timestamp=stale, body=request.body, secrets=[secret])
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request.body, stale_headers)
    (attempt,) = deliveries_of(endpoint)
    assert attempt.status == WebhookDelivery.Status.SUCCEEDED and attempt.status_code == 200
    assert attempt.duration_ms is not None and attempt.attempted_at is not None


def test_receiver_failing_twice_gets_the_event_three_times_with_the_same_id(world, receiver, instant_retries):
    receiver._statuses.extend([500, 500, 200])
    endpoint, secret = make_endpoint(world, receiver.url("/"))
    _emit_member_deleted(world)
    assert run_due() == ["retrying"]
    attempts = deliveries_of(endpoint)
    assert [(a.attempt, a.status) for a in attempts] == [(1, "retrying"), (2, "pending")]
    assert attempts[0].status_code == 500
    # The sweeper (beat) picks up the due retry; in tests the task runs in-process.
    tasks.sweep_webhook_deliveries()
    tasks.sweep_webhook_deliveries()
    requests = receiver.wait_for(3)
    assert len(requests) == 3
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    assert [r.body for r in requests] == [requests[0].body] * 3
    for request in requests:
        Webhook(secret).verify(request.body, request.headers)
    assert [(a.attempt, a.status, a.status_code) for a in deliveries_of(endpoint)] == [
        (1, "retrying", 500),
        (2, "retrying", 500),
        (3, "succeeded", 200),
    ]
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0 and endpoint.last_success_at is not None
    assert tasks.sweep_webhook_deliveries()["enqueued"] == 0


def test_an_attempt_is_made_once_even_if_its_task_runs_twice(world, receiver):
    endpoint, _ = make_endpoint(world, receiver.url("/"))
    _emit_member_deleted(world)
    (attempt,) = deliveries_of(endpoint)
    tasks.deliver_webhooks([attempt.pk, attempt.pk])
    assert delivery.deliver(delivery_id=attempt.pk) is None
    assert len(receiver.received) == 1


def test_retry_schedule_spans_about_three_days_scaled_by_the_base(settings):
    assert delivery.MAX_ATTEMPTS == 12
    total = sum(delivery.RETRY_SCHEDULE)
    assert 2.5 * 86400 < total < 3 * 86400
    assert delivery.retry_delay(1).total_seconds() == pytest.approx(5, rel=0.11)
    assert delivery.retry_delay(11).total_seconds() == pytest.approx(36000, rel=0.11)
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.5
    assert delivery.retry_delay(2).total_seconds() == pytest.approx(150, rel=0.11)


def test_rotation_signs_with_both_secrets_during_the_overlap(world, receiver):
    endpoint, old_secret = make_endpoint(world, receiver.url("/"))
    endpoint, new_secret = services.webhook_endpoint_rotate_secret(
        church=world.church, endpoint=endpoint, acting_user=world.owner
    )
    assert new_secret != old_secret
    assert endpoint.previous_secret_expires_at > timezone.now() + timedelta(hours=23)
    _emit_member_deleted(world)
    run_due()
    (request,) = receiver.wait_for(1)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(old_secret).verify(request.body, request.headers)
    Webhook(new_secret).verify(request.body, request.headers)
    # After the overlap only the new secret signs.
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(previous_secret_expires_at=timezone.now())
    _emit_member_deleted(world, 7)
    run_due()
    request = receiver.wait_for(2)[1]
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    Webhook(new_secret).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old_secret).verify(request.body, request.headers)


def test_secrets_are_encrypted_at_rest(world, receiver):
    from django.db import connection

    endpoint, secret = make_endpoint(world, receiver.url("/"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM integrations_webhookendpoint WHERE id = %s", [endpoint.pk])
        (stored,) = cursor.fetchone()
    assert secret not in stored and secret.removeprefix("whsec_") not in stored
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == secret


def test_private_targets_are_refused_under_production_rules(world, receiver, settings):
    endpoint, _ = make_endpoint(world, receiver.url("/"))  # allowed in development and tests
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    _emit_member_deleted(world)
    assert run_due() == ["retrying"]
    (attempt, _next) = deliveries_of(endpoint)
    assert attempt.status_code is None and attempt.error.startswith("Refused")
    assert receiver.received == []
    from koinonia.exceptions import BusinessRuleError

    for url in (
        receiver.url("/"),  # plain http
        "https://127.0.0.1/hooks",
        "https://10.0.0.5/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hooks",
        "https://localhost/hooks",
        "ftp://example.org/hooks",
    ):
        with pytest.raises(BusinessRuleError) as refused:
            services.webhook_endpoint_create(church=world.church, acting_user=world.owner, url=url, events=["*"])
        assert refused.value.field == "url", url


def test_the_production_settings_module_refuses_private_targets_by_default(monkeypatch):
    """The test above sets the rule by hand; this is the rule the production settings give when the
    operator sets nothing (``WEBHOOKS_ALLOW_PRIVATE_TARGETS`` unset)."""
    from tests.koinonia.test_operations import PRODUCTION_ENV, _manage

    code = (
        "from django.conf import settings\n"
        "from integrations.services import clean_url\n"
        "print('allow_private', settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS)\n"
        "for url in ('https://10.0.0.5/hooks', 'https://127.0.0.1/hooks', 'http://hooks.example.org/'):\n"
        "    try:\n"
        "        clean_url(url)\n"
        "        print('accepted', url)\n"
        "    except Exception as exc:\n"
        "        print('refused', url, type(exc).__name__, exc.field)\n"
    )
    monkeypatch.delenv("WEBHOOKS_ALLOW_PRIVATE_TARGETS", raising=False)
    result = _manage(PRODUCTION_ENV, "shell", "-c", code)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert "allow_private False" in lines
    for url in ("https://10.0.0.5/hooks", "https://127.0.0.1/hooks", "http://hooks.example.org/"):
        assert f"refused {url} BusinessRuleError url" in lines, result.stdout


def test_a_public_name_resolving_to_a_private_address_is_refused(world, settings, monkeypatch):
    import socket

    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    answers = {"hooks.example.org": ["93.184.216.34"], "sneaky.example.org": ["93.184.216.34", "10.1.2.3"]}

    def fake_getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in answers[host]]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    from koinonia.exceptions import BusinessRuleError

    endpoint, _ = make_endpoint(world, "https://hooks.example.org/koinonia")
    assert endpoint.url == "https://hooks.example.org/koinonia"
    with pytest.raises(BusinessRuleError):
        make_endpoint(world, "https://sneaky.example.org/koinonia")
    # Delivery checks again: the name now answers with a private address too.
    answers["hooks.example.org"] = ["10.9.9.9"]
    _emit_member_deleted(world)
    run_due()
    attempt = deliveries_of(endpoint)[0]
    assert attempt.error.startswith("Refused") and attempt.status_code is None


def test_redirects_are_not_followed(world, receiver):
    receiver._statuses.append(302)
    endpoint, _ = make_endpoint(world, receiver.url("/"))
    _emit_member_deleted(world)
    assert run_due() == ["retrying"]
    attempt = deliveries_of(endpoint)[0]
    assert attempt.status_code == 302 and "Redirect" in attempt.error
    assert len(receiver.received) == 1


def test_endpoint_failing_for_the_whole_retry_span_is_disabled_and_owners_emailed(
    world, receiver, instant_retries, django_capture_on_commit_callbacks
):
    receiver._statuses.extend([503] * 20)
    endpoint, _ = make_endpoint(world, receiver.url("/down"))
    _emit_member_deleted(world)
    rounds = 0
    while WebhookDelivery.objects.filter(endpoint=endpoint, status="pending").exists():
        with django_capture_on_commit_callbacks(execute=True):
            run_due()
        rounds += 1
        assert rounds <= delivery.MAX_ATTEMPTS
    attempts = deliveries_of(endpoint)
    assert len(attempts) == delivery.MAX_ATTEMPTS == len(receiver.received)
    assert attempts[-1].status == "failed" and {a.status for a in attempts[:-1]} == {"retrying"}
    endpoint.refresh_from_db()
    assert not endpoint.enabled and "every delivery failed" in endpoint.disabled_reason
    assert endpoint.consecutive_failures == delivery.MAX_ATTEMPTS
    (email,) = mail.outbox
    assert world.owner.email in email.to and endpoint.url in email.body and "disabled" in email.subject
    # A disabled endpoint receives nothing more.
    _emit_member_deleted(world, 9)
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == delivery.MAX_ATTEMPTS
    # Enabling it again starts afresh.
    services.webhook_endpoint_update(church=world.church, endpoint=endpoint, acting_user=world.owner, enabled=True)
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.disabled_reason == "" and endpoint.consecutive_failures == 0


def test_a_success_in_between_keeps_the_endpoint_enabled(world, receiver, instant_retries):
    endpoint, _ = make_endpoint(world, receiver.url("/"))
    receiver._statuses.extend([500] * 11)
    _emit_member_deleted(world)
    run_due()  # first attempt fails
    # Another event succeeds meanwhile: the endpoint works, the first event merely gave up.
    receiver._statuses.appendleft(200)
    _emit_member_deleted(world, 2)
    for _ in range(delivery.MAX_ATTEMPTS + 1):
        run_due()
    endpoint.refresh_from_db()
    assert endpoint.enabled
    assert mail.outbox == []


def test_response_excerpt_is_capped(world, receiver, monkeypatch):
    from tests.fakes.base import FakeResponse

    monkeypatch.setattr(receiver, "handle", lambda request: FakeResponse(200, b"x" * 200_000))
    endpoint, _ = make_endpoint(world, receiver.url("/"))
    _emit_member_deleted(world)
    run_due()
    attempt = deliveries_of(endpoint)[0]
    assert attempt.status == "succeeded" and len(attempt.response_excerpt) == 1024


def test_sweeper_sends_first_attempts_whose_task_was_lost(world, receiver):
    endpoint, _ = make_endpoint(world, receiver.url("/"))
    _emit_member_deleted(world)
    assert tasks.sweep_webhook_deliveries()["enqueued"] == 0  # its own task is normally on its way
    WebhookDelivery.objects.filter(endpoint=endpoint).update(created_at=timezone.now() - timedelta(minutes=1))
    assert tasks.sweep_webhook_deliveries()["enqueued"] == 1
    assert json.loads(receiver.wait_for(1)[0].body)["data"] == {"id": 42}


def test_old_events_are_pruned(world, receiver, time_machine):
    endpoint, _ = make_endpoint(world, receiver.url("/"))
    time_machine.move_to(timezone.now() - timedelta(days=31))
    _emit_member_deleted(world, 1)
    time_machine.move_to(timezone.now() + timedelta(days=31))
    _emit_member_deleted(world, 2)
    assert tasks.sweep_webhook_deliveries()["pruned"] == 2  # the old event and its delivery
    assert [event.payload["data"]["id"] for event in events_of(world)] == [2]
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 1


def test_event_ids_sort_by_time():
    from integrations.ids import event_id_floor, new_event_id

    now = timezone.now()
    ids = [new_event_id(now + timedelta(milliseconds=ms)) for ms in (0, 1, 5, 1000, 86_400_000)]
    assert ids == sorted(ids) and all(len(i) == 30 and i.startswith("evt_") for i in ids)
    assert event_id_floor(now) <= ids[0] < event_id_floor(now + timedelta(milliseconds=1)) <= ids[1]


@pytest.mark.parametrize(
    ("address", "private_ok", "allowed"),
    [
        ("93.184.216.34", False, True),
        ("2606:2800:220:1:248:1893:25c8:1946", False, True),
        ("127.0.0.1", False, False),
        ("127.0.0.1", True, True),
        ("10.1.2.3", True, True),
        ("192.168.1.1", False, False),
        ("::1", False, False),
        ("::ffff:10.0.0.1", False, False),
        ("169.254.169.254", True, False),  # cloud metadata: never
        ("0.0.0.0", True, False),
        ("240.0.0.1", True, False),  # reserved
        ("fe80::1%eth0", True, False),
    ],
)
def test_the_shared_address_rule(address, private_ok, allowed):
    from koinonia import netguard

    assert netguard.address_allowed(address, allow_private=private_ok) is allowed
