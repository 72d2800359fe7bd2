"""What each provider puts on the wire, checked at the fake's end, and how the answer is read."""

import base64

import pytest
from django.core.exceptions import ImproperlyConfigured

from messaging.providers import get_provider
from messaging.providers.console import ConsoleProvider
from messaging.providers.http import POOL_MAXSIZE, session_for
from messaging.providers.telnyx import TelnyxProvider
from messaging.providers.twilio import TwilioProvider
from tests.fakes.telnyx import TEST_API_KEY, TEST_PROFILE_ID
from tests.fakes.twilio import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN

FROM, TO = "+15555550100", "+15555550123"
HOOK = "https://app.example.test/hooks/telnyx/"


def test_get_provider_follows_settings(settings):
    settings.SMS_PROVIDER = "console"
    assert isinstance(get_provider(), ConsoleProvider)
    settings.SMS_PROVIDER = "twilio"
    assert isinstance(get_provider(), TwilioProvider)
    assert isinstance(get_provider("telnyx"), TelnyxProvider)
    with pytest.raises(ImproperlyConfigured, match="nexmo"):
        get_provider("nexmo")


def test_telnyx_send_request_and_result(telnyx):
    result = get_provider().send(from_number=FROM, to_number=TO, body="a" * 161, webhook_url=HOOK)

    (request,) = telnyx.requests
    assert (request.method, request.path) == ("POST", "/v2/messages")
    assert request.headers["authorization"] == f"Bearer {TEST_API_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "from": FROM,
        "to": TO,
        "text": "a" * 161,
        "webhook_url": HOOK,
        "use_profile_webhooks": False,
        "messaging_profile_id": TEST_PROFILE_ID,
    }
    (message,) = telnyx.sent_messages
    assert result.provider_message_id == message.id
    assert (result.segments, result.status) == (2, "queued")


def test_telnyx_without_webhook_or_profile_leaves_them_to_the_account(telnyx, settings):
    settings.TELNYX_MESSAGING_PROFILE_ID = ""
    get_provider().send(from_number=FROM, to_number=TO, body="Hi", media_urls=["https://media.example.test/1.jpg"])
    assert telnyx.requests[0].json() == {
        "from": FROM,
        "to": TO,
        "text": "Hi",
        "media_urls": ["https://media.example.test/1.jpg"],
    }


def test_telnyx_media_only_message_has_no_text(telnyx):
    get_provider().send(from_number=FROM, to_number=TO, body="", media_urls=["https://media.example.test/1.jpg"])
    assert "text" not in telnyx.requests[0].json()


def test_twilio_send_request_and_result(twilio):
    result = get_provider().send(
        from_number=FROM,
        to_number=TO,
        body="€" * 81,
        media_urls=["https://media.example.test/1.jpg", "https://media.example.test/2.png"],
        webhook_url="https://app.example.test/hooks/twilio/status/",
    )

    (request,) = twilio.requests
    assert (request.method, request.path) == ("POST", f"/2010-04-01/Accounts/{TEST_ACCOUNT_SID}/Messages.json")
    expected_auth = base64.b64encode(f"{TEST_ACCOUNT_SID}:{TEST_AUTH_TOKEN}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected_auth}"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.form == {
        "To": [TO],
        "From": [FROM],
        "Body": ["€" * 81],
        "MediaUrl": ["https://media.example.test/1.jpg", "https://media.example.test/2.png"],
        "StatusCallback": ["https://app.example.test/hooks/twilio/status/"],
    }
    (message,) = twilio.sent_messages
    assert result.provider_message_id == message.id and message.id.startswith("MM") and len(message.id) == 34
    assert (result.segments, result.status) == (2, "queued")  # "2" on the wire


def test_twilio_without_callback_sends_no_status_callback(twilio):
    get_provider().send(from_number=FROM, to_number=TO, body="Hi")
    assert twilio.requests[0].form == {"To": [TO], "From": [FROM], "Body": ["Hi"]}


def test_one_keep_alive_session_per_base_url_without_retries(telnyx, twilio):
    session = session_for(telnyx.base_url)
    assert session is session_for(telnyx.base_url)
    assert session is not session_for(twilio.base_url)
    adapter = session.get_adapter(telnyx.base_url)
    assert adapter._pool_maxsize == POOL_MAXSIZE
    assert adapter.max_retries.total == 0


def test_sends_from_many_threads_share_the_session(telnyx):
    from concurrent.futures import ThreadPoolExecutor

    provider = get_provider()
    with ThreadPoolExecutor(16) as pool:
        results = list(
            pool.map(lambda n: provider.send(from_number=FROM, to_number=f"+1555555{n:04d}", body="Hi"), range(100))
        )
    assert len({result.provider_message_id for result in results}) == 100
    assert sorted(message.to_number for message in telnyx.sent_messages) == [f"+1555555{n:04d}" for n in range(100)]
