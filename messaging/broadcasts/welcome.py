"""The church's welcome text for new members.

When members become subscribed (``churches.signals.members_subscribed``: added by staff with consent,
imported, created through the API), they are sent the church's welcome text, if the church wrote one
(an empty welcome text means "off"). It is a normal broadcast to those members (visible in the message
list, counted, quiet hours respected), at most once per member, ever:

- ``WelcomeSent`` holds one row per welcomed member (unique), written in the same transaction as the
  broadcast, so a retried task or a repeated signal finds the members already taken;
- only a member's first opt-in brings a welcome: someone who opts out and back in is not welcomed again
  (the opt-in confirmation the conversations app sends is their answer);
- members whose opt-in came from their own text (START or a group keyword) are answered in their
  conversation by the conversations app, so they get no second, broadcast welcome here.
"""

import hashlib

from django.db import transaction
from django.db.models import Count, Q

from churches.models import Church, ConsentEvent, Member, SmsStatus
from messaging.broadcasts.models import Message, WelcomeSent
from messaging.broadcasts.services import message_send

# Opt-ins answered in the member's own conversation (conversations app), not by a welcome broadcast.
ANSWERED_IN_CONVERSATION = {ConsentEvent.Source.KEYWORD}


def _batch_key(member_ids: list[int]) -> str:
    if len(member_ids) == 1:
        return f"welcome:{member_ids[0]}"
    digest = hashlib.sha256(",".join(map(str, member_ids)).encode()).hexdigest()[:16]
    return f"welcome:{member_ids[0]}+{len(member_ids) - 1}:{digest}"


def _first_opt_ins(church: Church, member_ids: list[int]) -> list[int]:
    """Of ``member_ids``, those whose only opt-in so far is the one that subscribed them, and not by text."""
    rows = (
        ConsentEvent.objects.for_church(church)
        .filter(member_id__in=member_ids, kind=ConsentEvent.Kind.OPT_IN)
        .values("member_id")
        .annotate(opt_ins=Count("id"), by_text=Count("id", filter=Q(source__in=ANSWERED_IN_CONVERSATION)))
    )
    return sorted(row["member_id"] for row in rows if row["opt_ins"] == 1 and not row["by_text"])


@transaction.atomic
def welcome_send(*, church_id: int, member_ids: list[int]) -> Message | None:
    """Welcome those of ``member_ids`` who are new, subscribed and not yet welcomed. Safe to repeat.
    A refusal (no sending number, plan limit) raises and rolls back, so the failure is recorded with
    the task and nobody is marked welcomed."""
    church = Church.objects.filter(pk=church_id).first()
    if church is None or not church.welcome_text.strip():
        return None
    wanted = sorted({int(member_id) for member_id in member_ids})
    subscribed = set(
        Member.objects.for_church(church)
        .filter(pk__in=wanted, sms_status=SmsStatus.SUBSCRIBED)
        .values_list("pk", flat=True)
    )
    welcomed = set(
        WelcomeSent.objects.for_church(church).filter(member_id__in=wanted).values_list("member_id", flat=True)
    )
    candidates = [m for m in _first_opt_ins(church, sorted(subscribed - welcomed)) if m in subscribed]
    if not candidates:
        return None
    key = _batch_key(candidates)
    # Claim the members: a concurrent welcome of the same member waits on the unique row and then
    # finds it taken.
    WelcomeSent.objects.bulk_create(
        [WelcomeSent(church=church, member_id=m, batch_key=key) for m in candidates], ignore_conflicts=True
    )
    claimed = sorted(WelcomeSent.objects.for_church(church).filter(batch_key=key).values_list("member_id", flat=True))
    if not claimed:
        return None
    batch_key = key if claimed == candidates else _batch_key(claimed)
    # Members whose language is Spanish get the church's Spanish welcome, when it wrote one: a second
    # broadcast (its own idempotency key), so each text is one body for everyone it reaches.
    spanish_body = church.welcome_text_es.strip()
    spanish = (
        set(Member.objects.for_church(church).filter(pk__in=claimed, language="es").values_list("pk", flat=True))
        if spanish_body
        else set()
    )
    message = None
    for body, ids, suffix in (
        (church.welcome_text, [m for m in claimed if m not in spanish], ""),
        (spanish_body, sorted(spanish), ":es"),
    ):
        if not ids:
            continue
        sent = message_send(
            church=church, author=None, body=body, audience={"member_ids": ids}, idempotency_key=batch_key + suffix
        )
        WelcomeSent.objects.for_church(church).filter(batch_key=key, member_id__in=ids).update(message=sent)
        message = message or sent
    return message
