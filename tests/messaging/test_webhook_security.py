"""Provider webhooks refuse anything not provably from a configured provider, answer 400 (never 500)
to signed bodies of the wrong shape, and automatic replies only go where the church already talks.

The deployment under test is a Telnyx one (the fake Telnyx is the sending provider): Twilio is not
configured, which is exactly when an empty auth token used to let anyone "sign" a Twilio webhook.
"""

import base64
import json
import time
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.test import Client

from churches.models import Member, SmsStatus
from conversations.models import Conversation, ConversationMessage
from messaging.models import ProviderEvent, SenderNumber
from messaging.providers.events import SignatureError
from messaging.providers.telnyx.signatures import verify_telnyx
from messaging.providers.twilio.signatures import twilio_signature, verify_twilio
from tests.conftest import assert_error_shape
from tests.conversations.conftest import CHURCH_NUMBER, PUBLIC_BASE, TELNYX_HOOK, TWILIO_HOOK, run_on_commit
from tests.factories import MemberFactory
from tests.fakes.telnyx import TEST_SIGNING_SEED
from tests.fakes.twilio import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN

pytestmark = pytest.mark.django_db
TWILIO_STATUS_HOOK = "/hooks/twilio/status/"
UK_MOBILE = "+447700900123"
US_STRANGER = "+13125550123"


@pytest.fixture
def deployment(settings, telnyx, world):
    """A Telnyx deployment: the church's number is on Telnyx; Twilio has no credentials."""
    settings.PUBLIC_BASE_URL = PUBLIC_BASE
    settings.TWILIO_ACCOUNT_SID = ""
    settings.TWILIO_AUTH_TOKEN = ""
    SenderNumber.objects.create(church=world.church, phone_number=CHURCH_NUMBER, provider="telnyx")
    return telnyx


@pytest.fixture
def member(world):
    return MemberFactory(church=world.church, sms_status=SmsStatus.SUBSCRIBED)


def _nothing_happened(telnyx, member=None) -> None:
    assert not ProviderEvent.objects.exists()
    assert not ConversationMessage.objects.exists()
    assert telnyx.sent_messages == []
    if member is not None:
        member.refresh_from_db()
        assert member.sms_status == SmsStatus.SUBSCRIBED


def _twilio_form(params: dict, *, path: str, token: str | None, client: Client | None = None):
    headers = {}
    if token is not None:
        headers["X-Twilio-Signature"] = twilio_signature(PUBLIC_BASE + path, params, auth_token=token)
    with run_on_commit():
        return (client or Client()).post(
            path, data=urlencode(params), content_type="application/x-www-form-urlencoded", headers=headers
        )


def _inbound(from_number: str, body: str, sid: str = "SM" + "1" * 32) -> dict:
    return {"MessageSid": sid, "AccountSid": TEST_ACCOUNT_SID, "From": from_number, "To": CHURCH_NUMBER, "Body": body}


def _telnyx_signed(body: bytes) -> dict:
    timestamp = str(int(time.time()))
    key = Ed25519PrivateKey.from_private_bytes(TEST_SIGNING_SEED)
    signature = base64.b64encode(key.sign(timestamp.encode() + b"|" + body)).decode()
    return {"telnyx-signature-ed25519": signature, "telnyx-timestamp": timestamp}


def _post_telnyx(body: bytes):
    with run_on_commit():
        return Client().post(TELNYX_HOOK, data=body, content_type="application/json", headers=_telnyx_signed(body))


def _received(from_number: str, text: str, n: int = 1, **payload) -> bytes:
    message = {
        "id": f"msg-{n}",
        "direction": "inbound",
        "from": {"phone_number": from_number},
        "to": [{"phone_number": CHURCH_NUMBER}],
        "text": text,
        "media": [],
        **payload,
    }
    return json.dumps({"data": {"event_type": "message.received", "id": f"evt-{n}", "payload": message}}).encode()


# --- Forged Twilio webhooks on a deployment without Twilio ------------------------------------------


@pytest.mark.parametrize("account_sid", ["", TEST_ACCOUNT_SID])
def test_a_forged_twilio_stop_signed_with_the_empty_token_changes_nothing(deployment, member, settings, account_sid):
    settings.TWILIO_ACCOUNT_SID = account_sid  # a SID alone is not a configured Twilio
    response = _twilio_form(_inbound(member.phone, "STOP"), path=TWILIO_HOOK, token="")
    assert_error_shape(response, 404, "not_found")
    _nothing_happened(deployment, member)


def test_forged_twilio_help_from_abroad_sends_nothing(deployment, member):
    response = _twilio_form(_inbound(UK_MOBILE, "HELP"), path=TWILIO_HOOK, token="")
    assert_error_shape(response, 404, "not_found")
    _nothing_happened(deployment)


