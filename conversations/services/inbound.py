"""An inbound text, from webhook to thread (design.md §4 "Inbound").

Stored once (ProviderEvent, unique per provider event id) in the same transaction as everything it
causes, so a duplicate delivery changes nothing and a crash leaves nothing half-done (the provider
retries). The church is the one owning the receiving number; the member is found by the phone's blind
index. Consent comes first: opt-out, opt-in and HELP are applied to the ledger before the text joins
the thread; then group keywords, then the church's automatic replies. Slow work (downloading pictures,
emailing staff, sending replies) runs in tasks after commit, so the webhook answers fast.
"""

import logging
from dataclasses import dataclass

from celery import signature
from django.db import IntegrityError, transaction
from django.utils import timezone
from phonenumbers import country_code_for_region

from churches.crypto import phone_hash
from churches.models import Church, ConsentEvent, Group, Member, SmsStatus
from churches.phones import InvalidPhone, parse_phone
from churches.services import consent_record, group_members_add, member_create
from conversations.consent_classifier import Classification, Intent, classify, normalize
from conversations.event_data import message_received_data
from conversations.language import detect_language
from conversations.models import ConsentReview, Conversation, ConversationMessage, InboxSettings
from conversations.services.outbound import queue_auto_reply, queue_text, touch_conversation
from conversations.services.system_texts import (
    church_text,
    help_text,
    keyword_welcome,
    member_language,
    opt_out_confirmation,
    resubscribed_text,
)
from koinonia import events
from koinonia.exceptions import BusinessRuleError
from messaging.models import ProviderEvent, SenderNumber
from messaging.providers.events import InboundText

logger = logging.getLogger(__name__)

Kind = ConversationMessage.Kind
PROVIDER_AUTOREPLY_INTENT = {"STOP": Intent.OPT_OUT, "START": Intent.OPT_IN, "HELP": Intent.HELP}
PROVIDER_LABEL = {"telnyx": "Telnyx", "twilio": "Twilio"}
NO_REPLY = "{} (no reply: sender outside the church's country)"
AFTER_HOURS_REPEAT_HOURS = 12  # one after-hours reply per conversation per half day
JOIN_WORDS = {"join", "add", "subscribe"}


def inbox_settings_get(*, church: Church) -> InboxSettings:
    settings_row, _ = InboxSettings.objects.get_or_create(church=church)
    return settings_row


def _e164(raw: str, church: Church) -> str:
    try:
        return parse_phone(raw, default_region=church.default_region).e164
    except InvalidPhone:
        return raw  # short codes, alphanumeric senders: kept as given


@dataclass
class _Sender:
    """Who texted: a member, or a visitor thread's number."""

    e164: str
    hashed: str
    member: Member | None
    created: bool = False
    # The language this text was written in, when it reads clearly as one (conversations.language).
    text_language: str | None = None
    # Whether automatic texts (confirmations, HELP, welcomes, after-hours) may go to this number.
    replyable: bool = True


def inbound_receive(*, inbound: InboundText) -> str:
    """Entry point for both providers' webhooks. Returns what happened, for the logs and tests."""
    sender = SenderNumber.objects.select_related("church").filter(phone_number=inbound.to_number).first()
    with transaction.atomic():
        try:
            with transaction.atomic():
                event = ProviderEvent.objects.create(
                    provider=inbound.provider,
                    event_id=inbound.event_id[:128],
                    event_type="message.received",
                    provider_message_id=inbound.message_id[:64],
                    occurred_at=inbound.occurred_at,
                    payload=inbound.payload,
                    # Never left pending: the sweeper replays pending events as delivery statuses.
                    outcome=ProviderEvent.Outcome.APPLIED if sender else ProviderEvent.Outcome.UNMATCHED,
                    processed_at=timezone.now(),
                )
        except IntegrityError:
            return "duplicate"
        if sender is None:
            logger.warning("inbound text to a number no church owns", extra={"provider": inbound.provider})
            return "unmatched"
        outcome = _process(inbound=inbound, church=sender.church, number=sender)
        ProviderEvent.objects.filter(pk=event.pk).update(detail=outcome[:200])
    return outcome


