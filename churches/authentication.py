"""``Authorization: Bearer <api key>``: DRF authentication by API key. Here, beside the ApiKey model it
reads, rather than in ``koinonia.api`` (the foundation imports no app); settings name it in
``REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]``. The key's church and role become the request's
(``koinonia.api.base.ChurchContextMixin``)."""

import hmac
from datetime import timedelta

from django.core.cache import cache
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from churches.models import ApiKey
from koinonia.api import scopes
from koinonia.api.authentication import ApiKeyUser, hash_api_key, split_api_key

# Writing last_used_at on every call would turn each read into a write; a minute's resolution is enough.
# The row's own value skips most writes; a cache marker (cache.add is atomic) makes concurrent calls of
# one key write once per minute between them, not once each.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def record_last_use(api_key: ApiKey) -> None:
    now = timezone.now()
    if api_key.last_used_at is not None and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    if not cache.add(f"api-key-used:{api_key.pk}", 1, int(LAST_USED_RESOLUTION.total_seconds())):
        return
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw_key = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        raw_key = raw_key.strip()
        parts = split_api_key(raw_key)
        if parts is None:
            raise exceptions.AuthenticationFailed("Malformed API key.")
        api_key = ApiKey.objects.select_related("church").filter(prefix=parts[0]).first()
        if api_key is None or not hmac.compare_digest(api_key.key_hash, hash_api_key(raw_key)):
            raise exceptions.AuthenticationFailed("Invalid API key.")
        if api_key.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        if api_key.is_expired:
            raise exceptions.AuthenticationFailed("This API key has expired.")
        record_last_use(api_key)
        return ApiKeyUser(api_key), api_key

    def authenticate_header(self, request):
        return self.keyword


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """The OpenAPI security scheme, with the scope catalogue (``x-scopes``) and, per operation, the scopes
    it needs as the requirement's list (``security: [{"ApiKey": ["members:read"]}]``)."""

    target_class = "churches.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_requirement(self, auto_schema):
        needed = scopes.required_scopes(auto_schema.view, auto_schema.method)
        return {self.name: list(needed or ())}

    def get_security_definition(self, auto_schema):
        table = "\n".join(f"- `{name}`: {scope.description}" for name, scope in scopes.SCOPES.items())
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from Settings → API keys: `Authorization: Bearer kn_…`. A key has a role "
            "and, optionally, scopes; a key created without scopes has them all. Each operation lists the "
            "scopes it needs in its security requirement; a key lacking one gets 403 `insufficient_scope`.\n\n" + table,
            "x-scopes": {name: scope.description for name, scope in scopes.SCOPES.items()},
        }
