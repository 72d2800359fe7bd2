"""Format rules for the secrets the settings read, checked where the process starts.

Pure functions over strings (no Django imports), so ``production.py`` can refuse a malformed secret while
the settings load (ImproperlyConfigured) and ``koinonia/checks.py`` can report the same problems as system
check errors under every settings module (``manage.py check``, ``migrate``, ``runserver``). Without
this a malformed key passed ``check --deploy`` and failed on the first phone written."""

import base64
import binascii
import re

# The public development values in settings/base.py: fine on a laptop, refused in production.
DEVELOPMENT_FIELD_ENCRYPTION_KEY = "aW5zZWN1cmUtZGV2LWtleS0wMDAwMDAwMDAwMDAwMDA="
DEVELOPMENT_PHONE_HASH_KEY = "insecure-development-phone-hash-key"

GENERATE = "python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'"
FIELD_ENCRYPTION_KEYS_FORMAT = (
    "FIELD_ENCRYPTION_KEYS is a comma-separated list (newest first) of keys, each the base64 "
    f"(URL-safe or standard alphabet) of exactly 32 random bytes; make one with: {GENERATE}"
)
PHONE_HASH_KEY_FORMAT = (
    "PHONE_HASH_KEY is a secret random string of at least 16 characters (32+ advised; the same command makes one); "
    "never change it once members exist: it indexes every stored phone number"
)
PHONE_HASH_KEY_MIN_LENGTH = 16
_BASE64 = re.compile(r"^[A-Za-z0-9+/_-]+={0,2}$")


def field_encryption_key_problems(keys: list[str], *, production: bool = False) -> list[str]:
    """What is wrong with FIELD_ENCRYPTION_KEYS (empty when nothing is). Stricter than the decoder in
    ``churches/crypto.py``, which would silently skip characters outside the base64 alphabet."""
    entries = [key.strip() for key in keys]
    if not entries or not all(entries):
        return ["FIELD_ENCRYPTION_KEYS is empty or has an empty entry."]
    problems = []
    for position, entry in enumerate(entries, start=1):
        if not _BASE64.match(entry):
            problems.append(f"FIELD_ENCRYPTION_KEYS entry {position} is not base64.")
            continue
        try:
            raw = base64.urlsafe_b64decode(entry.replace("+", "-").replace("/", "_") + "=" * (-len(entry) % 4))
        except (binascii.Error, ValueError):
            problems.append(f"FIELD_ENCRYPTION_KEYS entry {position} is not base64.")
            continue
        if len(raw) != 32:
            problems.append(f"FIELD_ENCRYPTION_KEYS entry {position} decodes to {len(raw)} bytes, not 32.")
    if production and DEVELOPMENT_FIELD_ENCRYPTION_KEY in entries:
        problems.append("FIELD_ENCRYPTION_KEYS holds the public development key.")
    return problems


def phone_hash_key_problems(key: str, *, production: bool = False) -> list[str]:
    """What is wrong with PHONE_HASH_KEY (empty when nothing is)."""
    if not key.strip():
        return ["PHONE_HASH_KEY is empty."]
    if production and key == DEVELOPMENT_PHONE_HASH_KEY:
        return ["PHONE_HASH_KEY is the public development key."]
    if production and len(key) < PHONE_HASH_KEY_MIN_LENGTH:
        return [f"PHONE_HASH_KEY has {len(key)} characters; production needs at least {PHONE_HASH_KEY_MIN_LENGTH}."]
    return []