def inbound_apply(*, inbound: InboundText, number: SenderNumber, settings_row: InboxSettings | None = None) -> str:
    """Apply one stored inbound text to its church (the inbound batch: ``inbound_batch.py``; the caller
    holds the transaction and has stored the event). ``settings_row``: the church's inbox settings when
    the caller already read them (one read per church per batch)."""
    return _process(inbound=inbound, church=number.church, number=number, settings_row=settings_row)


def _find_sender(church: Church, inbound: InboundText) -> _Sender:
    e164 = _e164(inbound.from_number, church)
    hashed = phone_hash(e164)
    member = Member.objects.for_church(church).filter(phone_hash=hashed).first()
    return _Sender(e164=e164, hashed=hashed, member=member)


def _may_auto_reply(church: Church, who: _Sender, raw: str, thread: Conversation | None) -> bool:
    """Automatic texts go only where the church already talks, or to a number its country settings
    accept: a directory member (their number was validated when they joined), a thread the church has
    written in, or a textable number in the country of the church's region. Anything else (a number
    abroad, a short code, an unreadable sender) gets no automatic text, so nobody can make the church
    send paid texts to arbitrary destinations."""
    if who.member is not None and not who.created:
        return True
    if thread is not None and thread.messages.filter(direction=ConversationMessage.Direction.OUTBOUND).exists():
        return True
    try:
        parsed = parse_phone(raw, default_region=church.default_region)
    except InvalidPhone:
        return False
    region_code = country_code_for_region(church.default_region or "US")
    # Country calling codes are prefix-free, so the prefix names the country (US and CA share +1).
    return region_code != 0 and parsed.e164.startswith(f"+{region_code}")


def _promote_to_member(church: Church, who: _Sender) -> bool:
    """Make an unknown sender a member (no consent yet). False when the directory refuses (an
    unreadable number, the plan's member limit): the text then stays in a visitor thread."""
    try:
        with transaction.atomic():
            who.member = member_create(church=church, acting_user=None, phone=who.e164)
    except BusinessRuleError as exc:
        logger.info("unknown sender kept as a visitor", extra={"why": exc.message})
        return False
    who.created = True
    return True


def _existing_thread(church: Church, who: _Sender) -> Conversation | None:
    """The sender's thread, locked: the member's own, else a visitor thread for their number."""
    if who.member is not None:
        mine = Conversation.objects.select_for_update().filter(church=church, member=who.member).first()
        if mine is not None:
            return mine
    return (
        Conversation.objects.select_for_update()
        .filter(church=church, member__isnull=True, visitor_phone_hash=who.hashed)
        .first()
    )


def _conversation_for(church: Church, who: _Sender, number: SenderNumber, thread: Conversation | None) -> Conversation:
    """The sender's thread, created on first contact; a visitor's thread follows them when they become
    a member."""
    if thread is not None and who.member is not None and thread.member_id is None:
        thread.member = who.member
        thread.visitor_phone = None
        thread.visitor_phone_hash = ""
        thread.save(update_fields=["member", "visitor_phone", "visitor_phone_hash"])
    if thread is None:
        lookup = {"member": who.member} if who.member else {"member": None, "visitor_phone_hash": who.hashed}
        try:
            with transaction.atomic():
                thread = Conversation.objects.create(
                    church=church, sender=number, visitor_phone=None if who.member else who.e164, **lookup
                )
        except IntegrityError:  # the same person's other text, at the same moment
            thread = Conversation.objects.select_for_update().get(church=church, **lookup)
    thread.member = who.member
    thread.church = church
    return thread


def _remember_language(who: _Sender) -> None:
    """A member whose language is not known yet and who texts in Spanish is answered in Spanish from
    now on. A language already set (by staff, the API, an import, or an earlier text) is kept."""
    member = who.member
    if member is None or member.language or who.text_language != "es":
        return
    Member.objects.filter(pk=member.pk, church_id=member.church_id, language="").update(language="es")
    member.language = "es"


