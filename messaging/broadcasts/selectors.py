"""Reads for messaging: message lists and detail, recipients, templates, and what the compose page
needs (audience choices, the live preview)."""

from dataclasses import dataclass, field

from django.db.models import QuerySet

from churches.models import Branch, Church, Group, Member, SmsStatus
from churches.selectors import member_search
from koinonia import policy
from koinonia.exceptions import BusinessRuleError
from koinonia.tenancy import access_function, church_object_get
from messaging.broadcasts import approval, services
from messaging.broadcasts.audience import audience_count, audience_member_ids, budget_branch_id, clean_audience
from messaging.broadcasts.models import Message, MessageTemplate, Recipient
from messaging.segments import SMART_CHARACTER_REPLACEMENTS, replace_smart_characters, segment_info

# Sends to everyone, or to more members than this, ask "are you sure?" first (pages only; the API
# trusts integrators). A church may carry its own ``confirm_threshold``.
DEFAULT_CONFIRM_THRESHOLD = 500
RECIPIENT_STATUSES = [value for value, _ in Recipient.Status.choices]


# --- access functions: the one way to fetch a church's row by id --------------------------------------
# Each raises ``koinonia.exceptions.NotFound`` (404 in pages and API) for a missing id and for another
# church's id alike; ``queryset`` lets a caller add joins, annotations or a row lock without a second query.


@access_function(Message)
def message_get(*, church: Church, id: int, queryset: QuerySet[Message] | None = None) -> Message:
    return church_object_get(Message.objects if queryset is None else queryset, church=church, id=id)


@access_function(MessageTemplate)
def message_template_get(
    *, church: Church, id: int, queryset: QuerySet[MessageTemplate] | None = None
) -> MessageTemplate:
    return church_object_get(MessageTemplate.objects if queryset is None else queryset, church=church, id=id)


def recipient_get(
    *, church: Church, message_id: int, id: int, queryset: QuerySet[Recipient] | None = None
) -> Recipient:
    """A recipient through its message: the row must be this church's and this message's."""
    recipients = Recipient.objects if queryset is None else queryset
    return church_object_get(recipients.filter(message_id=message_id), church=church, id=id)


def message_list(*, church: Church, status: str | None = None) -> QuerySet[Message]:
    """Newest first (index ``message_church_recent``); author and API key joined for the list's columns."""
    messages = Message.objects.for_church(church).select_related("author", "api_key")
    if status:
        messages = messages.filter(status=status)
    return messages.order_by("-id")


def recipient_list(*, church: Church, message: Message, status: str | None = None) -> QuerySet[Recipient]:
    """One message's recipients in id order, with their member's name (one query per page)."""
    recipients = Recipient.objects.for_church(church).filter(message=message).select_related("member")
    if status:
        recipients = recipients.filter(status=status)
    return recipients.order_by("id")


def recipient_page(
    *, church: Church, message: Message, status: str | None = None, after: int = 0, size: int = 50
) -> tuple[list[Recipient], int | None]:
    """A keyset page of recipients after id ``after`` and the id to continue from (None on the last
    page): no COUNT over a table that can hold a hundred thousand rows per message."""
    rows = list(recipient_list(church=church, message=message, status=status).filter(id__gt=after)[: size + 1])
    if len(rows) > size:
        return rows[:size], rows[size - 1].pk
    return rows, None


def template_list(*, church: Church) -> QuerySet[MessageTemplate]:
    return MessageTemplate.objects.for_church(church).select_related("created_by").order_by("name", "id")


def message_by_idempotency_key(*, church: Church, key: str) -> Message | None:
    key = (key or "").strip()[:128]
    if not key:
        return None
    return Message.objects.for_church(church).filter(idempotency_key=key).first()


def branch_choices(*, church: Church) -> list[tuple[int, str]]:
    return list(Branch.objects.for_church(church).order_by("name", "id").values_list("id", "name"))


