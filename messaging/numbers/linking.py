"""Phone-linking recovery: is each sender number still ours, active, on our messaging profile and
pointed at our webhook? Repair what the provider API can repair, record every check (``NumberCheck``),
and tell the church owner — once per problem — about what it cannot.

A check runs in two halves: :func:`inspect_and_repair` talks to the provider (no transaction open, so a
slow provider holds no locks) and :func:`sender_number_check` records the verdict under the number's
row lock, which is also what makes the owner's email go out once even if two checks overlap.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from churches.models import User
from churches.selectors import owner_emails
from churches.services import audit_record
from koinonia import events
from messaging.numbers import event_data
from messaging.numbers import ordering as numbers
from messaging.numbers.models import NumberCheck, SenderNumber
from messaging.providers import NumberError, NumberState, SmsProvider, get_provider
from messaging.providers.tendlc import (
    TenDlcError,
    TenDlcUnsupported,
    link_number_to_campaign,
    number_campaign_assignment,
)

logger = logging.getLogger(__name__)

# A Telnyx order normally completes within a minute; a number still PENDING after this lost its
# number_order.complete webhook, and the periodic check finds out whether the purchase went through.
PENDING_GRACE = timedelta(minutes=10)
# Hourly checks add ~8,800 rows per number a year; three months is plenty to see what happened.
CHECK_RETENTION = timedelta(days=90)


@dataclass
class Problem:
    """Something wrong with a number. ``code`` is stable (alerts are deduplicated on it), ``text`` is for
    staff. ``repair`` fixes it through the provider and says what it did; ``fatal`` skips later checks."""

    code: str
    text: str
    repair: Callable[[], str] | None = None
    fatal: bool = False


@dataclass
class LinkContext:
    sender: SenderNumber
    provider: SmsProvider
    state: NumberState

    @property
    def label(self) -> str:
        return self.provider.name.title()

    def refresh(self) -> None:
        self.state = self.provider.inspect_number(
            phone_number=self.sender.phone_number,
            provider_number_id=self.state.provider_number_id or self.sender.provider_number_id,
        )


LinkCheck = Callable[[LinkContext], Problem | None]


def check_number_is_ours(ctx: LinkContext) -> Problem | None:
    number, state = ctx.sender.phone_number, ctx.state
    if not state.exists:
        return Problem(
            "number_missing",
            f"{number} is no longer on our {ctx.label} account (released or moved to another carrier), so texts "
            "can't be sent from it or received on it. Order a new number, or ask support to restore this one.",
            fatal=True,
        )
    if not state.active:
        return Problem(
            "number_inactive",
            f"{number} isn't active at {ctx.label} (its status there is “{state.provider_status or 'unknown'}”), "
            "so it can't send texts. Ask support to look at it.",
            fatal=True,
        )
    return None


def check_messaging_profile(ctx: LinkContext) -> Problem | None:
    expected = ctx.provider.expected_messaging_profile_id()
    if expected is None or ctx.state.messaging_profile_id == expected:
        return None  # Twilio and the console have no messaging profiles

    def reassign() -> str:
        ctx.provider.assign_messaging_profile(
            provider_number_id=ctx.state.provider_number_id, messaging_profile_id=expected
        )
        return f"Put {ctx.sender.phone_number} back on our {ctx.label} messaging profile."

    where = (
        "isn't on any messaging profile" if not ctx.state.messaging_profile_id else "is on another messaging profile"
    )
    return Problem(
        "profile_unassigned",
        f"{ctx.sender.phone_number} {where} at {ctx.label}, so its texts would be refused.",
        repair=reassign,
    )


def check_webhook(ctx: LinkContext) -> Problem | None:
    expected = ctx.provider.expected_webhook_url()
    if not expected or ctx.state.webhook_url == expected:
        return None

    def repoint() -> str:
        ctx.provider.set_webhook_url(number=ctx.state, url=expected)
        return f"Pointed {ctx.sender.phone_number}'s replies back at Koinonia."

    return Problem(
        "webhook_drifted",
        f"Replies to {ctx.sender.phone_number} were going to {ctx.state.webhook_url or 'nowhere'} instead of "
        "Koinonia, so replies and STOP requests would be missed.",
        repair=repoint,
    )


# A link the carrier is still processing counts as linked; anything else means the number sends as an
# unregistered 10DLC sender, which US carriers block (Telnyx error 40010).
CAMPAIGN_LINKED_STATUSES = {"ASSIGNED", "PENDING_ASSIGNMENT"}


def check_campaign_link(ctx: LinkContext) -> Problem | None:
    campaign_id = ctx.sender.campaign_id
    if not campaign_id:
        return None  # not registered yet: Settings → 10DLC says so, and sends are throttled meanwhile
    number = ctx.sender.phone_number
    try:
        assignment = number_campaign_assignment(phone_number=number, provider=ctx.sender.provider)
    except TenDlcUnsupported:
        return None  # Twilio: registration is done by support, outside this API
    except TenDlcError as exc:
        if exc.status != 404:
            raise NumberError(exc.reason, transient=exc.transient, status=exc.status) from exc
        assignment = {}  # the registrar has no link for this number at all
    linked_to = str(assignment.get("campaignId") or "")
    status = str(assignment.get("assignmentStatus") or "")
    if status in CAMPAIGN_LINKED_STATUSES and linked_to in ("", campaign_id):
        return None

    def relink() -> str:
        try:
            link_number_to_campaign(phone_number=number, campaign_id=campaign_id, provider=ctx.sender.provider)
        except TenDlcError as exc:
            raise NumberError(exc.reason, transient=exc.transient, status=exc.status) from exc
        return f"Linked {number} back to its 10DLC campaign."

    if not assignment:
        where = "isn't linked to any 10DLC campaign"
    elif linked_to and linked_to != campaign_id:
        where = "is linked to another 10DLC campaign"
    else:
        where = f"lost its link to the church's 10DLC campaign (the registry says “{status or 'unknown'}”)"
    return Problem(
        "campaign_unlinked",
        f"{number} {where}, so US carriers would block its texts as unregistered.",
        repair=relink,
    )


# The checks, in order; each reads ``ctx.state`` and returns a Problem (with a repair when the provider API
# can fix it) or None. Later checks assume the earlier ones passed (a released number has no profile).
LINK_CHECKS: list[LinkCheck] = [
    check_number_is_ours,
    check_messaging_profile,
    check_webhook,
    check_campaign_link,  # needs an active number on our profile, so after the checks above
]


@dataclass
class CheckReport:
    """What one inspection found and did. ``error`` is set when the provider could not be asked at all
    (the verdict is then unknown, and the number's status is left as it was)."""

    problems: list[str] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    unresolved: list[Problem] = field(default_factory=list)
    error: str = ""
    provider_number_id: str = ""

    @property
    def outcome(self) -> str:
        if self.error or self.unresolved:
            return NumberCheck.Outcome.FAILED
        return NumberCheck.Outcome.REPAIRED if self.repairs else NumberCheck.Outcome.OK


def inspect_and_repair(sender: SenderNumber, checks: list[LinkCheck] | None = None) -> CheckReport:
    """Ask the provider about ``sender`` and repair what can be repaired. Provider calls only, no writes."""
    report = CheckReport()
    provider = get_provider(sender.provider)
    try:
        ctx = LinkContext(
            sender=sender,
            provider=provider,
            state=provider.inspect_number(
                phone_number=sender.phone_number, provider_number_id=sender.provider_number_id
            ),
        )
    except NumberError as exc:
        report.error = exc.reason
        return report
    for check in LINK_CHECKS if checks is None else checks:
        try:
            problem = check(ctx)
        except NumberError as exc:  # a check that must ask the provider again (the 10DLC registry)
            report.error = exc.reason
            break
        if problem is None:
            continue
        report.problems.append(problem.text)
        if problem.repair is not None:
            try:
                report.repairs.append(problem.repair())
                ctx.refresh()
                problem = check(ctx)  # did the repair take?
            except NumberError as exc:
                problem.text += f" We tried to fix it but couldn't: {exc.reason}"
                if exc.transient:
                    report.error = exc.reason
        if problem is not None:
            report.unresolved.append(problem)
            if problem.fatal:
                break
    report.provider_number_id = ctx.state.provider_number_id
    return report


def sender_number_check(*, sender_id: int, acting_user: User | None = None) -> NumberCheck | None:
    """Check one number and record the result (``None`` if it was deleted or released meanwhile).

    Status: healthy (or repaired) → ACTIVE; problems left → NEEDS_ATTENTION with them as ``status_detail``
    and the owner emailed, unless they were already emailed about exactly these problems. A PENDING number
    whose purchase has not shown up yet stays PENDING. If the provider could not be reached the status is
    left alone: an outage is ours to retry, not the church's to fix.
    """
    sender = SenderNumber.objects.filter(pk=sender_id).exclude(status=SenderNumber.Status.RELEASED).first()
    if sender is None:
        return None
    if sender.status == SenderNumber.Status.PENDING:
        # An overdue order whose completion webhook was lost: settle it first, as the webhook would have.
        numbers.number_order_refresh(sender=sender)
        sender.refresh_from_db()
    if (
        sender.status == SenderNumber.Status.NEEDS_ATTENTION
        and sender.provider_order_id
        and not sender.last_verified_at
    ):
        # The purchase itself failed: there is no number to inspect, and the order's reason is the news.
        problem = Problem("order_failed", sender.status_detail, fatal=True)
        report = CheckReport(problems=[problem.text], unresolved=[problem])
    else:
        report = inspect_and_repair(sender)
    now = timezone.now()
    alert = False
    with transaction.atomic():
        sender = SenderNumber.objects.select_for_update().filter(pk=sender_id).first()
        if sender is None or sender.status == SenderNumber.Status.RELEASED:
            return None
        fields = ["status", "status_detail", "alerted_problems", "last_verified_at", "provider_number_id"]
        if report.provider_number_id:
            sender.provider_number_id = report.provider_number_id
        if report.unresolved and not report.error:
            if sender.status != SenderNumber.Status.PENDING:
                sender.status = SenderNumber.Status.NEEDS_ATTENTION
                sender.status_detail = " ".join(p.text for p in report.unresolved)
                key = ",".join(sorted({p.code for p in report.unresolved}))[:200]
                alert = sender.alerted_problems != key
                sender.alerted_problems = key
        elif not report.error:
            sender.status = SenderNumber.Status.ACTIVE
            sender.status_detail = ""
            sender.alerted_problems = ""  # healthy again: the next problem deserves a new email
            sender.last_verified_at = now
        sender.save(update_fields=fields)
        check = NumberCheck.objects.create(
            church_id=sender.church_id,
            sender=sender,
            checked_at=now,
            outcome=report.outcome,
            problems=report.problems,
            repairs=report.repairs,
            error=report.error or " ".join(p.text for p in report.unresolved),
            triggered_by=acting_user,
        )
        if report.repairs or acting_user is not None:
            audit_record(
                church_id=sender.church_id,
                actor=acting_user,
                action="sender_number.checked",
                target=sender,
                data={"outcome": report.outcome, "repairs": report.repairs},
            )
        if alert:
            events.emit(church=sender.church_id, type="number.needs_attention", data=event_data.number_data(sender))
            transaction.on_commit(lambda: _email_owners(sender_id=sender.pk))
    return check


def sender_numbers_due(*, now=None) -> list[int]:
    """Every number worth checking: all but released ones, and pending ones only once their order is
    overdue (a pending order is normally finished by its webhook)."""
    now = now or timezone.now()
    return list(
        SenderNumber.objects.exclude(status=SenderNumber.Status.RELEASED)
        .exclude(status=SenderNumber.Status.PENDING, created_at__gt=now - PENDING_GRACE)
        .order_by("id")
        .values_list("pk", flat=True)
    )


def number_checks_prune(*, now=None) -> int:
    """Forget checks older than CHECK_RETENTION (one DELETE; runs with each periodic sweep)."""
    cutoff = (now or timezone.now()) - CHECK_RETENTION
    deleted, _ = NumberCheck.objects.filter(checked_at__lt=cutoff).delete()
    return deleted


def _email_owners(*, sender_id: int) -> None:
    sender = SenderNumber.objects.select_related("church").filter(pk=sender_id).first()
    if sender is None:
        return
    recipients = owner_emails(church=sender.church)
    if not recipients:
        return
    context = {
        "church": sender.church,
        "sender": sender,
        "numbers_url": settings.PUBLIC_BASE_URL + reverse("numbers"),
    }
    body = render_to_string("messaging/email/number_problem.txt", context)
    try:
        send_mail(
            f"{sender.church.name}: your texting number {sender.phone_number} needs attention",
            body,
            settings.DEFAULT_FROM_EMAIL,
            recipients,
        )
    except Exception:  # the check is recorded either way; support sees the status in admin
        logger.exception("could not email the owners about a number problem", extra={"sender_id": sender_id})
