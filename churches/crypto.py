"""Personal data at rest: AES-256-GCM with a key list (first encrypts, all decrypt) and HMAC blind indexes.

What is encrypted with these keys (docs/security.md has the full list): members' phones and emails,
recipients' phones, visitors' phones, provider callback payloads, and uploaded import files with their
rejected-rows reports.

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


def email_local_hash(email: str) -> str:
    """Keyed blind index of the part of an email address before the "@" (lower-cased); "" for no email.

    Why only the local part: the directory's search finds members by the start of an address
    ("ruth@exam"). A hash of the whole address would need the address typed in full; the local part
    narrows the search to a handful of members, whose decrypted addresses are then compared in Python.
    The "email:" prefix keeps these digests apart from phone hashes made with the same key."""
    local = email.strip().lower().partition("@")[0]
    if not local:
        return ""
    digest = hmac.new(settings.PHONE_HASH_KEY.encode(), f"email:{local}".encode(), hashlib.sha256).hexdigest()
    return digest[:32]


class EncryptedTextField(models.TextField):
    """Stores ``encrypt(value)``; Python code only ever sees plaintext. Not searchable: pair it with a
    blind index column for lookups."""

    description = "Text encrypted at rest (AES-GCM, rotating keys)"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return None if value in (None, "") else encrypt(value)


class EncryptedEmailField(EncryptedTextField):
    """An optional email address encrypted at rest. No address is stored as "" (not NULL), so code
    and the API keep seeing "" for "no email"; pair it with ``email_local_hash`` for lookups."""

    description = "Email address encrypted at rest"

    def get_prep_value(self, value):
        if value is None or value == "":
            return "" if value == "" else None
        return encrypt(str(value))

    def formfield(self, **kwargs):
        from django import forms

        # An address, not a paragraph: forms (the admin's too, which asks text fields for a textarea)
        # get an email input.
        widget = kwargs.get("widget")
        if (
            widget is None
            or (isinstance(widget, type) and issubclass(widget, forms.Textarea))
            or (isinstance(widget, forms.Textarea))
        ):
            kwargs["widget"] = forms.EmailInput(attrs={"class": "vTextField"})
        return super().formfield(**{"form_class": forms.EmailField, "max_length": 254, **kwargs})


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


class EmailIndexField(models.CharField):
    """The ``email_local_hash`` of another field of the same row, kept in step on every save and
    bulk_create (``pre_save`` runs for both). ``bulk_update`` and ``QuerySet.update`` skip
    ``pre_save``: callers that change the address that way set or list this field themselves."""

    def __init__(self, *args, source: str = "email", **kwargs):
        self.source = source
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.source != "email":
            kwargs["source"] = self.source
        return name, path, args, kwargs

    def pre_save(self, model_instance, add):
        value = email_local_hash(getattr(model_instance, self.source) or "")
        setattr(model_instance, self.attname, value)
        return value