def group_choices(*, church: Church) -> list[tuple[int, str]]:
    return list(Group.objects.for_church(church).order_by("name", "id").values_list("id", "name"))


def member_names(*, church: Church, member_ids: list[int]) -> list[dict]:
    """id, name and whether they can receive texts, for members already picked on the compose page."""
    if not member_ids:
        return []
    rows = Member.objects.for_church(church).filter(pk__in=member_ids).order_by("last_name", "first_name", "id")
    return [_member_choice(m) for m in rows.only("id", "first_name", "last_name", "sms_status")]


def member_picker_search(*, church: Church, q: str, limit: int = 20) -> list[dict]:
    """The compose page's member search (name, email or full phone number)."""
    if not (q or "").strip():
        return []
    rows = member_search(church=church, q=q).only("id", "first_name", "last_name", "sms_status")[:limit]
    return [_member_choice(m) for m in rows]


def _member_choice(member: Member) -> dict:
    return {
        "id": member.pk,
        "name": member.full_name or f"Member {member.pk}",
        "subscribed": member.sms_status == SmsStatus.SUBSCRIBED,
    }


def confirm_threshold(*, church: Church) -> int:
    return getattr(church, "confirm_threshold", None) or DEFAULT_CONFIRM_THRESHOLD


def needs_confirmation(*, church: Church, audience: dict, recipients: int) -> bool:
    return bool(audience.get("all")) or recipients > confirm_threshold(church=church)


@dataclass
class Preview:
    """What the compose page shows while staff type: who it reaches and what it costs in segments."""

    recipients: int | None
    encoding: str
    characters: int
    segments: int
    total_segments: int | None
    non_gsm_chars: list[str]
    replaceable_chars: list[str]
    fixed_body: str
    needs_confirmation: bool
    problems: dict[str, str] = field(default_factory=dict)
    # The text exactly as one member of the audience receives it (the first, or the one chosen), with
    # its own characters and segments; and who else the preview can be shown for.
    sample: dict | None = None
    sample_choices: list[dict] = field(default_factory=list)
    # What this send costs against the plan (None without metering) and whether it waits for an admin.
    cost: dict | None = None
    needs_approval: bool = False


def message_preview(
    *,
    church: Church,
    body: str,
    audience: dict | None,
    media_urls: list[str] | None = None,
    preview_member_id: int | None = None,
    acting_role: str | None = None,
) -> Preview:
    """The same checks ``message_send`` makes, reported instead of raised, with no side effects.
    Segments per text are estimated with merge fields at typical lengths, as ``services.validate_body``
    does; ``sample`` is the text as one real recipient gets it, counted exactly as the pipeline will."""
    problems: dict[str, str] = {}
    info = segment_info(body or "")
    try:
        encoding, segments = services.validate_body(body, media_urls)
    except BusinessRuleError as exc:
        problems[exc.field or "body"] = exc.message
        encoding, segments = info.encoding, info.segments
    recipients = None
    cleaned: dict = {}
    if audience:
        try:
            cleaned = clean_audience(church=church, audience=audience)
        except BusinessRuleError as exc:
            problems["audience"] = exc.message
        else:
            recipients = audience_count(church=church, audience=cleaned)
            if recipients == 0:
                problems["audience"] = "Nobody in this audience can receive texts (no subscribed members)."
    total_segments = None if recipients is None else recipients * segments
    sample, choices = None, []
    if cleaned and recipients:
        sample, choices = recipient_sample(church=church, body=body, audience=cleaned, member_id=preview_member_id)
    return Preview(
        recipients=recipients,
        encoding=encoding,
        characters=info.units,
        segments=segments,
        total_segments=total_segments,
        non_gsm_chars=info.non_gsm_chars,
        replaceable_chars=[char for char in info.non_gsm_chars if char in SMART_CHARACTER_REPLACEMENTS],
        fixed_body=replace_smart_characters(body or ""),
        needs_confirmation=bool(cleaned) and needs_confirmation(church=church, audience=cleaned, recipients=recipients),
        problems=problems,
        sample=sample,
        sample_choices=choices,
        cost=send_cost(church=church, segments=total_segments or 0, branch_id=budget_branch_id(cleaned))
        if total_segments
        else None,
        needs_approval=bool(cleaned)
        and approval.approval_rule_applies(church=church, audience=cleaned, acting_role=acting_role),
    )


