"""How a member's details are read and normalised, the same for every path that writes them: the
member pages and API (``member_create`` / ``member_update``), the API's bulk upsert and the CSV import."""

from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from churches.crypto import phone_hash
from churches.models import Church
from churches.phones import InvalidPhone, parse_phone
from koinonia.exceptions import BusinessRuleError

__all__ = ["MEMBER_DETAIL_FIELDS", "clean_language", "clean_member_fields", "normalize_phone"]

# The details an upsert (import or API bulk) may change on an existing member. Not the phone (it is
# the match key) and never sms_status (consent moves only through services/consent.py).
MEMBER_DETAIL_FIELDS = ("first_name", "last_name", "email", "branch_id", "timezone", "language")

# How a language may be written (the page, the API, a CSV "Language"/"Idioma" column) → its code.
LANGUAGE_SPELLINGS = {
    "": "",
    "en": "en",
    "eng": "en",
    "english": "en",
    "ingles": "en",
    "inglés": "en",
    "es": "es",
    "esp": "es",
    "spa": "es",
    "spanish": "es",
    "espanol": "es",
    "español": "es",
}


def clean_language(raw) -> str:
    """A member's language code ("en", "es" or "" for not known yet), or BusinessRuleError."""
    value = (raw or "").strip().lower()
    code = LANGUAGE_SPELLINGS.get(value) or LANGUAGE_SPELLINGS.get(value.split("-")[0])
    if code is None or (value and not code):
        raise BusinessRuleError(f"“{value[:40]}” isn't a language we text in (English or Spanish).", field="language")
    return code


def normalize_phone(*, church: Church, raw: str) -> tuple[str, str, str | None]:
    """(E.164, blind index, area-code time zone) or BusinessRuleError with a person-readable reason."""
    try:
        parsed = parse_phone(raw, default_region=church.default_region)
    except InvalidPhone as exc:
        raise BusinessRuleError(str(exc), field="phone", code="invalid_phone") from exc
    return parsed.e164, phone_hash(parsed.e164), parsed.timezone


def clean_member_fields(raw: Mapping) -> dict:
    """Names stripped (and cut to the column's 100 characters), the email stripped, lower-cased and
    checked, the time zone as given. Keys ``raw`` leaves out stay out, so callers can tell "leave it
    alone" from "clear it". Raises BusinessRuleError (field ``email``) for an address that isn't one."""
    cleaned: dict = {}
    for key in ("first_name", "last_name"):
        if key in raw:
            cleaned[key] = (raw[key] or "").strip()[:100]
    if "email" in raw:
        email = (raw["email"] or "").strip().lower()
        if email:
            try:
                validate_email(email)
            except ValidationError as exc:
                raise BusinessRuleError(f"“{email[:80]}” isn't an email address.", field="email") from exc
        cleaned["email"] = email[:254]
    if "timezone" in raw:
        cleaned["timezone"] = raw["timezone"] or ""
    if "language" in raw:
        cleaned["language"] = clean_language(raw["language"])
    return cleaned
