"""Phones at rest: AES-256-GCM with a key list (first encrypts, all decrypt) and an HMAC blind index.

Ciphertext format (text column): ``<key id>$<base64url(nonce || ciphertext+tag)>`` where key id is the
first 8 hex chars of SHA-256(key). The key id tells which key decrypts, and lets ``rotate_phone_keys``
find rows still under an old key. The blind index ``phone_hash`` (HMAC-SHA256 with PHONE_HASH_KEY,
truncated to 128 bits) answers "is this number already a member?" without decrypting anything.
"""

import base64
import binascii
import hashlib
import hmac
import json
import os
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

NONCE_BYTES = 12


class DecryptionError(ValueError):
    pass


def _decode_key(encoded: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(encoded.strip() + "=" * (-len(encoded.strip()) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS entries must be base64 of 32 random bytes.") from exc
    if len(raw) != 32:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS entries must decode to exactly 32 bytes (AES-256).")
    return raw


def key_id(raw_key: bytes) -> str:
    return hashlib.sha256(raw_key).hexdigest()[:8]


@lru_cache(maxsize=8)
def _keyring(encoded_keys: tuple[str, ...]) -> tuple[str, dict[str, AESGCM]]:
    if not encoded_keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty.")
    ring: dict[str, AESGCM] = {}
    for encoded in encoded_keys:
        raw = _decode_key(encoded)
        ring.setdefault(key_id(raw), AESGCM(raw))
    return key_id(_decode_key(encoded_keys[0])), ring


def current_keyring() -> tuple[str, dict[str, AESGCM]]:
    return _keyring(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    primary_id, ring = current_keyring()
    nonce = os.urandom(NONCE_BYTES)
    sealed = ring[primary_id].encrypt(nonce, plaintext.encode(), primary_id.encode())
    return f"{primary_id}${base64.urlsafe_b64encode(nonce + sealed).decode().rstrip('=')}"


def decrypt(token: str) -> str:
    kid, sep, payload = token.partition("$")
    if not sep:
        raise DecryptionError("Not an encrypted value.")
    _, ring = current_keyring()
    cipher = ring.get(kid)
    if cipher is None:
        raise DecryptionError(f"No key with id {kid} in FIELD_ENCRYPTION_KEYS (was it removed too early?).")
    blob = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], kid.encode()).decode()


def needs_rotation(token: str) -> bool:
    return token.partition("$")[0] != current_keyring()[0]


def phone_hash(e164: str) -> str:
    """Keyed blind index of an E.164 number (never of unnormalized input)."""
    digest = hmac.new(settings.PHONE_HASH_KEY.encode(), e164.encode(), hashlib.sha256).hexdigest()
    return digest[:32]


class EncryptedTextField(models.TextField):
    """Stores ``encrypt(value)``; Python code only ever sees plaintext. Not searchable: pair it with a
    blind index column for lookups."""

    description = "Text encrypted at rest (AES-GCM, rotating keys)"

    def from_db_value(self, value, expression, connection):
        return None if value is None else decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return None if value in (None, "") else encrypt(value)


class EncryptedJSONField(EncryptedTextField):
    """A JSON document encrypted at rest: for payloads that carry phone numbers (provider callbacks)."""

    description = "JSON encrypted at rest"

    def from_db_value(self, value, expression, connection):
        return None if value is None else json.loads(decrypt(value))

    def get_prep_value(self, value):
        if value is None:
            return None
        return encrypt(json.dumps(value, separators=(",", ":"), sort_keys=True))

    def to_python(self, value):
        return value

    def value_to_string(self, obj):
        return json.dumps(self.value_from_object(obj))