def recipient_sample(
    *, church: Church, body: str, audience: dict, member_id: int | None = None
) -> tuple[dict | None, list[dict]]:
    """The body as ``member_id`` (if in the audience) or the audience's first member receives it —
    filled by the pipeline's own ``render_body`` — with its exact characters and segments; and the
    first members of the audience to choose from."""
    ids = audience_member_ids(church=church, audience=audience)
    chosen = None
    if member_id is not None:
        chosen = (
            member_id
            if member_id in ids
            else next(iter(audience_member_ids(church=church, audience=audience, member_id=member_id, limit=1)), None)
        )
    chosen = chosen or (ids[0] if ids else None)
    members = {
        m.pk: m
        for m in Member.objects.for_church(church)
        .filter(pk__in={*ids, chosen} - {None})
        .only("id", "first_name", "last_name")
    }
    choices = [{"id": pk, "name": members[pk].full_name or f"Member {pk}"} for pk in ids if pk in members]
    member = members.get(chosen)
    if member is None:
        return None, choices
    if chosen not in ids:
        choices.insert(0, {"id": chosen, "name": member.full_name or f"Member {chosen}"})
    text = services.render_body(
        body or "", first_name=member.first_name, last_name=member.last_name, church_name=church.name
    )
    info = segment_info(text)
    sample = {
        "member_id": member.pk,
        "name": member.full_name or f"Member {member.pk}",
        "text": text,
        "characters": info.units,
        "segments": max(info.segments, 1) if text else 0,
        "encoding": info.encoding,
    }
    return sample, choices


def _money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def send_cost(*, church: Church, segments: int, branch_id: int | None = None) -> dict | None:
    """What sending ``segments`` costs against the plan and the allowance left after it, from the plan
    policy (billing's send estimate); None when nothing is metered. ``text`` says it in a sentence."""
    summary = policy.current().usage_summary(church=church, adding=segments, branch_id=branch_id)
    if not summary or "send" not in summary:
        return None
    send = summary["send"]
    remaining = summary.get("remaining", 0)
    left_after = max(0, remaining - segments)
    if not send.get("allowed", True):
        text = send.get("message") or "Your plan does not allow this send."
    elif send.get("within_allowance"):
        text = (
            f"{segments:,} segments, within your allowance: {left_after:,} of {summary['allowance']:,} left after it."
        )
    else:
        over = send.get("overage_segments", 0)
        text = (
            f"{segments:,} segments: {over:,} beyond your allowance ({remaining:,} left), "
            f"{_money(send.get('overage_cents', 0))} extra."
        )
    return {
        "segments": segments,
        "allowance": summary.get("allowance"),
        "remaining": remaining,
        "remaining_after": left_after,
        "within_allowance": bool(send.get("within_allowance")),
        "overage_segments": send.get("overage_segments", 0),
        "overage_cents": send.get("overage_cents", 0),
        "allowed": bool(send.get("allowed", True)),
        "text": text,
    }


def broadcast_stats(*, church: Church, since) -> dict[str, int]:
    """Totals over the broadcasts created since ``since``, from their live counters (no recipient scan)."""
    from django.db.models import Count, Sum

    totals = (
        Message.objects.for_church(church)
        .filter(created_at__gte=since)
        .aggregate(
            messages=Count("id"),
            recipients=Sum("recipient_count"),
            delivered=Sum("delivered_count"),
            failed=Sum("failed_count"),
            segments=Sum("segments_sent"),
        )
    )
    return {key: value or 0 for key, value in totals.items()}
