"""Phone numbers as people type them → E.164, with reasons a person understands when they can't be texted."""

from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType
from phonenumbers import timezone as phone_timezone

TEXTABLE_TYPES = {
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE,  # most US/CA numbers: the plan doesn't tell which
    PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER,
}
REFUSED_TYPES = {
    PhoneNumberType.FIXED_LINE: "This is a landline number, which can't receive text messages.",
    PhoneNumberType.TOLL_FREE: "This is a toll-free number; members' own mobile numbers are needed.",
    PhoneNumberType.PREMIUM_RATE: "This is a premium-rate number, which can't be texted.",
    PhoneNumberType.SHARED_COST: "This is a shared-cost service number, which can't be texted.",
    PhoneNumberType.PAGER: "This is a pager number, which can't receive text messages.",
    PhoneNumberType.UAN: "This is a company switchboard number, which can't be texted.",
    PhoneNumberType.VOICEMAIL: "This is a voicemail access number, which can't be texted.",
}


class InvalidPhone(ValueError):
    """``str(exc)`` is a message for the person who typed the number."""


@dataclass(frozen=True)
class ParsedPhone:
    e164: str
    region: str | None
    timezone: str | None  # IANA zone from the number's area code, when it names exactly one


def parse_phone(raw: str, *, default_region: str = "US") -> ParsedPhone:
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone("Enter a mobile phone number.")
    if sum(ch.isdigit() for ch in text) < 7:
        raise InvalidPhone(f"“{text}” is too short to be a phone number.")
    try:
        number = phonenumbers.parse(text, default_region or "US")
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"“{text}” isn't a phone number we can read. Include the area code.") from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhone(f"“{text}” has the wrong number of digits for a phone number.")
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"“{text}” isn't a real phone number (check the area code and digits).")
    number_type = phonenumbers.number_type(number)
    if number_type in REFUSED_TYPES:
        raise InvalidPhone(REFUSED_TYPES[number_type])
    if number_type not in TEXTABLE_TYPES:
        raise InvalidPhone(f"“{text}” doesn't look like a mobile number that can receive texts.")
    zones = [z for z in phone_timezone.time_zones_for_number(number) if z != "Etc/Unknown"]
    return ParsedPhone(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        region=phonenumbers.region_code_for_number(number),
        timezone=zones[0] if len(zones) == 1 else None,
    )


def format_phone_for_display(e164: str) -> str:
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if phonenumbers.region_code_for_number(number) in ("US", "CA")
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, style)
