"""Request parsers for the API (the defaults in ``REST_FRAMEWORK``): JSON nested deeper than
``MAX_JSON_DEPTH`` is refused before it is parsed (Python's parser recurses once per level, so 100k ``[``
would exhaust the stack), and no text may carry a NUL character, which PostgreSQL cannot store."""

import io
import re

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_JSON_DEPTH = 64
NUL = "\x00"

_SKIP = re.compile(rb'[^"\[\]{}]*+')
# Possessive quantifiers: a string is matched once, with no backtracking, so the scan stays linear.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_OPEN = frozenset(b"[{")


def json_nesting_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``raw`` JSON nests arrays/objects more than ``limit`` deep, without parsing it: brackets
    inside strings do not count. Linear in the body's length. Malformed input (an unterminated string)
    answers False; the parser then refuses it as malformed."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth, pos, end = 0, 0, len(raw)
    while True:
        pos = _SKIP.match(raw, pos).end()
        if pos >= end:
            return False
        char = raw[pos]
        if char == 0x22:  # "
            string = _STRING.match(raw, pos)
            if string is None:
                return False
            pos = string.end()
            continue
        if char in _OPEN:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
        pos += 1


def has_nul(data) -> bool:
    """Any NUL in the strings (keys or values) of parsed JSON (already depth-limited)."""
    if isinstance(data, str):
        return NUL in data
    if isinstance(data, dict):
        return any(has_nul(key) or has_nul(value) for key, value in data.items())
    if isinstance(data, list):
        return any(has_nul(item) for item in data)
    return False


def json_payload_problem(value, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why an already-parsed payload can't be stored, or None: a NUL character (PostgreSQL stores none in
    text or jsonb) or nesting deeper than ``max_depth`` (walking or re-encoding it could exhaust the stack).
    Iterative, so a deep payload can't make the check itself fail. The provider webhooks use it with a
    depth near their real events' (they parse signed bodies themselves, not through these parsers)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if NUL in node:
                return "NUL character"
            continue
        if not isinstance(node, dict | list):
            continue
        if depth > max_depth:
            return "nested too deeply"
        if isinstance(node, dict):
            stack.extend((key, depth + 1) for key in node)
            stack.extend((item, depth + 1) for item in node.values())
        else:
            stack.extend((item, depth + 1) for item in node)
    return None


def query_dict_has_nul(query_dict) -> bool:
    return any(NUL in key or any(NUL in value for value in values) for key, values in query_dict.lists())


NESTING_MESSAGE = f"The JSON body is nested too deeply (more than {MAX_JSON_DEPTH} levels)."
NUL_MESSAGE = "The request contains a NUL character, which is not allowed."


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        request = getattr((parser_context or {}).get("request"), "_request", None)
        if not getattr(request, "json_depth_checked", False) and json_nesting_exceeds(raw):
            raise ParseError(NESTING_MESSAGE)
        data = super().parse(io.BytesIO(raw), media_type, parser_context)
        if has_nul(data):
            raise ParseError(NUL_MESSAGE)
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if query_dict_has_nul(data):
            raise ParseError(NUL_MESSAGE)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        if query_dict_has_nul(parsed.data):
            raise ParseError(NUL_MESSAGE)
        return parsed
