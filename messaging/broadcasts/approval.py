"""Send safety: which broadcasts wait for an admin's approval, and the emails about them.

An owner sets the rule on the church (``Church.approval_for_everyone``, ``Church.approval_over``). A broadcast
by someone below admin (a staff session or a staff API key) that goes to everyone, or to more people than
``approval_over``, is accepted as HELD: nothing is materialized or sent, and owners and admins are told by
email and by a notice on every page (``messaging/templatetags/approvals.py``). ``services.message_approve``
and ``services.message_reject`` decide it; the author is emailed the decision. Sends by admins and owners,
and the system's own sends (recurring firings, welcome texts, resends of a send already approved), are
never held."""

import logging

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from churches.models import Church, Role, StaffMembership
from messaging.broadcasts.audience import audience_count
from messaging.broadcasts.models import Message

logger = logging.getLogger(__name__)
HELD_COUNT_SECONDS = 30


def approval_rule_applies(*, church: Church, audience: dict, acting_role: str | None) -> bool:
    """Whether a send by ``acting_role`` to ``audience`` must wait for an admin. ``acting_role`` None is a
    system send, never held. Counts the audience only as far as the threshold."""
    if acting_role is None or Role.at_least(acting_role, Role.ADMIN):
        return False
    if church.approval_for_everyone and audience.get("all"):
        return True
    if church.approval_over is None:
        return False
    limit = church.approval_over
    return audience_count(church=church, audience=audience, upto=limit + 1) > limit


def approval_rule_text(church: Church) -> str:
    """The church's rule in a sentence ("" when there is none), for compose and settings."""
    parts = []
    if church.approval_for_everyone:
        parts.append("to everyone")
    if church.approval_over is not None:
        parts.append(f"to more than {church.approval_over:,} people")
    if not parts:
        return ""
    return f"Sends by staff {' or '.join(parts)} wait for an admin's approval."


def held_count_key(church_id: int) -> str:
    return f"messaging:held-count:{church_id}"


def held_count(*, church: Church) -> int:
    """Broadcasts awaiting approval (cached briefly: every page of an admin shows it)."""
    key = held_count_key(church.pk)
    count = cache.get(key)
    if count is None:
        count = Message.objects.for_church(church).filter(status=Message.Status.HELD).count()
        cache.set(key, count, HELD_COUNT_SECONDS)
    return count


def forget_held_count(church_id: int) -> None:
    cache.delete(held_count_key(church_id))


def _deciders(church_id: int) -> list[str]:
    memberships = StaffMembership.objects.filter(
        church_id=church_id, role__in=[Role.OWNER, Role.ADMIN], user__is_active=True
    ).select_related("user")
    return sorted({m.user.email for m in memberships if m.user.email})


def _mail(subject: str, template: str, context: dict, recipients: list[str]) -> int:
    """Best effort: a mail server that is down must not undo the send it is about (runs after commit)."""
    body = render_to_string(template, context)
    sent = 0
    for address in recipients:
        try:
            send_mail(subject, body, None, [address])
            sent += 1
        except Exception:
            logger.exception("approval email to %s failed", address)
    return sent


def notify_held(*, church_id: int, message_id: int) -> int:
    """Email owners and admins that a broadcast waits for them. Returns how many were emailed."""
    message = Message.objects.for_church(church_id).select_related("church", "author").filter(pk=message_id).first()
    if message is None or message.status != Message.Status.HELD:
        return 0
    context = {
        "message": message,
        "church": message.church,
        "author": (message.author.get_full_name() or message.author.email) if message.author else "An API key",
        "url": settings.PUBLIC_BASE_URL + reverse("message_detail", args=[message.pk]),
    }
    subject = f"A message awaits your approval · {message.church.name}"
    return _mail(subject, "messaging/email/approval_needed.txt", context, _deciders(message.church_id))


def notify_decided(*, church_id: int, message_id: int) -> int:
    """Email the author whether their broadcast was approved or rejected."""
    messages = Message.objects.for_church(church_id).select_related("church", "author", "approval_decided_by")
    message = messages.filter(pk=message_id).first()
    if message is None or message.author is None or not message.author.email:
        return 0
    approved = message.status != Message.Status.REJECTED
    decider = message.approval_decided_by
    context = {
        "message": message,
        "church": message.church,
        "approved": approved,
        "decider": (decider.get_full_name() or decider.email) if decider else "An admin",
        "url": settings.PUBLIC_BASE_URL + reverse("message_detail", args=[message.pk]),
    }
    subject = f"Your message was {'approved' if approved else 'not approved'} · {message.church.name}"
    return _mail(subject, "messaging/email/approval_decided.txt", context, [message.author.email])