def _group_for_keyword(church: Church, text: str) -> Group | None:
    words = normalize(text).split()
    if len(words) == 2 and words[0] in JOIN_WORDS:
        words = words[1:]
    if len(words) != 1 or not words[0].isalnum():
        return None
    return Group.objects.for_church(church).filter(keyword__iexact=words[0]).first()


def _decide(inbound: InboundText, who: _Sender, conversation_opted_out: bool) -> Classification:
    opted_out = who.member.sms_status == SmsStatus.UNSUBSCRIBED if who.member else conversation_opted_out
    verdict = classify(inbound.text, opted_out=opted_out)
    provider_intent = PROVIDER_AUTOREPLY_INTENT.get(inbound.provider_autoreply)
    if provider_intent is not None and verdict.intent != provider_intent:
        # The provider's engine matched a keyword and already acts on it (blocks or unblocks the number).
        return Classification(provider_intent, exact_keyword=True, reason=f"{inbound.provider} keyword")
    return verdict


def _process(
    *, inbound: InboundText, church: Church, number: SenderNumber, settings_row: InboxSettings | None = None
) -> str:
    settings_row = settings_row or inbox_settings_get(church=church)
    who = _find_sender(church, inbound)
    thread = _existing_thread(church, who)
    verdict = _decide(inbound, who, bool(thread is not None and thread.member_id is None and thread.visitor_opted_out))
    group = _group_for_keyword(church, inbound.text) if verdict.intent == Intent.NONE else None

    if who.member is None:
        wants_member = (
            verdict.intent in (Intent.OPT_OUT, Intent.OPT_IN)
            or group is not None
            or settings_row.unknown_sender == InboxSettings.UnknownSender.CREATE_MEMBER
        )
        if wants_member:
            _promote_to_member(church, who)
    who.text_language = detect_language(inbound.text)
    _remember_language(who)
    who.replyable = _may_auto_reply(church, who, inbound.from_number, thread)
    if not who.replyable:
        logger.warning(
            "no automatic replies to this sender: outside the church's country and not a contact",
            extra={"church": church.pk, "provider": inbound.provider},
        )
    conversation = _conversation_for(church, who, number, thread)

    message = ConversationMessage.objects.create(
        church=church,
        conversation=conversation,
        direction=ConversationMessage.Direction.INBOUND,
        body=inbound.text,
        media=[
            {"content_type": ct, "source_url": url, "path": "", "size": 0, "error": ""} for url, ct in inbound.media
        ],
        consent_intent=verdict.intent.value,
        provider=inbound.provider,
        provider_message_id=inbound.message_id[:64],
        status=ConversationMessage.Status.RECEIVED,
    )
    touch_conversation(conversation, message, unread=True)
    events.emit(
        church=church,
        type="conversation.message_received",
        data=message_received_data(message, member_id=conversation.member_id, to=number.phone_number),
    )
    if conversation.status != Conversation.Status.OPEN or conversation.sender_id != number.pk:
        Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.Status.OPEN, sender=number)
        conversation.sender = number

    outcome = _apply(
        inbound=inbound,
        verdict=verdict,
        group=group,
        who=who,
        conversation=conversation,
        message=message,
        settings_row=settings_row,
    )

    message_id = message.pk
    # The tasks are named, not imported: conversations.tasks runs the inbound batch, which calls this
    # module, so importing the tasks here (even inside the function) would make an import cycle.
    if message.media:
        transaction.on_commit(lambda: _enqueue("conversations.tasks.fetch_inbound_media", message_id))
    if verdict.intent in (Intent.NONE, Intent.REVIEW) and group is None:
        transaction.on_commit(lambda: _enqueue("conversations.tasks.notify_staff_of_inbound", message_id))
    return outcome


def _enqueue(task: str, *args) -> None:
    signature(task, args=args).apply_async()


