"""Spanish for the staff pages: every visible template string is marked for translation and has a Spanish
translation (checked without gettext tools: templates are read the way makemessages reads them), form
labels too, the compiled catalog matches the .po, and the main pages render in Spanish for a user who
chose it (or whose browser asks for it). The API stays English."""

import ast
import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.utils.translation.template import templatize

from churches.models import Role
from koinonia.i18n_form_strings import FORM_STRINGS as FORM_STRING_LIST
from koinonia.i18n_forms import form_strings
from koinonia.management.commands.wrap_translations import SKIPPED_DIRECTORIES, wrap_template
from tests.factories import MemberFactory

TEMPLATES = Path(settings.BASE_DIR) / "templates"
PO_FILE = Path(settings.BASE_DIR) / "locale" / "es" / "LC_MESSAGES" / "django.po"
MO_FILE = PO_FILE.with_suffix(".mo")
GETTEXT_CALL = re.compile(r"\bgettext\((u?'(?:[^'\\]|\\.)*')\)")


def staff_templates() -> list[Path]:
    return [
        path
        for path in sorted(TEMPLATES.rglob("*.html"))
        if not set(path.relative_to(TEMPLATES).parts[:-1]) & set(SKIPPED_DIRECTORIES)
    ]


def template_msgids(path: Path) -> set[str]:
    return {ast.literal_eval(literal) for literal in GETTEXT_CALL.findall(templatize(path.read_text()))}


def translations() -> dict[str, str]:
    return {entry.msgid: entry.msgstr for entry in polib.pofile(str(PO_FILE)) if "fuzzy" not in entry.flags}


def test_the_wrapper_marks_text_and_attributes_and_leaves_code_alone():
    source = (
        '{% extends "base.html" %}<h1 title="Big title">Hello {{ user.name }}</h1>'
        "<script>var a = 'Not text';</script>{# Note #}<p>{% translate \"Done\" %}</p><b>{{ n }}</b>"
    )
    wrapped = wrap_template(source)
    assert wrapped.startswith('{% extends "base.html" %}{% load i18n %}')
    assert "title=\"{% translate 'Big title' %}\"" in wrapped
    assert "{% blocktranslate trimmed with name=user.name %}Hello {{ name }}{% endblocktranslate %}" in wrapped
    assert "<script>var a = 'Not text';</script>" in wrapped and "<b>{{ n }}</b>" in wrapped
    assert wrap_template(wrapped) == wrapped  # nothing left to mark


@pytest.mark.parametrize("path", staff_templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_every_visible_template_string_is_marked_and_translated(path):
    source = path.read_text()
    assert wrap_template(source) == source, (
        f"{path.relative_to(TEMPLATES)} has visible text not marked for translation: run "
        "`manage.py wrap_translations`, then `makemessages -l es` and translate the new entries"
    )
    catalog = translations()
    missing = sorted(msgid for msgid in template_msgids(path) if not catalog.get(msgid))
    assert not missing, f"no Spanish translation in {PO_FILE.name} for: {missing[:10]}"


def test_form_labels_are_collected_and_translated():
    assert [str(text) for text in form_strings()] == FORM_STRING_LIST, (
        "form labels changed: run `manage.py wrap_translations --form-strings` and makemessages"
    )
    catalog = translations()
    missing = [text for text in form_strings() if not catalog.get(text)]
    assert not missing, missing[:10]


def test_the_catalog_is_complete_and_compiled():
    po = polib.pofile(str(PO_FILE))
    untranslated = [entry.msgid for entry in po if not entry.translated() and not entry.obsolete]
    assert not untranslated, untranslated[:10]
    compiled = {entry.msgid: entry.msgstr for entry in polib.mofile(str(MO_FILE)) if entry.msgid}
    assert compiled == {entry.msgid: entry.msgstr for entry in po if entry.msgid and not entry.obsolete}, (
        "django.mo is stale: run `manage.py compilemessages` (or `msgfmt -o django.mo django.po`)"
    )


@pytest.fixture
def spanish_world(world):
    for user in world.users.values():
        user.language = "es"
        user.save(update_fields=["language"])
    return world


MAIN_PAGES = [
    "/dashboard/",
    "/members/",
    "/members/new/",
    "/members/import/",
    "/messages/",
    "/messages/new",
    "/messages/templates/",
    "/messages/recurring/",
    "/inbox/",
    "/analytics/",
    "/settings/",
    "/settings/team/",
    "/settings/api-keys/",
    "/branches/",
    "/groups/",
    "/billing/",
]


def test_main_pages_render_in_spanish_for_a_user_who_chose_it(spanish_world):
    client = spanish_world.page_client(Role.OWNER)
    member = MemberFactory(church=spanish_world.church)
    for url in [*MAIN_PAGES, f"/members/{member.pk}/"]:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        body = response.content.decode()
        assert '<html lang="es">' in body, url
        assert "Cerrar sesión" in body and ">Sign out<" not in body, url
        assert "Configuración" in body and ">Settings<" not in body, url


def test_labels_render_in_spanish_and_english_stays_the_default(spanish_world, other_world):
    spanish = spanish_world.page_client(Role.OWNER).get("/members/new/").content.decode()
    assert "Teléfono móvil" in spanish and "Mobile phone" not in spanish
    english = other_world.page_client(Role.OWNER).get("/members/new/").content.decode()
    assert '<html lang="en">' in english and "Mobile phone" in english and "Teléfono móvil" not in english


def test_a_user_picks_their_language_and_the_browser_is_the_fallback(world, client):
    page = world.page_client(Role.VIEWER)
    response = page.post("/language/", {"language": "es", "next": "/members/"})
    assert response.status_code == 302 and response["Location"] == "/members/"
    world.viewer.refresh_from_db()
    assert world.viewer.language == "es"
    assert "Miembros" in page.get("/members/").content.decode()
    # An unknown language is refused with a message; an outside "next" is not followed.
    response = page.post("/language/", {"language": "xx", "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    world.viewer.refresh_from_db()
    assert world.viewer.language == "es"
    page.post("/language/", {"language": ""})
    world.viewer.refresh_from_db()
    assert world.viewer.language == ""
    # Signed out: the browser's language.
    assert "Iniciar sesión" in client.get("/login/", HTTP_ACCEPT_LANGUAGE="es-MX,es;q=0.9").content.decode()
    assert "Sign in" in client.get("/login/", HTTP_ACCEPT_LANGUAGE="en-US").content.decode()


def test_the_api_answers_in_english_whatever_the_user_chose(spanish_world):
    api = spanish_world.session_api_client(Role.OWNER)
    response = api.get("/api/v1/members/999999", HTTP_ACCEPT_LANGUAGE="es")
    assert response.status_code == 404
    assert response.json()["error"]["message"].startswith("Not found")
