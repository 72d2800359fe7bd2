"""SMS segment math (GSM-7 / UCS-2), as carriers count it.

The compose page shows the count before sending and billing estimates from it, so it must match what
the provider will charge: see docs reference providers.md §4. The provider's own count (Telnyx
``parts``, Twilio ``num_segments``) stays authoritative for billing once a message is sent.
"""

from dataclasses import dataclass, field
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

# 3GPP TS 23.038 default alphabet: one septet each. ESC (0x1B) is left out: it only introduces an
# extension character and is never a character of the text itself.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: sent as ESC + code, so two septets each, and the pair is never split across parts.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE_LIMIT, GSM7_PART_LIMIT = 160, 153  # septets; 153 = ⌊(140 − 6-octet UDH) × 8 / 7⌋
UCS2_SINGLE_LIMIT, UCS2_PART_LIMIT = 70, 67  # UTF-16 code units; 67 = ⌊1072 / 16⌋

# Look-alikes that silently switch a whole message to UCS-2 (so 160 characters become 3 parts). Mostly
# what word processors and phones substitute for plain punctuation when staff paste text.
SMART_CHARACTER_REPLACEMENTS: dict[str, str] = {
    "\u2018": "'",  # ‘ left single quote
    "\u2019": "'",  # ’ right single quote / apostrophe
    "\u201a": "'",  # ‚ low single quote
    "\u201b": "'",  # ‛ reversed single quote
    "\u2032": "'",  # ′ prime
    "\u2039": "'",  # ‹
    "\u203a": "'",  # ›
    "`": "'",
    "\u00b4": "'",  # ´ acute accent
    "\u201c": '"',  # “
    "\u201d": '"',  # ”
    "\u201e": '"',  # „
    "\u201f": '"',  # ‟
    "\u2033": '"',  # ″ double prime
    "\u00ab": '"',  # «
    "\u00bb": '"',  # »
    "\u2010": "-",  # ‐ hyphen
    "\u2011": "-",  # ‑ non-breaking hyphen
    "\u2012": "-",  # ‒ figure dash
    "\u2013": "-",  # – en dash
    "\u2014": "-",  # — em dash
    "\u2015": "-",  # ― horizontal bar
    "\u2212": "-",  # − minus sign
    "\u2026": "...",  # … ellipsis
    "\u2022": "-",  # • bullet
    "\u02c6": "^",  # ˆ modifier circumflex
    "\u02dc": "~",  # ˜ small tilde
    "\t": " ",
    "\u00a0": " ",  # no-break space
    "\u2002": " ",  # en space
    "\u2003": " ",  # em space
    "\u2004": " ",
    "\u2005": " ",
    "\u2006": " ",
    "\u2007": " ",  # figure space
    "\u2008": " ",
    "\u2009": " ",  # thin space
    "\u200a": " ",  # hair space
    "\u202f": " ",  # narrow no-break space
    "\u205f": " ",
    "\u3000": " ",  # ideographic space
    "\u200b": "",  # zero-width space
    "\u200c": "",  # zero-width non-joiner
    "\u200d": "",  # zero-width joiner (only meaningful inside emoji, which stay UCS-2 anyway)
    "\u2060": "",  # word joiner
    "\ufeff": "",  # byte-order mark pasted from documents
    "\u00ad": "",  # soft hyphen
}
_SMART_TABLE = str.maketrans(SMART_CHARACTER_REPLACEMENTS)


@dataclass(frozen=True)
class SegmentInfo:
    """How a text travels as SMS: its encoding, its length in that encoding's units, and its parts.

    ``non_gsm_chars`` lists the distinct characters that forced UCS-2, in order of appearance, so the
    compose page can point at them (empty for GSM-7).
    """

    encoding: Encoding
    units: int
    segments: int
    non_gsm_chars: list[str] = field(default_factory=list)


def _gsm7_units(char: str) -> int:
    return 2 if char in GSM7_EXTENSION else 1


def _ucs2_units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1  # a surrogate pair in UTF-16


def _count_parts(unit_sizes: list[int], single_limit: int, part_limit: int) -> int:
    """Parts needed when a 2-unit character (escape or surrogate pair) may not straddle two parts."""
    total = sum(unit_sizes)
    if total <= single_limit:
        return 1 if total else 0
    parts, filled = 1, 0
    for size in unit_sizes:
        if filled + size > part_limit:
            parts += 1
            filled = 0
        filled += size
    return parts


def segment_info(text: str) -> SegmentInfo:
    """Encoding, units and parts of ``text`` (empty text is 0 parts)."""
    non_gsm = [char for char in dict.fromkeys(text) if char not in GSM7_BASIC and char not in GSM7_EXTENSION]
    if non_gsm:
        sizes = [_ucs2_units(char) for char in text]
        return SegmentInfo("UCS-2", sum(sizes), _count_parts(sizes, UCS2_SINGLE_LIMIT, UCS2_PART_LIMIT), non_gsm)
    sizes = [_gsm7_units(char) for char in text]
    return SegmentInfo("GSM-7", sum(sizes), _count_parts(sizes, GSM7_SINGLE_LIMIT, GSM7_PART_LIMIT))


def replace_smart_characters(text: str) -> str:
    """``text`` with typographic look-alikes swapped for their GSM-7 equivalents (the compose page's fix).

    Only punctuation and spacing are touched; letters such as á or emoji are left alone because
    replacing them would change what the message says.
    """
    return text.translate(_SMART_TABLE)