def _apply(*, inbound, verdict, group, who, conversation, message, settings_row) -> str:
    church = conversation.church
    dedupe = f"{inbound.provider}:{inbound.message_id}"
    if verdict.intent == Intent.OPT_OUT:
        return _opt_out(inbound=inbound, verdict=verdict, who=who, conversation=conversation, dedupe=dedupe)
    if verdict.intent == Intent.OPT_IN:
        return _opt_in(inbound=inbound, who=who, conversation=conversation, dedupe=dedupe)
    if verdict.intent == Intent.HELP:
        if who.member is not None:
            consent_record(
                church=church,
                member=who.member,
                kind=ConsentEvent.Kind.HELP,
                source=ConsentEvent.Source.KEYWORD,
                raw_text=inbound.text,
            )
        if inbound.provider_autoreply == "HELP":
            return "help (provider answered)"
        if not who.replyable:
            return NO_REPLY.format("help")
        body = help_text(church, member_language(who.member, who.text_language))
        queue_text(conversation=conversation, kind=Kind.HELP, body=body, dedupe_key=f"help:{dedupe}")
        return "help"
    if verdict.intent == Intent.REVIEW:
        ConsentReview.objects.create(
            church=church,
            conversation=conversation,
            message=message,
            member=who.member,
            raw_text=inbound.text,
            reason=verdict.reason[:200],
        )
        return "review"
    if group is not None and who.member is not None:
        return _keyword_join(inbound=inbound, group=group, who=who, conversation=conversation, dedupe=dedupe)
    return _conversation_text(who=who, conversation=conversation, settings_row=settings_row)


def _opt_out(*, inbound, verdict, who, conversation, dedupe) -> str:
    church = conversation.church
    if who.member is not None:
        newly = who.member.sms_status != SmsStatus.UNSUBSCRIBED
        if verdict.exact_keyword:
            source = ConsentEvent.Source.KEYWORD
        else:
            source = ConsentEvent.Source.REASONABLE_MANNER
        consent_record(
            church=church, member=who.member, kind=ConsentEvent.Kind.OPT_OUT, source=source, raw_text=inbound.text
        )
    else:  # the directory refused the member: the visitor thread remembers
        newly = not conversation.visitor_opted_out
        Conversation.objects.filter(pk=conversation.pk).update(visitor_opted_out=True)
        conversation.visitor_opted_out = True
    if not newly:
        return "opt-out (already opted out)"
    if not who.replyable:  # the opt-out stands; only the confirmation text is withheld
        return NO_REPLY.format("opt-out")
    return send_opt_out_confirmation(
        conversation=conversation,
        member=who.member,
        language=member_language(who.member, who.text_language),
        provider=inbound.provider,
        provider_autoreply=inbound.provider_autoreply,
        dedupe_key=f"confirm:{dedupe}",
    )


def send_opt_out_confirmation(
    *, conversation, member, provider: str, provider_autoreply: str, dedupe_key: str, language: str | None = None
) -> str:
    """Exactly one confirmation per opt-out: ours, or the provider's when its engine already sent one
    (providers.md §5: no own confirmation then), recorded in the ledger either way."""
    if provider_autoreply == "STOP":
        if member is not None:
            consent_record(
                church=conversation.church,
                member=member,
                kind=ConsentEvent.Kind.CONFIRMATION_SENT,
                source=ConsentEvent.Source.PROVIDER_REPORT,
                raw_text=f"{PROVIDER_LABEL.get(provider, provider)} sent its own opt-out confirmation; we sent none.",
            )
        return "opt-out (provider confirmed)"
    queue_text(
        conversation=conversation,
        kind=Kind.CONFIRMATION,
        body=opt_out_confirmation(conversation.church, language or member_language(member)),
        dedupe_key=dedupe_key,
    )
    return "opt-out"


def _first_opt_in(member: Member) -> bool:
    return not ConsentEvent.objects.filter(
        church_id=member.church_id, member=member, kind=ConsentEvent.Kind.OPT_IN
    ).exists()


