"""The API-key principal, shared by the API foundation. Keys look like ``kn_<prefix>_<secret>``; the row
is found by prefix and the SHA-256 hashes compared in constant time. Looking keys up needs the ApiKey
model, so the authentication class itself lives with it in ``churches.authentication`` (named in
``REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]``); this module imports no app."""

import hashlib

from django.contrib.auth.models import AnonymousUser

KEY_PREFIX = "kn_"


def hash_api_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def split_api_key(raw_key: str) -> tuple[str, str] | None:
    if not raw_key.startswith(KEY_PREFIX):
        return None
    prefix, _, secret = raw_key[len(KEY_PREFIX) :].partition("_")
    if not prefix or not secret:
        return None
    return prefix, secret


class ApiKeyUser(AnonymousUser):
    """Stands in for request.user on API-key requests: not a person, but authenticated. ``api_key`` is
    a ``churches.models.ApiKey`` (its ``church`` and ``role`` become the request's)."""

    def __init__(self, api_key):
        super().__init__()
        self.api_key = api_key

    @property
    def is_authenticated(self):
        return True

    def __str__(self) -> str:
        return f"API key {self.api_key.prefix}"
