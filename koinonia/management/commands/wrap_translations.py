"""``manage.py wrap_translations [paths…]``: mark a template's visible text for translation.

Wraps text between HTML tags and the visible attributes (``title``, ``placeholder``, ``aria-label``,
``alt``, ``data-confirm``…) in ``{% translate %}`` (plain text) or ``{% blocktranslate trimmed with … %}``
(text with ``{{ variables }}``, which become named placeholders), and adds ``{% load i18n %}``. Skips
what is already marked, ``<script>``/``<style>``/``<textarea>``, comments and text without letters. Safe
to run again (it only touches unmarked text), e.g. on templates merged from another branch; then run
``makemessages -l es``, translate the new entries in ``locale/es/LC_MESSAGES/django.po`` and
``compilemessages``. ``tests/koinonia/test_i18n.py`` fails while a visible string is unmarked or
untranslated."""

import re
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

VISIBLE_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt", "data-confirm", "aria-description", "data-label")
# Support's Django admin pages and the emails (rendered by workers, in English) are left as they are.
SKIPPED_DIRECTORIES = ("admin", "email")
SKIPPED_ELEMENTS = ("script", "style", "textarea", "pre")
RESERVED = {"count", "context", "trimmed", "asvar", "with", "and", "noop", "as"}
LETTERS = re.compile(r"[A-Za-z]{2,}")
ENTITY = re.compile(r"&#?\w+;")
VARIABLE = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.S)
ATTRIBUTE = re.compile(r"""(\s(?:""" + "|".join(VISIBLE_ATTRIBUTES) + r""")=)(["'])(.*?)\2""", re.S)


def has_words(text: str) -> bool:
    """Letters outside ``{{ }}`` and entities: something a person reads."""
    return bool(LETTERS.search(ENTITY.sub("", VARIABLE.sub("", text))))


def _name_for(expression: str, taken: set[str]) -> str:
    base = expression.split("|")[0].strip().split(".")[-1]
    base = re.sub(r"\W", "_", base).strip("_") or "value"
    if base in RESERVED or base[0].isdigit():
        base = f"{base}_value"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}{n}", n + 1
    taken.add(name)
    return name


def translated(text: str, *, in_attribute: bool = False) -> str:
    """``text`` (trimmed, with letters) as a translate or blocktranslate tag."""
    expressions = VARIABLE.findall(text)
    quote = "'" if in_attribute else '"'
    if not expressions and "\n" not in text and quote not in text and "{" not in text:
        return f"{{% translate {quote}{text}{quote} %}}"
    taken: set[str] = set()
    bindings: dict[str, str] = {}

    def bind(match):
        expression = match.group(1)
        for name, bound in bindings.items():
            if bound == expression:
                return f"{{{{ {name} }}}}"
        name = _name_for(expression, taken)
        bindings[name] = expression
        return f"{{{{ {name} }}}}"

    body = VARIABLE.sub(bind, text)
    with_part = (" with " + " ".join(f"{n}={e}" for n, e in bindings.items())) if bindings else ""
    return f"{{% blocktranslate trimmed{with_part} %}}{body}{{% endblocktranslate %}}"


def _wrap_text(text: str) -> str:
    if not has_words(text):
        return text
    stripped = text.strip()
    start = text.index(stripped[0])
    return text[:start] + translated(stripped) + text[start + len(stripped) :]


def _wrap_attributes(tag: str) -> str:
    def wrap(match):
        prefix, quote, value = match.groups()
        if "{%" in value or not has_words(value):
            return match.group(0)
        return f"{prefix}{quote}{translated(value.strip(), in_attribute=True)}{quote}"

    return ATTRIBUTE.sub(wrap, tag)


def _end_of(source: str, start: int, closer: str) -> int:
    end = source.find(closer, start)
    return len(source) if end < 0 else end + len(closer)


def _html_tag_end(source: str, i: int) -> int:
    """The index after the ``>`` closing the HTML tag at ``i``, stepping over template tags inside it."""
    j = i + 1
    while j < len(source):
        if source.startswith("{%", j):
            j = _end_of(source, j, "%}")
        elif source.startswith("{{", j):
            j = _end_of(source, j, "}}")
        elif source[j] == ">":
            return j + 1
        else:
            j += 1
    return len(source)


def wrap_template(source: str) -> str:
    out: list[str] = []
    text: list[str] = []
    i = 0

    def flush():
        if text:
            out.append(_wrap_text("".join(text)))
            text.clear()

    while i < len(source):
        if source.startswith("{#", i):
            flush()
            end = _end_of(source, i, "#}")
        elif source.startswith("{%", i):
            flush()
            end = _end_of(source, i, "%}")
            tag = source[i:end]
            word = tag[2:-2].split()[0] if tag[2:-2].split() else ""
            closer = {"comment": "endcomment", "blocktranslate": "endblocktranslate", "blocktrans": "endblocktrans"}
            closer.update({"verbatim": "endverbatim"})
            if word in closer:
                found = re.compile(r"\{%\s*" + closer[word] + r"\s*%\}").search(source, end)
                end = found.end() if found else len(source)
        elif source.startswith("{{", i):
            end = _end_of(source, i, "}}")
            text.append(source[i:end])
            i = end
            continue
        elif source[i] == "<" and re.match(r"<(?:/?[A-Za-z]|!)", source[i : i + 3]):
            flush()
            end = _html_tag_end(source, i)
            tag = source[i:end]
            name = re.match(r"<\s*([A-Za-z0-9-]+)", tag)
            if tag.startswith("<!--"):
                end = _end_of(source, i, "-->")
            elif name and name.group(1).lower() in SKIPPED_ELEMENTS and not tag.startswith("</"):
                closing = re.compile(rf"</{name.group(1)}\s*>", re.I).search(source, end)
                out.append(_wrap_attributes(tag))
                inner_end = closing.start() if closing else len(source)
                out.append(source[end:inner_end])
                i = inner_end
                continue
            else:
                out.append(_wrap_attributes(tag))
                i = end
                continue
        else:
            text.append(source[i])
            i += 1
            continue
        out.append(source[i:end])
        i = end
    flush()
    return _with_load_i18n("".join(out))


def _with_load_i18n(source: str) -> str:
    if "{% translate" not in source and "{% blocktranslate" not in source:
        return source
    if re.search(r"\{%\s*load\s[^%]*\bi18n\b", source):
        return source
    extends = re.match(r"\s*\{%\s*extends\s[^%]*%\}", source)
    at = extends.end() if extends else 0
    return source[:at] + "{% load i18n %}" + source[at:]


class Command(BaseCommand):
    help = "Mark the visible text of HTML templates for translation (see the module docstring)."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="*", help="Templates or directories (default: the templates/ dir).")
        parser.add_argument(
            "--form-strings", action="store_true", help="Also rewrite koinonia/i18n_form_strings.py (form labels)."
        )

    def handle(self, *args, **options):
        roots = [Path(p) for p in options["paths"]] or [Path(settings.BASE_DIR) / "templates"]
        changed = 0
        for root in roots:
            for path in sorted(root.rglob("*.html") if root.is_dir() else [root]):
                if root.is_dir() and set(path.relative_to(root).parts[:-1]) & set(SKIPPED_DIRECTORIES):
                    continue
                source = path.read_text()
                wrapped = wrap_template(source)
                if wrapped != source:
                    path.write_text(wrapped)
                    changed += 1
        self.stdout.write(f"{changed} template(s) changed")
        if options["form_strings"]:
            from koinonia.i18n_forms import write_module

            self.stdout.write(f"wrote {write_module()}")
