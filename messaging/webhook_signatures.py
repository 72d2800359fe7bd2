"""Verification of provider webhook signatures (reference/providers.md §1.7 and §2.5).

Every provider callback is verified before anything else touches it; a failure raises
:class:`SignatureError` and the view answers 4xx without processing. Verification needs the exact
bytes/params the provider signed: Django's ``request.body`` for Telnyx, ``request.POST`` plus the
public URL (rebuilt behind the proxy) for Twilio, never re-serialised data.
"""

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

TELNYX_SIGNATURE_HEADER = "telnyx-signature-ed25519"
TELNYX_TIMESTAMP_HEADER = "telnyx-timestamp"
TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"

_DEFAULT_PORTS = {"https": 443, "http": 80}


class SignatureError(Exception):
    """The webhook is not provably from the provider; the message is a short reason for logs."""


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
    signature_b64 = lowered.get(TELNYX_SIGNATURE_HEADER)
    timestamp = lowered.get(TELNYX_TIMESTAMP_HEADER)
    if not signature_b64 or not timestamp:
        raise SignatureError("missing signature or timestamp header")
    try:
        signed_at = int(timestamp)
    except ValueError:
        raise SignatureError("timestamp is not a number") from None
    current = time.time() if now is None else now
    if abs(current - signed_at) > tolerance:
        raise SignatureError("timestamp outside the allowed window")

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


def twilio_signature(url: str, params: Mapping[str, Any], *, auth_token: str) -> str:
    """Twilio's signature: base64(HMAC-SHA1(auth_token, url + each name+value, names sorted)).

    ``params`` may map a name to one string or to several (a Django ``QueryDict`` works too); repeated
    values are de-duplicated and sorted, as Twilio does.
    """
    message = url + "".join(f"{name}{value}" for name, values in sorted(_param_lists(params)) for value in values)
    digest = hmac.new(auth_token.encode(), message.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify_twilio(url: str, params: Mapping[str, Any], signature: str | None, *, auth_token: str) -> None:
    """Check ``X-Twilio-Signature`` for a form POST to ``url``.

    Twilio may have signed the URL with or without the scheme's default port, whichever way the webhook
    was configured, so both spellings are accepted. An empty ``auth_token`` verifies nothing: anyone can
    compute an HMAC under the empty key, so accepting it would accept forgeries.
    """
    if not auth_token:
        raise SignatureError("no Twilio auth token is configured")
    if not signature:
        raise SignatureError("missing X-Twilio-Signature header")
    for candidate in _url_port_variants(url):
        if hmac.compare_digest(twilio_signature(candidate, params, auth_token=auth_token), signature):
            return
    raise SignatureError("signature does not match")


def _b64decode(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{what} is not valid base64") from None


def _param_lists(params: Mapping[str, Any]) -> Iterable[tuple[str, list[str]]]:
    items = params.lists() if hasattr(params, "lists") else params.items()
    for name, value in items:
        values = [value] if isinstance(value, str) else list(value)
        yield name, sorted(set(values))


def _url_port_variants(url: str) -> list[str]:
    """``url`` as given, plus the same URL with the default port added (if absent) or removed (if present)."""
    parts = urlsplit(url)
    default_port = _DEFAULT_PORTS.get(parts.scheme)
    if default_port is None or parts.hostname is None:
        return [url]
    userinfo = parts.netloc.rpartition("@")[0]
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    bare_netloc = f"{userinfo}@{host}" if userinfo else host
    other_netloc = bare_netloc if parts.port is not None else f"{bare_netloc}:{default_port}"
    return [url, urlunsplit(parts._replace(netloc=other_netloc))]
