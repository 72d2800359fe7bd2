"""The automatic texts a member receives, in the member's language: the opt-out confirmation, HELP, the
"subscribed again" answer and the keyword welcome are ours (translated with Django's gettext, the same
catalog as the staff pages: locale/es); the welcome, help and after-hours texts are the church's own,
with a Spanish version per text in Settings (blank: the main text). A member's language is
``Member.language`` (set on the member page, the API or an import column, or learned when they text in
Spanish: ``conversations.language``); blank means English."""

from django.utils import translation
from django.utils.translation import gettext

from churches.models import Church, Member

DEFAULT_LANGUAGE = "en"
# Church texts that have a Spanish version (Church.<field>_es).
CHURCH_TEXTS = ("welcome_text", "help_text", "after_hours_reply")


def member_language(member: Member | None, fallback: str | None = None) -> str:
    """The language to text ``member`` in; ``fallback`` (e.g. what a visitor's text was written in)
    when the member has none."""
    return (member.language if member is not None else "") or fallback or DEFAULT_LANGUAGE


def church_text(church: Church, field: str, language: str) -> str:
    """The church's own ``field`` text in ``language`` when it wrote one, else its main text."""
    if field not in CHURCH_TEXTS:
        raise ValueError(field)
    if language == "es":
        spanish = getattr(church, f"{field}_es", "").strip()
        if spanish:
            return spanish
    return getattr(church, field).strip()


def opt_out_confirmation(church: Church, language: str = DEFAULT_LANGUAGE) -> str:
    with translation.override(language):
        return gettext(
            "%(church)s: you're unsubscribed and won't get more texts from us. Reply START to resubscribe."
        ) % {"church": church.name}


def help_text(church: Church, language: str = DEFAULT_LANGUAGE) -> str:
    own = church_text(church, "help_text", language)
    if own:
        return own
    with translation.override(language):
        contact = f" {gettext('or')} ".join(c for c in (church.contact_phone, church.contact_email) if c)
        if contact:
            return gettext("%(church)s: texts from your church. Reach us at %(contact)s. Reply STOP to opt out.") % {
                "church": church.name,
                "contact": contact,
            }
        return gettext("%(church)s: texts from your church. Reply STOP to opt out.") % {"church": church.name}


def resubscribed_text(church: Church, language: str = DEFAULT_LANGUAGE) -> str:
    with translation.override(language):
        return gettext("%(church)s: you're subscribed to our texts again. Reply STOP to opt out, HELP for help.") % {
            "church": church.name
        }


def keyword_welcome(church: Church, group_name: str, language: str = DEFAULT_LANGUAGE) -> str:
    with translation.override(language):
        return gettext("Welcome to %(group)s at %(church)s! Reply STOP to opt out.") % {
            "group": group_name,
            "church": church.name,
        }
