"""Telnyx webhook signatures (docs/providers.md §1.7): Ed25519 over ``f"{timestamp}|{raw_body}"``.

Verified before anything else touches the callback, on Django's ``request.body`` (the exact bytes Telnyx
signed, never re-serialised data).
"""

import base64
import binascii
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings

from koinonia.signing import check_signed_at
from messaging.providers.events import SignatureError

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"


def configured() -> bool:
    """Telnyx callbacks can be verified only with Telnyx's public key; without it there is no Telnyx hook."""
    return bool(settings.TELNYX_PUBLIC_KEY)


def verify_request(raw_body: bytes, headers: Mapping[str, str]) -> None:
    """:func:`verify_telnyx` with our configured key and tolerance."""
    verify_telnyx(
        raw_body,
        headers,
        public_key_b64=settings.TELNYX_PUBLIC_KEY,
        tolerance=settings.WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS,
    )


def verify_telnyx(
    raw_body: bytes,
    headers: Mapping[str, str],
    *,
    public_key_b64: str,
    now: float | None = None,
    tolerance: int = 300,
) -> None:
    """Check Telnyx's Ed25519 signature over ``f"{timestamp}|{raw_body}"``.

    Timestamps more than ``tolerance`` seconds away from ``now`` on either side are refused: an old one
    may be a replay, and a future one would stay replayable for longer than the window.
    """
    if not public_key_b64:  # an unconfigured key must never make a forgery "verify"
        raise SignatureError("no Telnyx public key is configured")
    lowered = {name.lower(): value for name, value in headers.items()}
    signature_b64 = lowered.get(SIGNATURE_HEADER)
    timestamp = lowered.get(TIMESTAMP_HEADER)
    if not signature_b64 or not timestamp:
        raise SignatureError("missing signature or timestamp header")
    check_signed_at(timestamp, now=now, tolerance=tolerance, error=SignatureError)

    public_key = _b64decode(public_key_b64, "public key")
    signature = _b64decode(signature_b64, "signature")
    if len(public_key) != 32:
        raise SignatureError("public key is not 32 bytes")
    if len(signature) != 64:
        raise SignatureError("signature is not 64 bytes")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, timestamp.encode() + b"|" + raw_body)
    except InvalidSignature:
        raise SignatureError("signature does not match") from None


def _b64decode(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{what} is not valid base64") from None
