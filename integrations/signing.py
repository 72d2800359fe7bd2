"""Standard Webhooks signatures (https://www.standardwebhooks.com/, the scheme Svix uses).

Secrets look like ``whsec_<base64 of 32 random bytes>``; the key is the decoded bytes. Each request
carries ``webhook-id`` (the event id, the same on every retry), ``webhook-timestamp`` (Unix seconds of
this attempt) and ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, one per
secret in use, separated by spaces (two during a rotation's overlap). Receivers verify with any
Standard Webhooks library and reject timestamps more than a few minutes old."""

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4))


def signature(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(*, msg_id: str, timestamp: int, body: bytes, secrets: list[str]) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt, signed with every secret in ``secrets``."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, msg_id=msg_id, timestamp=timestamp, body=body) for s in secrets),
    }
