"""How send failures are classified: transient (retry later, honouring the provider's hint) or permanent
(a plain-English reason, never retried). Each failure is produced by a fake over real HTTP."""

import time
from dataclasses import dataclass

import pytest

from messaging.providers import PermanentSendError, TransientSendError, get_provider
from messaging.providers.base import Reason
from messaging.providers.http import retry_after_seconds
from tests.fakes.base import RecordingReceiver

FROM, TO = "+15555550100", "+15555550123"


@dataclass(frozen=True)
class Codes:
    opted_out: str
    invalid_to: str
    no_content: str
    auth: str
    too_long_body: str


CODES = {
    "telnyx": Codes(opted_out="40300", invalid_to="40310", no_content="40316", auth="10009", too_long_body="a" * 1531),
    "twilio": Codes(opted_out="21610", invalid_to="21211", no_content="21619", auth="20003", too_long_body="a" * 1601),
}


def send(to: str = TO, body: str = "Potluck moved to 6pm."):
    return get_provider().send(from_number=FROM, to_number=to, body=body)


@pytest.fixture
def codes(fake) -> Codes:
    return CODES[get_provider().name]


def test_forced_429_with_retry_after_is_transient_with_the_hint(fake):
    fake.fail_next(1, 429, retry_after=2)
    with pytest.raises(TransientSendError) as caught:
        send()
    assert caught.value.retry_after == 2.0
    assert not caught.value.maybe_sent
    assert send().provider_message_id  # the next request goes through


def test_rate_limit_bucket_answers_429_per_key(fake):
    fake.set_rate_limit(1, burst=2)
    send(), send()
    with pytest.raises(TransientSendError, match="rate limiting"):
        send()
    assert len(fake.sent_messages) == 2


def test_telnyx_rate_limit_hint_comes_from_x_ratelimit_reset(telnyx):
    telnyx.set_rate_limit(1, burst=1)
    send()
    with pytest.raises(TransientSendError) as caught:
        send()
    assert caught.value.retry_after == 1.0


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(fake, status):
    fake.fail_next(1, status)
    with pytest.raises(TransientSendError, match=f"HTTP {status}"):
        send()
    assert fake.sent_messages == []


def test_timeout_is_transient_maybe_sent_and_never_retried_automatically(fake):
    fake.fail_next(1, "hang")
    started = time.monotonic()
    with pytest.raises(TransientSendError) as caught:
        send()
    assert time.monotonic() - started < 3.5  # gave up at the read timeout (1.5 s), not when the fake answered (4 s)
    assert caught.value.maybe_sent  # the fake accepted it: a blind retry would double-send
    assert len(fake.requests) == 1 and len(fake.sent_messages) == 1


def test_connection_reset_is_transient_maybe_sent(fake):
    fake.fail_next(1, "reset")
    with pytest.raises(TransientSendError, match="dropped") as caught:
        send()
    assert caught.value.maybe_sent
    assert len(fake.requests) == 1


def test_connection_refused_is_transient_and_certainly_not_sent(fake, settings):
    fake.stop()
    with pytest.raises(TransientSendError, match="Could not connect") as caught:
        send()
    assert not caught.value.maybe_sent


def test_opted_out_recipient_is_permanent(fake, codes):
    fake.block(TO)
    with pytest.raises(PermanentSendError) as caught:
        send()
    assert (caught.value.code, caught.value.reason) == (codes.opted_out, Reason.OPTED_OUT)
    assert not caught.value.sender_level


@pytest.mark.parametrize("bad_number", ["+1555", "5555550123", "not-a-number"])
def test_invalid_number_is_permanent(fake, codes, bad_number):
    with pytest.raises(PermanentSendError) as caught:
        send(to=bad_number)
    assert (caught.value.code, caught.value.reason) == (codes.invalid_to, Reason.INVALID_NUMBER)


def test_per_recipient_injected_failure(fake, codes):
    fake.fail_number(TO, codes.invalid_to, stage="send")
    with pytest.raises(PermanentSendError) as caught:
        send()
    assert caught.value.code == codes.invalid_to
    assert send(to="+15555550124").provider_message_id  # other recipients are unaffected


def test_empty_message_is_permanent(fake, codes):
    with pytest.raises(PermanentSendError) as caught:
        send(body="")
    assert (caught.value.code, caught.value.reason) == (codes.no_content, Reason.NO_CONTENT)


def test_over_the_size_cap_is_permanent(fake, codes):
    with pytest.raises(PermanentSendError, match="shorten"):
        send(body=codes.too_long_body)


def test_bad_credentials_stop_the_whole_broadcast(fake, codes, settings):
    settings.TELNYX_API_KEY = settings.TWILIO_AUTH_TOKEN = "wrong"
    with pytest.raises(PermanentSendError) as caught:
        send()
    assert caught.value.code == codes.auth
    assert caught.value.sender_level
    assert "credentials" in caught.value.reason


def test_missing_configuration_fails_without_a_request(fake, settings):
    settings.TELNYX_API_KEY = settings.TWILIO_ACCOUNT_SID = ""
    with pytest.raises(PermanentSendError) as caught:
        send()
    assert (caught.value.code, caught.value.sender_level) == ("not_configured", True)
    assert fake.requests == []


def test_unknown_client_error_is_permanent_with_the_provider_message(fake):
    fake.fail_next(1, 400, code="49999")
    with pytest.raises(PermanentSendError) as caught:
        send()
    assert caught.value.code == "49999"
    assert "Injected failure." in caught.value.reason


def test_unknown_code_on_a_server_error_is_transient(fake):
    fake.fail_next(1, 503, code="49998")
    with pytest.raises(TransientSendError):
        send()


def test_telnyx_branches_on_the_code_not_the_http_status(telnyx):
    telnyx.fail_next(1, 400, code="40318")  # queue full: retry later, whatever status carries it
    with pytest.raises(TransientSendError, match="queue"):
        send()
    telnyx.fail_next(1, 500, code="40300")
    with pytest.raises(PermanentSendError, match="opted out"):
        send()


def test_twilio_landline_is_permanent(twilio):
    twilio.fail_number(TO, "21614", stage="send")
    with pytest.raises(PermanentSendError) as caught:
        send()
    assert caught.value.reason == Reason.NOT_SMS_CAPABLE


def test_unreadable_success_is_permanent_so_it_is_not_resent(settings):
    with RecordingReceiver() as not_telnyx:  # answers 200 with an empty body
        settings.TELNYX_API_BASE = not_telnyx.base_url
        settings.TELNYX_API_KEY = "key"
        with pytest.raises(PermanentSendError) as caught:
            get_provider("telnyx").send(from_number=FROM, to_number=TO, body="Hi")
    assert caught.value.code == "unreadable_response"


def test_retry_after_accepts_seconds_and_http_dates():
    assert retry_after_seconds({"Retry-After": "7"}) == 7.0
    assert retry_after_seconds({"x-ratelimit-reset": "3"}) == 3.0
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None
