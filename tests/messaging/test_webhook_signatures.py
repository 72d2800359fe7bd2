"""Webhook signature checks against the vectors in docs/providers.md §1.7 and §2.5."""

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.http import QueryDict

from messaging.providers.events import SignatureError
from messaging.providers.telnyx.signatures import verify_telnyx
from messaging.providers.twilio.signatures import twilio_signature, verify_twilio

TELNYX_PUBLIC_KEY = "IVL40Zt5HSRFMkLhXy6rbLfP+ntqXtMAl5YOBpiB2xI="
TELNYX_BODY = b'{"data":{"event_type":"message.finalized","id":"evt_test_1"}}'
TELNYX_SIGNATURE = "mWEO3kESsbeNm/rRG8dwxyovwbmhkLFAJSa66JDiQcF1/+QSGiOq3tEuIkX6UXPJLjnjSL95ZETGO6tGn2bCBg=="
TELNYX_TIMESTAMP = 1750000000
TELNYX_HEADERS = {"telnyx-signature-ed25519": TELNYX_SIGNATURE, "telnyx-timestamp": str(TELNYX_TIMESTAMP)}

TWILIO_TOKEN = "test_auth_token_0001"
TWILIO_STATUS_URL = "https://app.example.test/hooks/twilio/status?church=7"
TWILIO_STATUS_PARAMS = {
    "AccountSid": "ACtest0000000000000000000000000001",
    "From": "+15555550100",
    "MessageSid": "SMtest0000000000000000000000000001",
    "MessageStatus": "delivered",
    "To": "+15555550123",
}


def test_telnyx_vector_verifies():
    verify_telnyx(TELNYX_BODY, TELNYX_HEADERS, public_key_b64=TELNYX_PUBLIC_KEY, now=TELNYX_TIMESTAMP + 5)


def test_telnyx_vector_key_is_the_0x42_seed():
    seed_key = Ed25519PrivateKey.from_private_bytes(b"\x42" * 32)
    assert base64.b64encode(seed_key.public_key().public_bytes_raw()).decode() == TELNYX_PUBLIC_KEY
    signed = seed_key.sign(f"{TELNYX_TIMESTAMP}|".encode() + TELNYX_BODY)
    assert base64.b64encode(signed).decode() == TELNYX_SIGNATURE


def test_telnyx_headers_are_case_insensitive():
    headers = {"Telnyx-Signature-Ed25519": TELNYX_SIGNATURE, "Telnyx-Timestamp": str(TELNYX_TIMESTAMP)}
    verify_telnyx(TELNYX_BODY, headers, public_key_b64=TELNYX_PUBLIC_KEY, now=TELNYX_TIMESTAMP)


@pytest.mark.parametrize(
    ("body", "headers", "now", "reason"),
    [
        (TELNYX_BODY + b" ", TELNYX_HEADERS, TELNYX_TIMESTAMP, "does not match"),
        (TELNYX_BODY, {**TELNYX_HEADERS, "telnyx-timestamp": str(TELNYX_TIMESTAMP + 1)}, TELNYX_TIMESTAMP, "match"),
        (TELNYX_BODY, {"telnyx-timestamp": str(TELNYX_TIMESTAMP)}, TELNYX_TIMESTAMP, "missing"),
        (TELNYX_BODY, {"telnyx-signature-ed25519": TELNYX_SIGNATURE}, TELNYX_TIMESTAMP, "missing"),
        (TELNYX_BODY, TELNYX_HEADERS, TELNYX_TIMESTAMP + 301, "window"),  # stale
        (TELNYX_BODY, TELNYX_HEADERS, TELNYX_TIMESTAMP - 301, "window"),  # from the future
        (TELNYX_BODY, {**TELNYX_HEADERS, "telnyx-timestamp": "soon"}, TELNYX_TIMESTAMP, "not a number"),
        (TELNYX_BODY, {**TELNYX_HEADERS, "telnyx-signature-ed25519": "%%%"}, TELNYX_TIMESTAMP, "base64"),
        (TELNYX_BODY, {**TELNYX_HEADERS, "telnyx-signature-ed25519": "AAAA"}, TELNYX_TIMESTAMP, "64 bytes"),
    ],
)
def test_telnyx_rejections(body, headers, now, reason):
    with pytest.raises(SignatureError, match=reason):
        verify_telnyx(body, headers, public_key_b64=TELNYX_PUBLIC_KEY, now=now)


