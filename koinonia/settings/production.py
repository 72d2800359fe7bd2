"""Production settings: secrets have no defaults, so a missing one stops the process at start-up."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import env
from .validation import (
    FIELD_ENCRYPTION_KEYS_FORMAT,
    PHONE_HASH_KEY_FORMAT,
    field_encryption_key_problems,
    phone_hash_key_problems,
)

DEBUG = False
SECRET_KEY = env.str("SECRET_KEY")
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS")
PHONE_HASH_KEY = env.str("PHONE_HASH_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
if len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("Production needs SECRET_KEY of 50+ random characters.")
# A malformed key would otherwise pass `check --deploy` and fail on the first phone written.
if problems := field_encryption_key_problems(FIELD_ENCRYPTION_KEYS, production=True):
    raise ImproperlyConfigured(" ".join([*problems, FIELD_ENCRYPTION_KEYS_FORMAT + "."]))
if problems := phone_hash_key_problems(PHONE_HASH_KEY, production=True):
    raise ImproperlyConfigured(" ".join([*problems, PHONE_HASH_KEY_FORMAT + "."]))
if env.str("SMS_PROVIDER", default="console") == "console":
    raise ImproperlyConfigured("Production needs a real SMS_PROVIDER (telnyx or twilio).")

# Webhook endpoints must be public https URLs in production unless an operator says otherwise (SSRF).
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", default=False)

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Behind one load balancer by default: per-address limits use the address it saw, not its own.
REST_FRAMEWORK["NUM_PROXIES"] = env.int("TRUSTED_PROXY_COUNT", default=1)  # noqa: F405
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^health"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[PUBLIC_BASE_URL])  # noqa: F405
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
}
