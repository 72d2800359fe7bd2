"""Sends through the fake Telnyx and Twilio servers, with their signed, duplicated and out-of-order
callbacks arriving at our real webhook endpoints (a live server)."""

import json
import time

import pytest
from django.db import connection

from messaging.broadcasts import services, tasks
from messaging.models import Message, ProviderEvent, Recipient, SenderNumber
from tests.messaging.support import bulk_members, phone_for, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def church(world):
    world.church.quiet_hours_start = world.church.quiet_hours_end  # no quiet hours in these tests
    world.church.save()
    return world.church


@pytest.fixture
def live_telnyx(postgres_only, telnyx, live_server, settings, church):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.SEND_RETRY_BASE_SECONDS = 0.01
    # Production timeouts: a read timeout on a loaded machine would (correctly) be retried and could
    # double-send, which these tests count exactly.
    settings.SMS_HTTP_TIMEOUT = (3.05, 10)
    SenderNumber.objects.create(church=church, phone_number="+13125550100", provider="telnyx")
    return telnyx


@pytest.fixture
def live_twilio(postgres_only, twilio, live_server, settings, church):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.SEND_RETRY_BASE_SECONDS = 0.01
    # Production timeouts: a read timeout on a loaded machine would (correctly) be retried and could
    # double-send, which these tests count exactly.
    settings.SMS_HTTP_TIMEOUT = (3.05, 10)
    SenderNumber.objects.create(church=church, phone_number="+13125550100", provider="twilio")
    return twilio


def broadcast(church, body="Service at 10am"):
    message = services.message_send(church=church, author=None, body=body, audience={"all": True})
    tasks.prepare_message(message.pk)  # eager; on_commit already ran in a transactional test
    return message


def run_until_sent(message, fake, timeout=20):
    def done():
        message.refresh_from_db()
        return message.status == "sent" and message.queued_count == 0

    wait_until(done, timeout=timeout, tick=lambda: tasks.send_message(message.pk), what="the broadcast to finish")
    fake.wait_for_webhooks(timeout=timeout)


def settle(message, expected_delivered, timeout=10):
    wait_until(
        lambda: Message.objects.get(pk=message.pk).delivered_count == expected_delivered,
        timeout=timeout,
        what="delivery callbacks",
    )
    time.sleep(0.2)  # any extra (duplicate) callback would land now
    message.refresh_from_db()


@pytest.mark.parametrize("provider_fixture", ["live_telnyx", "live_twilio"])
def test_broadcast_through_each_provider_with_duplicate_and_out_of_order_callbacks(request, church, provider_fixture):
    fake = request.getfixturevalue(provider_fixture)
    fake.set_webhooks(duplicates=True, out_of_order=True)
    bulk_members(church, 40)
    message = broadcast(church)
    run_until_sent(message, fake)
    settle(message, 40)
    assert message.counts == {"recipients": 40, "queued": 0, "sent": 0, "delivered": 40, "failed": 0, "skipped": 0}
    assert len(fake.sent_messages) == 40
    # Each distinct callback is stored once although every one was delivered twice.
    assert ProviderEvent.objects.count() == 80
    assert ProviderEvent.objects.filter(outcome="pending").count() == 0
    # Callbacks carry members' numbers: stored encrypted, never in plain text.
    with connection.cursor() as cursor:
        cursor.execute("SELECT payload FROM messaging_providerevent")
        raw = " ".join(row[0] for row in cursor.fetchall())
    assert "+1312" not in raw and "1312300" not in raw
    assert ProviderEvent.objects.first().payload  # and still readable through the model


def test_telnyx_request_format(church, live_telnyx, live_server):
    bulk_members(church, 1)
    message = broadcast(church, body="Hi {first_name}")
    run_until_sent(message, live_telnyx)
    sent = json.loads(live_telnyx.requests[0].body)
    assert sent["to"] == phone_for(0) and sent["from"] == "+13125550100" and sent["text"] == "Hi Member0"
    assert sent["webhook_url"] == f"{live_server.url}/hooks/telnyx/" and sent["use_profile_webhooks"] is False
    assert live_telnyx.requests[0].headers["authorization"] == f"Bearer {live_telnyx.api_key}"


def sends_to(fake):
    return [json.loads(r.body)["to"] for r in fake.requests if r.path.endswith("/messages")]


def test_transient_errors_are_retried(church, live_telnyx):
    bulk_members(church, 4)
    live_telnyx.fail_next(2, 500)
    live_telnyx.fail_next(2, 429, retry_after=0.05)
    message = broadcast(church)
    run_until_sent(message, live_telnyx)
    settle(message, 4)
    assert len(sends_to(live_telnyx)) == 4 + 4  # the four injected failures were retried
    assert sorted(Recipient.objects.filter(message=message).values_list("attempts", flat=True))[-1] >= 2


def test_permanent_errors_are_not_retried_and_say_why(church, live_telnyx):
    bulk_members(church, 4)
    live_telnyx.fail_number(phone_for(1), "40300", stage="send")  # opted out at the carrier
    live_telnyx.fail_number(phone_for(2), "40310", stage="send")  # invalid number
    live_telnyx.fail_number(phone_for(3), "40008", stage="delivery")  # undeliverable
    message = broadcast(church)
    run_until_sent(message, live_telnyx)
    settle(message, 1)
    wait_until(lambda: Message.objects.get(pk=message.pk).failed_count == 3, timeout=10)
    assert sorted(sends_to(live_telnyx)) == [phone_for(n) for n in range(4)]  # each tried exactly once
    reasons = dict(Recipient.objects.filter(message=message, status="failed").values_list("error_code", "error_reason"))
    assert "opted out" in reasons["40300"] and "valid mobile number" in reasons["40310"]
    assert "couldn't deliver" in reasons["40008"]


def test_bad_signatures_are_rejected_and_store_nothing(church, live_telnyx):
    bulk_members(church, 2)
    live_telnyx.set_webhooks(signature_mode="bad")
    message = broadcast(church)
    run_until_sent(message, live_telnyx)
    message.refresh_from_db()
    assert message.delivered_count == 0 and message.sent_count == 2
    assert not ProviderEvent.objects.exists()
    assert live_telnyx.webhook_deliveries and all(d.status == 403 for d in live_telnyx.webhook_deliveries)


def test_a_rejected_account_stops_the_broadcast_instead_of_failing_everyone(church, live_telnyx, settings):
    bulk_members(church, 30)
    settings.TELNYX_API_KEY = "revoked-key"
    message = broadcast(church)
    run_until_sent_or_failed = lambda: Message.objects.get(pk=message.pk).status == "failed"  # noqa: E731
    wait_until(run_until_sent_or_failed, timeout=20, tick=lambda: tasks.send_message(message.pk))
    message.refresh_from_db()
    assert "credentials" in message.status_detail
    assert message.counts["queued"] == 0 and message.counts["skipped"] + message.counts["failed"] == 30
    assert message.counts["failed"] <= 8  # only the sends already in flight failed individually