def test_telnyx_window_edges_and_custom_tolerance():
    verify_telnyx(TELNYX_BODY, TELNYX_HEADERS, public_key_b64=TELNYX_PUBLIC_KEY, now=TELNYX_TIMESTAMP + 300)
    verify_telnyx(TELNYX_BODY, TELNYX_HEADERS, public_key_b64=TELNYX_PUBLIC_KEY, now=TELNYX_TIMESTAMP - 300)
    with pytest.raises(SignatureError, match="window"):
        verify_telnyx(
            TELNYX_BODY, TELNYX_HEADERS, public_key_b64=TELNYX_PUBLIC_KEY, now=TELNYX_TIMESTAMP + 11, tolerance=10
        )


def test_telnyx_wrong_or_malformed_key():
    other_key = base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes_raw()).decode()
    with pytest.raises(SignatureError, match="does not match"):
        verify_telnyx(TELNYX_BODY, TELNYX_HEADERS, public_key_b64=other_key, now=TELNYX_TIMESTAMP)
    with pytest.raises(SignatureError, match="32 bytes"):
        verify_telnyx(TELNYX_BODY, TELNYX_HEADERS, public_key_b64="AAAA", now=TELNYX_TIMESTAMP)


def test_twilio_status_vectors_with_and_without_default_port():
    assert twilio_signature(TWILIO_STATUS_URL, TWILIO_STATUS_PARAMS, auth_token=TWILIO_TOKEN) == (
        "u9e/qyK29f84kKf3nErEPb46Q/Q="
    )
    port_url = "https://app.example.test:443/hooks/twilio/status?church=7"
    assert twilio_signature(port_url, TWILIO_STATUS_PARAMS, auth_token=TWILIO_TOKEN) == "G9lUVqLaZKuOxGlXablu9TPf7O4="
    # Either signature is accepted on either spelling of the URL.
    for url in (TWILIO_STATUS_URL, port_url):
        for signature in ("u9e/qyK29f84kKf3nErEPb46Q/Q=", "G9lUVqLaZKuOxGlXablu9TPf7O4="):
            verify_twilio(url, TWILIO_STATUS_PARAMS, signature, auth_token=TWILIO_TOKEN)


def test_twilio_inbound_vector_with_repeated_params():
    url = "https://app.example.test/hooks/twilio/inbound"
    params = {"Body": "hi", "MediaUrl0": "https://media.example.test/a.jpg", "Tag": ["b", "a", "b"]}
    verify_twilio(url, params, "f5X2/Fa7g1kNDfzwwXdKdx4r5IA=", auth_token=TWILIO_TOKEN)
    query_dict = QueryDict("Tag=b&MediaUrl0=https%3A%2F%2Fmedia.example.test%2Fa.jpg&Tag=a&Body=hi&Tag=b")
    verify_twilio(url, query_dict, "f5X2/Fa7g1kNDfzwwXdKdx4r5IA=", auth_token=TWILIO_TOKEN)


@pytest.mark.parametrize(
    ("url", "params", "signature", "token", "reason"),
    [
        (TWILIO_STATUS_URL, TWILIO_STATUS_PARAMS, None, TWILIO_TOKEN, "missing"),
        (TWILIO_STATUS_URL, TWILIO_STATUS_PARAMS, "", TWILIO_TOKEN, "missing"),
        (TWILIO_STATUS_URL, TWILIO_STATUS_PARAMS, "u9e/qyK29f84kKf3nErEPb46Q/Q=", "other_token", "match"),
        (
            TWILIO_STATUS_URL,
            {**TWILIO_STATUS_PARAMS, "MessageStatus": "failed"},
            "u9e/qyK29f84kKf3nErEPb46Q/Q=",
            TWILIO_TOKEN,
            "match",
        ),
        (
            "https://app.example.test/hooks/twilio/status?church=8",
            TWILIO_STATUS_PARAMS,
            "u9e/qyK29f84kKf3nErEPb46Q/Q=",
            TWILIO_TOKEN,
            "match",
        ),
        (
            "http://app.example.test/hooks/twilio/status?church=7",
            TWILIO_STATUS_PARAMS,
            "u9e/qyK29f84kKf3nErEPb46Q/Q=",
            TWILIO_TOKEN,
            "match",
        ),
    ],
)
def test_twilio_rejections(url, params, signature, token, reason):
    with pytest.raises(SignatureError, match=reason):
        verify_twilio(url, params, signature, auth_token=token)
