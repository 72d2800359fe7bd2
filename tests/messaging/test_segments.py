"""Segment math against the table in docs/providers.md §4.3 and its boundaries."""

import pytest

from messaging.segments import GSM7_BASIC, GSM7_EXTENSION, replace_smart_characters, segment_info


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("a" * 1530, "GSM-7", 1530, 10),
        ("a" * 1531, "GSM-7", 1531, 11),
        ("€" * 80, "GSM-7", 160, 1),
        ("€" * 81, "GSM-7", 162, 2),
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3),  # the escape pair may not straddle parts 1 and 2
        ("a" * 151 + "€" + "a" * 153, "GSM-7", 306, 2),  # ...but fits when it ends exactly on 153
        ("a" * 159 + "’", "UCS-2", 160, 3),
        ("á" * 70, "UCS-2", 70, 1),
        ("á" * 71, "UCS-2", 71, 2),
        ("😀" * 35, "UCS-2", 70, 1),
        ("😀" * 36, "UCS-2", 72, 2),
        ("á" * 66 + "😀" + "á" * 66, "UCS-2", 134, 3),  # the surrogate pair may not be split either
        ("á" * 134, "UCS-2", 134, 2),
        ("", "GSM-7", 0, 0),
    ],
)
def test_segment_table(text, encoding, units, segments):
    info = segment_info(text)
    assert (info.encoding, info.units, info.segments) == (encoding, units, segments)


def test_alphabet_is_the_3gpp_table():
    assert len(GSM7_BASIC) == 127 and len(GSM7_EXTENSION) == 10
    assert "\x1b" not in GSM7_BASIC  # ESC only introduces an extension character
    # Traps from §4.1: ¤ not €, capital Ç only, the Greek capitals, no backtick.
    assert {"¤", "Ç", "Δ", "Ω", "ß", "\n", "\r", "@"} <= GSM7_BASIC
    assert not {"ç", "`", "á", "€"} & GSM7_BASIC


def test_extension_characters_count_two_septets_each():
    info = segment_info("{}[]~^|\\€\f")
    assert (info.encoding, info.units, info.segments) == ("GSM-7", 20, 1)


def test_non_gsm_chars_are_distinct_and_in_order():
    info = segment_info("Café “open” — all welcome 😀 “again”")
    assert info.encoding == "UCS-2"
    assert info.non_gsm_chars == ["“", "”", "—", "😀"]
    assert segment_info("Plain text, é and Ü are GSM").non_gsm_chars == []


def test_one_non_gsm_char_switches_the_whole_message():
    assert segment_info("a" * 100).segments == 1
    assert segment_info("a" * 99 + "ç").segments == 2  # 100 UCS-2 units > 70


def test_replace_smart_characters_makes_pasted_text_gsm():
    pasted = "“We’re open” – 9\u00a0am… bring a friend\u200b — ‘all’ welcome"
    fixed = replace_smart_characters(pasted)
    assert fixed == "\"We're open\" - 9 am... bring a friend - 'all' welcome"
    assert segment_info(fixed).encoding == "GSM-7"


def test_replace_smart_characters_leaves_letters_and_emoji():
    text = "Olá 😀 ç"
    assert replace_smart_characters(text) == text
