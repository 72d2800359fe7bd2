"""The consent writer: the only code that changes ``Member.sms_status``. Every change appends a
ConsentEvent in the same transaction, and members who become subscribed are announced after commit
(``churches.signals.members_subscribed``: messaging sends the welcome text from it).

Two entry points with one rule (``_decide``):

- ``consent_record``: one member (pages, API, inbound texts). It always appends the event — a
  repeated START is still something the member said — and raises when the rule refuses.
- ``consent_record_many``: a set of members (CSV import, API bulk upsert), in a fixed number of
  statements whatever the count. It records only changes: re-importing the same file must not pile up
  ledger rows. Members the rule refuses are returned, not raised, so one opted-out member does not fail
  a batch.

The rule (CTIA / TCPA): after an opt-out only the member can opt back in — by texting START or
similar, through a form they filled in themselves, or as reported by the carrier. Staff, imports and
the API cannot; they may record consent for members who never consented."""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from churches.event_data import consent_data
from churches.models import ApiKey, Church, ConsentEvent, Member, SmsStatus, User
from churches.selectors import member_get
from churches.signals import announce_members_subscribed
from koinonia import events
from koinonia.exceptions import BusinessRuleError

__all__ = ["MEMBER_INITIATED_SOURCES", "ConsentBatch", "consent_record", "consent_record_many"]

MEMBER_INITIATED_SOURCES = {
    ConsentEvent.Source.KEYWORD,
    ConsentEvent.Source.WEB_FORM,
    ConsentEvent.Source.PROVIDER_REPORT,
}
_STATUS_AFTER = {ConsentEvent.Kind.OPT_IN: SmsStatus.SUBSCRIBED, ConsentEvent.Kind.OPT_OUT: SmsStatus.UNSUBSCRIBED}

_EVENT_AFTER = {SmsStatus.SUBSCRIBED: "member.opted_in", SmsStatus.UNSUBSCRIBED: "member.opted_out"}

_CHANGE, _UNCHANGED, _REFUSED = "change", "unchanged", "refused"


def _decide(current: str, kind: str, source: str) -> str:
    """What recording ``kind`` from ``source`` does to a member whose status is ``current``."""
    opted_out = current == SmsStatus.UNSUBSCRIBED
    if kind == ConsentEvent.Kind.OPT_IN and opted_out and source not in MEMBER_INITIATED_SOURCES:
        return _REFUSED
    new_status = _STATUS_AFTER.get(kind)
    return _CHANGE if new_status and new_status != current else _UNCHANGED


def _check_kind_and_source(kind: str, source: str) -> None:
    if kind not in ConsentEvent.Kind.values or source not in ConsentEvent.Source.values:
        raise BusinessRuleError("Unknown consent kind or source.", field="kind")


def _actor(user: User | None) -> User | None:
    return user if user is not None and getattr(user, "pk", None) else None


def _move_status(*, church: Church, member_ids: list[int], new_status: str, source: str, now) -> None:
    # The one statement that writes sms_status (both entry points use it).
    Member.objects.for_church(church).filter(pk__in=member_ids).update(sms_status=new_status, updated_at=now)
    events.emit_many(
        church=church,
        type=_EVENT_AFTER[new_status],
        items=(consent_data(member_id=i, sms_status=new_status, source=source, occurred_at=now) for i in member_ids),
    )
    if new_status == SmsStatus.SUBSCRIBED:
        announce_members_subscribed(church_id=church.pk, member_ids=member_ids)


@transaction.atomic
def consent_record(
    *,
    church: Church,
    member: Member,
    kind: str,
    source: str,
    raw_text: str = "",
    actor: User | None = None,
    api_key: ApiKey | None = None,
) -> ConsentEvent:
    """Append to the ledger and move the member's sms_status with it, in one transaction."""
    _check_kind_and_source(kind, source)
    locked = member_get(church=church, id=member.pk, queryset=Member.objects.select_for_update())
    decision = _decide(locked.sms_status, kind, source)
    if decision == _REFUSED:
        raise BusinessRuleError(
            "This member opted out. Only they can opt back in, by texting START to your number.",
            field="sms_status",
            code="opted_out",
            status=409,
        )
    event = ConsentEvent.objects.create(
        church=church,
        member=locked,
        kind=kind,
        source=source,
        raw_text=raw_text[:2000],
        actor=_actor(actor),
        api_key=api_key,
    )
    if decision == _CHANGE:
        now = timezone.now()
        _move_status(church=church, member_ids=[locked.pk], new_status=_STATUS_AFTER[kind], source=source, now=now)
        member.sms_status = _STATUS_AFTER[kind]
        member.updated_at = now
    return event


@dataclass
class ConsentBatch:
    """What ``consent_record_many`` did, by member id: ``changed`` (a ledger row each), ``unchanged``
    (already in that state: no row), ``refused`` (opted out; only they can opt back in)."""

    changed: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)


def consent_record_many(
    *,
    church: Church,
    member_ids: Iterable[int],
    kind: str,
    source: str,
    acting_user: User | None,
    raw_text: str = "",
    api_key: ApiKey | None = None,
) -> ConsentBatch:
    """Record an opt-in or opt-out for many members of ``church`` at once, by the same rule as
    ``consent_record``: three statements whatever the count (lock the members in id order, insert the
    ledger rows, move sms_status). Ids of other churches' members are ignored."""
    _check_kind_and_source(kind, source)
    if kind not in _STATUS_AFTER:
        raise BusinessRuleError("Only opt-ins and opt-outs can be recorded for many members.", field="kind")
    batch = ConsentBatch()
    ids = sorted({int(i) for i in member_ids})
    if not ids:
        return batch
    # Checked before the transaction: a refusal must not spoil the caller's. No savepoint of its own:
    # nothing below refuses, and bulk callers already hold a transaction (a savepoint would be two
    # more statements per batch).
    with transaction.atomic(savepoint=False):
        # Locked in id order, like every other multi-member lock, so concurrent batches can't deadlock;
        # a member's own STOP arriving meanwhile waits, or is seen here.
        current = Member.objects.for_church(church).select_for_update().filter(pk__in=ids).order_by("pk")
        buckets = {_CHANGE: batch.changed, _UNCHANGED: batch.unchanged, _REFUSED: batch.refused}
        for member_id, status in current.values_list("pk", "sms_status"):
            buckets[_decide(status, kind, source)].append(member_id)
        if batch.changed:
            now = timezone.now()
            actor, text = _actor(acting_user), raw_text[:2000]
            ConsentEvent.objects.bulk_create(
                [
                    ConsentEvent(
                        church=church,
                        member_id=member_id,
                        kind=kind,
                        source=source,
                        raw_text=text,
                        actor=actor,
                        api_key=api_key,
                        created_at=now,
                    )
                    for member_id in batch.changed
                ],
                batch_size=2000,
            )
            _move_status(
                church=church, member_ids=batch.changed, new_status=_STATUS_AFTER[kind], source=source, now=now
            )
        return batch
