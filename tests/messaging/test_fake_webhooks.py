"""The fakes' callbacks arrive signed and verify with the provider packages' signature checks; duplicates,
out-of-order delivery, retries, inbound messages and the rest of the control API behave as documented."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from messaging.providers import PermanentSendError, get_provider
from messaging.providers.base import Reason
from messaging.providers.events import SignatureError
from messaging.providers.telnyx.signatures import verify_telnyx
from messaging.providers.twilio.signatures import verify_twilio
from tests.fakes.base import RecordedRequest, RecordingReceiver
from tests.fakes.telnyx import TEST_API_KEY, FakeTelnyx
from tests.fakes.twilio import TEST_AUTH_TOKEN

FROM, TO = "+15555550100", "+15555550123"


def send_to(receiver: RecordingReceiver, to: str = TO, path: str = "/hooks/status"):
    return get_provider().send(from_number=FROM, to_number=to, body="See you Sunday", webhook_url=receiver.url(path))


def telnyx_event(request: RecordedRequest, public_key_b64: str) -> dict:
    verify_telnyx(request.body, request.headers, public_key_b64=public_key_b64)
    return request.json()


def twilio_form(receiver: RecordingReceiver, request: RecordedRequest) -> dict[str, str]:
    form = request.form
    verify_twilio(
        receiver.url(request.target), form, request.headers.get("x-twilio-signature"), auth_token=TEST_AUTH_TOKEN
    )
    return {name: values[0] for name, values in form.items()}


# --- Telnyx -----------------------------------------------------------------------------------------


def test_telnyx_sent_then_finalized_signed(telnyx, receiver):
    result = send_to(receiver)
    # The fake posts its callbacks from a thread pool, as Telnyx does from its own machines: either may
    # arrive first, so each is found by its type (the order of the events is in their occurred_at).
    events = [telnyx_event(request, telnyx.public_key_b64) for request in receiver.wait_for(2)]
    events.sort(key=lambda event: ["message.sent", "message.finalized"].index(event["data"]["event_type"]))

    assert [event["data"]["event_type"] for event in events] == ["message.sent", "message.finalized"]
    sent, final = (event["data"] for event in events)
    assert sent["payload"]["id"] == final["payload"]["id"] == result.provider_message_id
    assert sent["id"] != final["id"]
    assert sent["payload"]["to"][0]["status"] == "sent"
    assert final["payload"]["to"][0] == {"phone_number": TO, "status": "delivered", "line_type": "Wireless"}
    assert final["payload"]["errors"] == [] and final["payload"]["cost"]["currency"] == "USD"
    assert events[0]["meta"] == {"attempt": 1, "delivered_to": receiver.url("/hooks/status")}
    assert sent["occurred_at"] < final["occurred_at"]


def test_telnyx_delivery_failure_carries_a_string_code(telnyx, receiver):
    telnyx.fail_number(TO, "40008")
    send_to(receiver)
    events = [telnyx_event(request, telnyx.public_key_b64)["data"] for request in receiver.wait_for(2)]
    final = next(event["payload"] for event in events if event["event_type"] == "message.finalized")
    assert final["to"][0]["status"] == "delivery_failed"
    assert final["errors"][0]["code"] == "40008"
    assert get_provider().describe_error(final["errors"][0]["code"]) == Reason.UNDELIVERABLE


def attempts_by_event(requests_: list[RecordedRequest], public_key_b64: str) -> dict[str, list[int]]:
    """event type → the meta.attempt of each delivery of it, in arrival order."""
    attempts: dict[str, list[int]] = {}
    event_ids: dict[str, set[str]] = {}
    for request in requests_:
        event = telnyx_event(request, public_key_b64)  # every attempt is freshly and validly signed
        attempts.setdefault(event["data"]["event_type"], []).append(event["meta"]["attempt"])
        event_ids.setdefault(event["data"]["event_type"], set()).add(event["data"]["id"])
    assert all(len(ids) == 1 for ids in event_ids.values())  # retries keep the event id
    return attempts


def test_telnyx_retries_failed_webhooks_with_the_same_event_id(telnyx):
    with RecordingReceiver(statuses=[500, 503, 500]) as flaky:
        send_to(flaky)
        telnyx.wait_for_webhooks()
        attempts = attempts_by_event(flaky.received, telnyx.public_key_b64)
    assert sorted(attempts) == ["message.finalized", "message.sent"]
    assert all(numbers == list(range(1, len(numbers) + 1)) for numbers in attempts.values())
    assert sum(len(numbers) for numbers in attempts.values()) == 5  # 3 failures retried, then 2 successes
    assert sorted(delivery.status for delivery in telnyx.webhook_deliveries) == [200, 200, 500, 500, 503]


def test_telnyx_gives_up_after_three_attempts(telnyx):
    with RecordingReceiver(statuses=[500] * 10) as down:
        send_to(down)
        telnyx.wait_for_webhooks()
        attempts = attempts_by_event(down.received, telnyx.public_key_b64)
    assert attempts == {"message.sent": [1, 2, 3], "message.finalized": [1, 2, 3]}


def test_telnyx_duplicates_and_out_of_order(telnyx, receiver):
    telnyx.set_webhooks(duplicates=True, out_of_order=True)
    send_to(receiver)
    events = [telnyx_event(request, telnyx.public_key_b64)["data"] for request in receiver.wait_for(4)]
    # Arrival order between concurrent deliveries depends on scheduling; what must hold is that each event
    # comes twice with the same id, and that occurred_at still tells the true order.
    by_type: dict[str, list[dict]] = {}
    for event in events:
        by_type.setdefault(event["event_type"], []).append(event)
    assert sorted(by_type) == ["message.finalized", "message.sent"]
    assert all(len(pair) == 2 and pair[0]["id"] == pair[1]["id"] for pair in by_type.values())
    assert by_type["message.sent"][0]["occurred_at"] < by_type["message.finalized"][0]["occurred_at"]


@pytest.mark.parametrize(("mode", "reason"), [("bad", "does not match"), ("missing", "missing"), ("stale", "window")])
def test_telnyx_broken_signature_modes_fail_verification(telnyx, receiver, mode, reason):
    telnyx.set_webhooks(signature_mode=mode)
    send_to(receiver)
    request = receiver.wait_for(1)[0]
    with pytest.raises(SignatureError, match=reason):
        verify_telnyx(request.body, request.headers, public_key_b64=telnyx.public_key_b64)


def test_telnyx_profile_webhook_used_only_when_allowed(settings, fast_timeouts, receiver):
    with FakeTelnyx(profile_webhook_url=receiver.url("/profile")) as telnyx:
        telnyx.point_settings_at(settings)
        get_provider().send(from_number=FROM, to_number=TO, body="Hi")  # no webhook_url: profile's is used
        telnyx.wait_for_webhooks()
        assert {request.path for request in receiver.received} == {"/profile"}
        send_to(receiver, path="/message")  # webhook_url + use_profile_webhooks=false: only the message's
        telnyx.wait_for_webhooks()
    assert [request.path for request in receiver.received[2:]] == ["/message", "/message"]


def test_telnyx_inbound_stop_blocks_and_start_unblocks(telnyx, receiver):
    telnyx.inbound_webhook_url = receiver.url("/hooks/inbound")
    message_id = telnyx.simulate_inbound(TO, FROM, "stop ", media=[("https://media.example.test/1.jpg", "image/jpeg")])
    event = telnyx_event(receiver.wait_for(1)[0], telnyx.public_key_b64)["data"]
    payload = event["payload"]
    assert event["event_type"] == "message.received"
    assert (payload["id"], payload["direction"], payload["type"]) == (message_id, "inbound", "MMS")
    assert payload["from"]["phone_number"] == TO and payload["to"][0]["phone_number"] == FROM
    assert (payload["text"], payload["autoresponse_type"]) == ("stop ", "STOP")
    assert payload["media"][0]["url"] == "https://media.example.test/1.jpg"
    with pytest.raises(PermanentSendError, match="opted out"):
        get_provider().send(from_number=FROM, to_number=TO, body="Hi")

    telnyx.simulate_inbound(TO, FROM, "START")
    assert telnyx_event(receiver.wait_for(2)[1], telnyx.public_key_b64)["data"]["payload"]["autoresponse_type"] == (
        "START"
    )
    assert get_provider().send(from_number=FROM, to_number=TO, body="Welcome back").provider_message_id


def test_telnyx_plain_inbound_has_no_autoresponse_type(telnyx, receiver):
    telnyx.inbound_webhook_url = receiver.url("/hooks/inbound")
    telnyx.simulate_inbound(TO, FROM, "Please stop by the office")  # not a keyword: the whole message counts
    payload = telnyx_event(receiver.wait_for(1)[0], telnyx.public_key_b64)["data"]["payload"]
    assert "autoresponse_type" not in payload and payload["type"] == "SMS"
    assert TO not in telnyx.blocked


def test_telnyx_wire_errors(telnyx):
    def post(body, key=TEST_API_KEY):
        return requests.post(
            f"{telnyx.base_url}/v2/messages", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=5
        )

    unauthorized = post({"from": FROM, "to": TO, "text": "Hi"}, key="nope")
    assert unauthorized.status_code == 401 and unauthorized.json()["errors"][0]["code"] == "10009"
    gsm7 = post({"from": FROM, "to": TO, "text": "Olá", "encoding": "gsm7"})
    assert gsm7.status_code == 400
    assert post({"from": FROM, "to": TO, "text": "Ola", "encoding": "gsm7"}).json()["data"]["encoding"] == "GSM-7"
    ucs2 = post({"from": FROM, "to": TO, "text": "Olá"}).json()["data"]
    assert (ucs2["encoding"], ucs2["parts"]) == ("UCS-2", 1)
    assert post({"from": FROM, "to": TO}).json()["errors"][0]["code"] == "40316"
    too_many = post({"from": FROM, "to": TO, "media_urls": ["https://media.example.test/x.jpg"] * 11})
    assert too_many.json()["errors"][0]["code"] == "40317"


def test_telnyx_rate_limit_is_per_key(settings, fast_timeouts):
    with FakeTelnyx(api_keys=("KEY_one", "KEY_two")) as telnyx:
        telnyx.point_settings_at(settings)
        telnyx.set_rate_limit(1, burst=1)
        get_provider().send(from_number=FROM, to_number=TO, body="Hi")
        limited = requests.post(
            f"{telnyx.base_url}/v2/messages",
            json={"from": FROM, "to": TO, "text": "Hi"},
            headers={"Authorization": "Bearer KEY_one"},
            timeout=5,
        )
        assert limited.status_code == 429 and limited.json()["errors"][0]["code"] == "10011"
        assert limited.headers["x-ratelimit-limit"] == "1" and limited.headers["x-ratelimit-remaining"] == "0"
        settings.TELNYX_API_KEY = "KEY_two"
        assert get_provider().send(from_number=FROM, to_number=TO, body="Hi").provider_message_id


# --- Twilio -----------------------------------------------------------------------------------------


def test_twilio_status_callbacks_signed(twilio, receiver):
    result = send_to(receiver, path="/hooks/twilio/status/?church=7")
    callbacks = [twilio_form(receiver, request) for request in receiver.wait_for(2)]
    # Posted from a thread pool, as Twilio does: either may arrive first.
    assert sorted(callback["MessageStatus"] for callback in callbacks) == ["delivered", "sent"]
    for callback in callbacks:
        assert callback["MessageSid"] == callback["SmsSid"] == result.provider_message_id
        assert (callback["From"], callback["To"], callback["ApiVersion"]) == (FROM, TO, "2010-04-01")
        assert "ErrorCode" not in callback
    assert receiver.received[0].query == {"church": ["7"]}  # the query string is part of what was signed


def test_twilio_undelivered_with_error_code(twilio, receiver):
    twilio.fail_number(TO, "30003")
    send_to(receiver)
    # The fake posts "sent" and the final status from a thread pool, as Twilio does from its own
    # machines: either may arrive first, so the final one is found by its status, not its position.
    callbacks = [twilio_form(receiver, request) for request in receiver.wait_for(2)]
    assert sorted(callback["MessageStatus"] for callback in callbacks) == ["sent", "undelivered"]
    final = next(callback for callback in callbacks if callback["MessageStatus"] != "sent")
    assert (final["MessageStatus"], final["ErrorCode"]) == ("undelivered", "30003")
    assert get_provider().describe_error(final["ErrorCode"]) == Reason.UNDELIVERABLE


@pytest.mark.parametrize("mode", ["bad", "missing"])
def test_twilio_broken_signature_modes_fail_verification(twilio, receiver, mode):
    twilio.set_webhooks(signature_mode=mode)
    send_to(receiver)
    with pytest.raises(SignatureError):
        twilio_form(receiver, receiver.wait_for(1)[0])


def test_twilio_has_no_stale_mode(twilio):
    with pytest.raises(ValueError, match="stale"):
        twilio.set_webhooks(signature_mode="stale")


def test_twilio_inbound_with_media_and_opt_out(twilio, receiver):
    twilio.inbound_webhook_url = receiver.url("/hooks/twilio/inbound/")
    media = [("https://media.example.test/1.jpg", "image/jpeg"), ("https://media.example.test/2.png", "image/png")]
    message_id = twilio.simulate_inbound(TO, FROM, "Unsubscribe", media=media)
    inbound = twilio_form(receiver, receiver.wait_for(1)[0])
    assert inbound["MessageSid"] == message_id and message_id.startswith("MM")
    assert (inbound["From"], inbound["To"], inbound["Body"], inbound["SmsStatus"]) == (
        TO,
        FROM,
        "Unsubscribe",
        "received",
    )
    assert (inbound["NumMedia"], inbound["MediaUrl1"], inbound["MediaContentType1"]) == ("2", *media[1])
    assert inbound["OptOutType"] == "STOP"
    with pytest.raises(PermanentSendError) as caught:
        get_provider().send(from_number=FROM, to_number=TO, body="Hi")
    assert caught.value.code == "21610"


def test_twilio_wire_errors(twilio):
    url = f"{twilio.base_url}/2010-04-01/Accounts/ACtest0000000000000000000000000001/Messages.json"
    unauthorized = requests.post(url, data={"To": TO, "From": FROM, "Body": "Hi"}, auth=("AC1", "x"), timeout=5)
    assert unauthorized.status_code == 401
    assert unauthorized.json()["code"] == 20003  # an integer, unlike Telnyx
    twilio.set_rate_limit(1, burst=1)
    get_provider().send(from_number=FROM, to_number=TO, body="Hi")
    limited = requests.post(
        url, data={"To": TO, "From": FROM, "Body": "Hi"}, auth=("ACtest0000000000000000000000000001", TEST_AUTH_TOKEN)
    )
    assert (limited.status_code, limited.json()["code"]) == (429, 20429)


# --- Shared machinery -------------------------------------------------------------------------------


def test_latency_is_applied(fake):
    fake.set_latency(fixed=0.1, jitter=0.05)
    started = time.monotonic()
    get_provider().send(from_number=FROM, to_number=TO, body="Hi")
    assert time.monotonic() - started >= 0.1


def test_reset_forgets_everything(fake, receiver):
    fake.block(TO)
    fake.fail_next(3, 500)
    fake.set_rate_limit(1, burst=1)
    fake.set_webhooks(delay=5)
    fake.fail_next(1, 500)
    fake.reset()
    send_to(receiver)
    send_to(receiver, to="+15555550124")
    assert len(fake.requests) == 2 and len(fake.sent_messages) == 2
    fake.wait_for_webhooks()
    assert len(receiver.received) == 4


def test_hundreds_of_webhooks_in_parallel(fake, receiver):
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: send_to(receiver, to=f"+1555555{n:04d}"), range(100)))
    fake.wait_for_webhooks(timeout=20)
    assert len(receiver.received) == 200
    assert all(delivery.status == 200 for delivery in fake.webhook_deliveries)