def _opt_in(*, inbound, who, conversation, dedupe) -> str:
    church = conversation.church
    if who.member is None:
        return "opt-in (no member record)"
    was_subscribed = who.member.sms_status == SmsStatus.SUBSCRIBED
    first = _first_opt_in(who.member)
    consent_record(
        church=church,
        member=who.member,
        kind=ConsentEvent.Kind.OPT_IN,
        source=ConsentEvent.Source.KEYWORD,
        raw_text=inbound.text,
    )
    if was_subscribed:
        return "opt-in (already subscribed)"
    if inbound.provider_autoreply == "START":
        return "opt-in (provider confirmed)"
    if not who.replyable:
        return NO_REPLY.format("opt-in")
    settings_row = inbox_settings_get(church=church)
    language = member_language(who.member, who.text_language)
    if first and settings_row.welcome_new_members and church.welcome_text.strip():
        body, kind = church_text(church, "welcome_text", language), Kind.WELCOME
    else:
        body, kind = resubscribed_text(church, language), Kind.OPT_IN
    # The member asked for this answer: it is part of the opt-in, not a billed conversation reply.
    queue_text(conversation=conversation, kind=kind, body=body, dedupe_key=f"optin:{dedupe}")
    return "opt-in"


def _opted_out_since(member: Member, inbound: InboundText) -> bool:
    """An opt-out recorded after this text was sent: texts are applied in batches but opt-outs in the
    request (inbound_batch.py), so a keyword join applied late must not undo a later STOP."""
    if inbound.occurred_at is None:
        return False
    return ConsentEvent.objects.filter(
        church_id=member.church_id, member=member, kind=ConsentEvent.Kind.OPT_OUT, created_at__gt=inbound.occurred_at
    ).exists()


def _keyword_join(*, inbound, group, who, conversation, dedupe) -> str:
    church = conversation.church
    if who.member.sms_status == SmsStatus.UNSUBSCRIBED and _opted_out_since(who.member, inbound):
        return f"keyword {group.keyword} (opted out since)"
    group_members_add(church=church, group=group, member_ids=[who.member.pk])
    consent_record(
        church=church,
        member=who.member,
        kind=ConsentEvent.Kind.OPT_IN,
        source=ConsentEvent.Source.KEYWORD,
        raw_text=f"{inbound.text} (joined {group.name})",
    )
    if not who.replyable:
        return NO_REPLY.format(f"keyword {group.keyword}")
    welcome = group.welcome_text.strip() or keyword_welcome(
        church, group.name, member_language(who.member, who.text_language)
    )
    queue_auto_reply(conversation=conversation, kind=Kind.KEYWORD, body=welcome, dedupe_key=f"keyword:{dedupe}")
    return f"keyword {group.keyword}"


def within_office_hours(settings_row: InboxSettings, church: Church, now=None) -> bool:
    local = (now or timezone.now()).astimezone(church.tzinfo)
    if str(local.weekday()) not in settings_row.office_days:
        return False
    return settings_row.office_opens <= local.time().replace(tzinfo=None) < settings_row.office_closes


def _conversation_text(*, who, conversation, settings_row) -> str:
    church = conversation.church
    opted_out = who.member.sms_status == SmsStatus.UNSUBSCRIBED if who.member else conversation.visitor_opted_out
    if opted_out:
        # An ordinary reply never re-subscribes anyone, and an opted-out member gets no automatic texts.
        return "text (opted out)"
    if not who.replyable:
        return NO_REPLY.format("text")
    if who.created and settings_row.welcome_new_members and church.welcome_text.strip():
        queue_auto_reply(
            conversation=conversation,
            kind=Kind.WELCOME,
            body=church_text(church, "welcome_text", member_language(who.member, who.text_language)),
            dedupe_key=f"welcome:{conversation.pk}",
        )
        return "text (welcomed)"
    now = timezone.now()
    if (
        settings_row.office_hours_enabled
        and church.after_hours_reply.strip()
        and not within_office_hours(settings_row, church, now)
        and (
            conversation.last_auto_reply_at is None
            or (now - conversation.last_auto_reply_at).total_seconds() > AFTER_HOURS_REPEAT_HOURS * 3600
        )
    ):
        queued = queue_auto_reply(
            conversation=conversation,
            kind=Kind.AFTER_HOURS,
            body=church_text(church, "after_hours_reply", member_language(who.member, who.text_language)),
            dedupe_key=f"afterhours:{conversation.pk}:{now:%Y%m%d%H}",
        )
        if queued is not None:
            Conversation.objects.filter(pk=conversation.pk).update(last_auto_reply_at=now)
            return "text (after-hours reply)"
    return "text"