def test_a_forged_twilio_mms_is_not_fetched(deployment, member):
    from tests.fakes.media import FakeMediaHost

    with FakeMediaHost() as host:
        url = host.add("/internal", b"<script>alert(1)</script>", "text/html")
        params = {**_inbound(member.phone, ""), "NumMedia": "1", "MediaUrl0": url, "MediaContentType0": "text/html"}
        assert_error_shape(_twilio_form(params, path=TWILIO_HOOK, token=""), 404, "not_found")
        assert host.requests == []
    _nothing_happened(deployment, member)


def test_a_forged_twilio_status_is_refused(deployment):
    params = {"MessageSid": "SM" + "2" * 32, "MessageStatus": "delivered", "AccountSid": TEST_ACCOUNT_SID}
    assert_error_shape(_twilio_form(params, path=TWILIO_STATUS_HOOK, token=""), 404, "not_found")
    assert not ProviderEvent.objects.exists()


@pytest.mark.parametrize("token", ["", "someone-elses-token", None], ids=["empty", "wrong", "missing"])
def test_a_configured_twilio_refuses_wrong_empty_and_missing_signatures(deployment, member, settings, token):
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = TEST_ACCOUNT_SID, TEST_AUTH_TOKEN
    assert_error_shape(_twilio_form(_inbound(member.phone, "STOP"), path=TWILIO_HOOK, token=token), 403)
    status = {"MessageSid": "SM" + "2" * 32, "MessageStatus": "delivered"}
    assert_error_shape(_twilio_form(status, path=TWILIO_STATUS_HOOK, token=token), 403)
    _nothing_happened(deployment, member)


def test_telnyx_without_a_public_key_refuses_even_a_validly_signed_event(deployment, member, settings):
    settings.TELNYX_PUBLIC_KEY = ""
    response = _post_telnyx(_received(member.phone, "STOP"))
    assert_error_shape(response, 404, "not_found")
    _nothing_happened(deployment, member)


def test_the_verifiers_themselves_refuse_an_empty_secret():
    url, params = "https://app.example.test/hooks/twilio/inbound/", {"Body": "STOP"}
    with pytest.raises(SignatureError):
        verify_twilio(url, params, twilio_signature(url, params, auth_token=""), auth_token="")
    body = b'{"data": {}}'
    with pytest.raises(SignatureError):
        verify_telnyx(body, _telnyx_signed(body), public_key_b64="")


# --- Malformed but signed ---------------------------------------------------------------------------

MALFORMED_TELNYX = {
    "a list": b"[1, 2]",
    "a string": b'"message.received"',
    "no data": b'{"meta": {"attempt": 1}}',
    "data is a list": b'{"data": [{"event_type": "message.received"}]}',
    "no event type": b'{"data": {"id": "evt-1", "payload": {}}}',
    "status payload not an object": json.dumps(
        {"data": {"event_type": "message.finalized", "id": "evt-2", "payload": "delivered"}}
    ).encode(),
    "inbound payload a list": json.dumps(
        {"data": {"event_type": "message.received", "id": "evt-3", "payload": [{"from": "+1"}]}}
    ).encode(),
    "status with an impossible date": json.dumps(
        {
            "data": {
                "event_type": "message.finalized",
                "id": "evt-4",
                "occurred_at": "2026-13-45T10:00:00Z",
                "payload": {"id": "m-4", "to": [{"phone_number": "+13125550111", "status": "delivered"}]},
            }
        }
    ).encode(),
    "inbound with an impossible date": json.dumps(
        {
            "data": {
                "event_type": "message.received",
                "id": "evt-5",
                "occurred_at": "2026-02-30T10:00:00Z",
                "payload": {"id": "m-5", "from": {"phone_number": "+13125550111"}, "to": CHURCH_NUMBER, "text": "hi"},
            }
        }
    ).encode(),
    "10DLC with an impossible date": json.dumps(
        {"data": {"event_type": "10dlc.brand.update", "id": "evt-6", "occurred_at": "2026-00-01T00:00:00Z"}}
    ).encode(),
    "NUL in the text": _received("+13125550111", "hi\u0000there", n=7),
    "nested 900 deep (parses, but no event is)": b'{"data": {"event_type": "message.received", "id": "evt-9", '
    + b'"payload": {"x": '
    + b"[" * 900
    + b"]" * 900
    + b"}}}",
    "nested too deeply": b'{"data": {"event_type": "message.received", "id": "evt-8", "payload": {"x": '
    + b"[" * 50_000
    + b"]" * 50_000
    + b"}}}",
}


