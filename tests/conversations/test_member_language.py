"""Member-facing system texts in the member's language: the opt-out confirmation, HELP, the "subscribed
again" answer, the keyword welcome, the church's welcome and after-hours texts (Spanish versions in
Settings). The language is set on the member (page, API, import) or learned when they text in Spanish."""

import pytest

from churches.models import Member
from conversations.language import detect_language
from conversations.models import InboxSettings
from tests.factories import GroupFactory, MemberFactory

pytestmark = pytest.mark.django_db


def sent_texts(fake):
    return [m.text for m in fake.sent_messages]


def refreshed(member):
    member.refresh_from_db()
    return member


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hola, ¿a qué hora es el culto?", "es"),
        ("Muchas gracias hermano, bendiciones", "es"),
        ("No me envíen más mensajes por favor", "es"),
        ("Thanks, see you Sunday!", "en"),
        ("ok", None),
        ("STOP", None),
        ("", None),
    ],
)
def test_language_detection(text, expected):
    assert detect_language(text) == expected


def test_a_spanish_members_opt_out_confirmation_is_in_spanish(hooks, world):
    spanish = MemberFactory(church=world.church, language="es")
    english = MemberFactory(church=world.church)
    hooks.telnyx_text(spanish.phone, "STOP")
    hooks.telnyx_text(english.phone, "STOP")
    by_number = {m.to_number: m.text for m in hooks.telnyx.sent_messages}
    assert by_number[spanish.phone].startswith("Grace Chapel: te diste de baja") and "START" in by_number[spanish.phone]
    assert by_number[english.phone].startswith("Grace Chapel: you're unsubscribed")


def test_texting_in_spanish_sets_the_language_and_help_answers_in_spanish(hooks, member, world):
    assert member.language == ""
    hooks.telnyx_text(member.phone, "Hola, ¿a qué hora es el culto del domingo?")
    assert refreshed(member).language == "es"
    hooks.telnyx_text(member.phone, "HELP")
    assert sent_texts(hooks.telnyx)[-1] == "Grace Chapel: mensajes de tu iglesia. Responde STOP para darte de baja."
    # The church's own Spanish help text wins over our default.
    world.church.help_text_es = "Iglesia Gracia: llame al 312-555-0111."
    world.church.save(update_fields=["help_text_es"])
    hooks.telnyx_text(member.phone, "INFO")
    assert sent_texts(hooks.telnyx)[-1] == "Iglesia Gracia: llame al 312-555-0111."


def test_a_language_already_set_is_kept(hooks, world):
    member = MemberFactory(church=world.church, language="en")
    hooks.telnyx_text(member.phone, "Hola, muchas gracias por todo")
    assert refreshed(member).language == "en"
    hooks.telnyx_text(member.phone, "HELP")
    assert "texts from your church" in sent_texts(hooks.telnyx)[-1]


def test_after_hours_and_resubscribe_and_keyword_welcome_in_spanish(hooks, world):
    member = MemberFactory(church=world.church, language="es")
    world.church.after_hours_reply = "The office is closed."
    world.church.after_hours_reply_es = "La oficina está cerrada."
    world.church.save(update_fields=["after_hours_reply", "after_hours_reply_es"])
    InboxSettings.objects.create(church=world.church, office_hours_enabled=True, office_days="")  # never open
    hooks.telnyx_text(member.phone, "¿Hay alguien?")
    assert sent_texts(hooks.telnyx) == ["La oficina está cerrada."]

    hooks.telnyx_text(member.phone, "STOP")
    hooks.telnyx_text(member.phone, "START")
    assert sent_texts(hooks.telnyx)[-1].startswith("Grace Chapel: estás suscrito de nuevo")

    GroupFactory(church=world.church, name="Jóvenes", keyword="JOVENES", welcome_text="")
    hooks.telnyx_text(member.phone, "JOVENES")
    assert sent_texts(hooks.telnyx)[-1] == "¡Bienvenido a Jóvenes en Grace Chapel! Responde STOP para darte de baja."

    # Without a Spanish version the church's main text is sent.
    english_only = MemberFactory(church=world.church, language="es")
    world.church.after_hours_reply_es = ""
    world.church.save(update_fields=["after_hours_reply_es"])
    hooks.telnyx_text(english_only.phone, "Hola")
    assert sent_texts(hooks.telnyx)[-1] == "The office is closed."


def test_the_welcome_broadcast_goes_out_in_each_members_language(world, django_capture_on_commit_callbacks):
    from messaging.broadcasts import welcome
    from messaging.models import Message, Recipient, SenderNumber

    SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")
    world.church.welcome_text = "Welcome to Grace!"
    world.church.welcome_text_es = "¡Bienvenidos a Gracia!"
    world.church.save(update_fields=["welcome_text", "welcome_text_es"])
    from churches import services as church_services

    spanish = church_services.member_create(
        church=world.church, acting_user=None, phone="+13125550161", language="Español", consent="card"
    )
    english = church_services.member_create(church=world.church, acting_user=None, phone="+13125550162", consent="card")
    with django_capture_on_commit_callbacks(execute=True):
        welcome.welcome_send(church_id=world.church.pk, member_ids=[spanish.pk, english.pk])
    bodies = {r.member_id: r.message.body for r in Recipient.objects.for_church(world.church).select_related("message")}
    assert bodies == {spanish.pk: "¡Bienvenidos a Gracia!", english.pk: "Welcome to Grace!"}
    assert Message.objects.for_church(world.church).count() == 2


def test_language_is_set_through_the_api_and_the_member_page(world, other_world):
    api = world.session_api_client()
    created = api.post("/api/v1/members", {"phone": "+13125550171", "language": "es"}, format="json")
    assert created.status_code == 201 and created.json()["language"] == "es"
    member_id = created.json()["id"]
    assert api.patch(f"/api/v1/members/{member_id}", {"language": "English"}, format="json").json()["language"] == "en"
    bad = api.patch(f"/api/v1/members/{member_id}", {"language": "klingon"}, format="json")
    assert bad.status_code == 400 and "language" in bad.json()["error"]["details"]
    # Another church's member is a 404; a viewer may not change it.
    theirs = MemberFactory(church=other_world.church)
    assert api.patch(f"/api/v1/members/{theirs.pk}", {"language": "es"}, format="json").status_code == 404
    viewer = world.session_api_client("viewer")
    assert viewer.patch(f"/api/v1/members/{member_id}", {"language": "es"}, format="json").status_code == 403

    page = world.page_client()
    member = Member.objects.get(pk=member_id)
    response = page.post(
        f"/members/{member_id}/", {"phone": "+13125550171", "language": "es", "first_name": "Ana", "last_name": ""}
    )
    assert response.status_code == 302, response.content[:300]
    assert refreshed(member).language == "es"


def test_an_import_column_sets_the_language(world, django_capture_on_commit_callbacks):
    from tests.churches.test_import import csv_bytes, import_file

    data = csv_bytes(
        "Ana,Ruiz,312-555-0181,,,Español",
        "Bob,Ray,312-555-0182,,,",
        header="First Name,Last Name,Cell Phone,E-mail,Group,Idioma\n",
    )
    job = import_file(world, django_capture_on_commit_callbacks, data)
    assert job.created_count == 2, job.rejected_count
    languages = dict(Member.objects.for_church(world.church).values_list("first_name", "language"))
    assert languages == {"Ana": "es", "Bob": ""}