@pytest.mark.parametrize("body", MALFORMED_TELNYX.values(), ids=MALFORMED_TELNYX.keys())
def test_signed_but_malformed_telnyx_bodies_are_a_400_json_error(deployment, member, body):
    assert_error_shape(_post_telnyx(body), 400)
    _nothing_happened(deployment, member)
    assert not Member.objects.exclude(pk=member.pk).exists()


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (TWILIO_STATUS_HOOK, {"MessageSid": "SM" + "3" * 32}),
        (TWILIO_STATUS_HOOK, {"MessageStatus": "delivered"}),
        (TWILIO_STATUS_HOOK, {"MessageSid": "SM\x00", "MessageStatus": "delivered"}),
        (TWILIO_HOOK, {"Body": "hi", "NumMedia": "0"}),
        (TWILIO_HOOK, {"MessageSid": "SM" + "4" * 32, "From": "+13125550111", "To": CHURCH_NUMBER, "NumMedia": "x"}),
        (TWILIO_HOOK, {"MessageSid": "SM" + "5" * 32, "From": "+13125550111", "To": CHURCH_NUMBER, "Body": "a\x00b"}),
    ],
    ids=["status-no-status", "status-no-sid", "status-nul", "inbound-no-sid", "inbound-bad-nummedia", "inbound-nul"],
)
def test_signed_but_malformed_twilio_forms_are_a_400_json_error(deployment, member, settings, path, params):
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = TEST_ACCOUNT_SID, TEST_AUTH_TOKEN
    error = assert_error_shape(_twilio_form(params, path=path, token=TEST_AUTH_TOKEN), 400)
    # A NUL in any form field is refused by ApiGuardMiddleware before the hook runs; the rest by the hook.
    assert error["code"] in {"malformed_payload", "malformed_request"}, error
    _nothing_happened(deployment, member)


# --- Automatic replies go only where the church already talks ---------------------------------------


def test_help_from_a_number_abroad_is_recorded_but_not_answered(deployment, world):
    response = _post_telnyx(_received(UK_MOBILE, "HELP"))
    assert response.status_code == 200
    inbound = ConversationMessage.objects.get()
    assert inbound.direction == "inbound" and inbound.body == "HELP"
    assert "no reply" in ProviderEvent.objects.get().detail
    assert deployment.sent_messages == []
    assert not ConversationMessage.objects.filter(direction="outbound").exists()


def test_stop_from_a_number_abroad_is_honoured_without_a_confirmation_text(deployment, world):
    assert _post_telnyx(_received(UK_MOBILE, "STOP")).status_code == 200
    assert deployment.sent_messages == []
    assert not ConversationMessage.objects.filter(direction="outbound").exists()
    opted_out = Member.objects.filter(church=world.church, sms_status=SmsStatus.UNSUBSCRIBED).count()
    visitor_opted_out = Conversation.objects.filter(church=world.church, visitor_opted_out=True).count()
    assert opted_out + visitor_opted_out == 1  # the opt-out itself still stands


def test_help_from_a_number_in_the_churchs_country_is_answered(deployment, world):
    assert _post_telnyx(_received(US_STRANGER, "HELP")).status_code == 200
    assert [m.to_number for m in deployment.sent_messages] == [US_STRANGER]


def test_a_member_abroad_already_in_the_directory_is_answered(deployment, world):
    MemberFactory(church=world.church, phone=UK_MOBILE, sms_status=SmsStatus.SUBSCRIBED)
    assert _post_telnyx(_received(UK_MOBILE, "HELP")).status_code == 200
    assert [m.to_number for m in deployment.sent_messages] == [UK_MOBILE]


# --- The console provider needs no webhook ------------------------------------------------------------


def test_console_deliveries_still_arrive_with_no_provider_configured(
    world, settings, django_capture_on_commit_callbacks
):
    """``make run``: the console provider simulates delivery in-process, so refusing every provider
    webhook (none is configured) must not stop broadcasts from being delivered."""
    from datetime import time as clock

    from messaging.broadcasts import services
    from messaging.models import Message

    settings.SMS_PROVIDER = "console"
    settings.TELNYX_PUBLIC_KEY = settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = ""
    settings.STRIPE_WEBHOOK_SECRET = ""
    world.church.quiet_hours_start = world.church.quiet_hours_end = clock(0, 0)
    world.church.save()
    SenderNumber.objects.create(church=world.church, phone_number=CHURCH_NUMBER, provider="console")
    MemberFactory.create_batch(3, church=world.church, sms_status=SmsStatus.SUBSCRIBED)
    with django_capture_on_commit_callbacks(execute=True):
        message = services.message_send(church=world.church, author=world.staff, body="Hi", audience={"all": True})
    message = Message.objects.get(pk=message.pk)
    assert message.counts["delivered"] == 3
    assert ProviderEvent.objects.filter(provider="console").count() == 3
