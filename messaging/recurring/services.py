"""Writes for recurring messages: create, edit, pause, resume, delete, and firing the ones that are due.

Firing (``recurring_fire_due``, run by celery-beat every minute) sends each due schedule through
``message_send`` — the one broadcast path, with plan limits, the sending number and quiet hours — under
the firing key ``recurring:<id>:<send time in UTC>``. The schedule row is locked (SKIP LOCKED) and
advanced in the same transaction as the broadcast is created, and the key is unique per church, so a
duplicate tick, a second beat or a retried task finds the same message and never sends twice.
"""

import logging
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from churches.models import ApiKey, Church, User
from churches.services import audit_record
from koinonia.exceptions import BusinessRuleError
from messaging import enqueue
from messaging.broadcasts.audience import clean_audience
from messaging.broadcasts.models import Message, MessageTemplate
from messaging.broadcasts.services import message_send, validate_body
from messaging.recurring import recurrence
from messaging.recurring.models import RecurringMessage

logger = logging.getLogger(__name__)

SCHEDULE_FIELDS = (
    "frequency",
    "interval",
    "weekdays",
    "month_day",
    "nth_week",
    "nth_weekday",
    "rrule",
    "time_of_day",
    "timezone",
    "start_date",
    "end_date",
    "count",
)
EDITABLE_FIELDS = ("name", "body", "template_id", "audience", *SCHEDULE_FIELDS)
# Fields that belong to one frequency only; the others are cleared so a row never carries stale parts.
_FREQUENCY_FIELDS = {
    recurrence.DAILY: set(),
    recurrence.WEEKLY: {"weekdays"},
    recurrence.MONTHLY: {"month_day", "nth_week", "nth_weekday"},
    recurrence.CUSTOM: {"rrule"},
}
_CLEARED = {"weekdays": [], "month_day": None, "nth_week": None, "nth_weekday": None, "rrule": ""}


def firing_key(recurring_id: int, at: datetime) -> str:
    """The idempotency key of one firing: the same schedule and send time always give the same key."""
    return f"recurring:{recurring_id}:{at.astimezone(UTC).isoformat()}"


def _misfire_grace() -> timedelta:
    return timedelta(seconds=getattr(settings, "RECURRING_MISFIRE_GRACE_SECONDS", 3600))


def schedule_of(values: dict) -> recurrence.Schedule:
    return recurrence.Schedule(
        frequency=values["frequency"],
        time_of_day=values["time_of_day"],
        timezone=values["timezone"],
        start_date=values["start_date"],
        interval=values.get("interval") or 1,
        weekdays=tuple(values.get("weekdays") or ()),
        month_day=values.get("month_day"),
        nth_week=values.get("nth_week"),
        nth_weekday=values.get("nth_weekday"),
        rrule=values.get("rrule") or "",
        end_date=values.get("end_date"),
        count=values.get("count"),
    )


def clean_schedule(*, church: Church, values: dict, now: datetime | None) -> dict:
    """Validate and normalize the schedule fields of ``values`` (the other keys pass through)."""
    values = dict(values)
    frequency = values.get("frequency")
    if frequency not in recurrence.FREQUENCIES:
        raise BusinessRuleError("Choose daily, weekly, monthly or a custom rule.", field="frequency")
    for name, empty in _CLEARED.items():
        if name not in _FREQUENCY_FIELDS[frequency]:
            values[name] = empty
    if frequency == recurrence.WEEKLY:
        values["weekdays"] = sorted({int(day) for day in values.get("weekdays") or ()})
    if frequency == recurrence.CUSTOM:
        values["rrule"] = (values.get("rrule") or "").strip()
    if not isinstance(values.get("time_of_day"), time):
        raise BusinessRuleError("Give the time of day to send it.", field="time_of_day")
    if not isinstance(values.get("start_date"), date):
        raise BusinessRuleError("Give the date of the first send.", field="start_date")
    values["time_of_day"] = values["time_of_day"].replace(second=0, microsecond=0, tzinfo=None)
    values["timezone"] = values.get("timezone") or church.timezone
    values["interval"] = values.get("interval") or 1
    recurrence.validate(schedule_of(values), now=now)
    if frequency == recurrence.CUSTOM:
        values["rrule"] = recurrence.normalize_rrule(values["rrule"])
    return values


def _clean(church: Church, values: dict, *, now: datetime) -> dict:
    """Validate everything a recurring message is made of; return the values to store."""
    values = clean_schedule(church=church, values=values, now=now)
    template_id = values.get("template_id")
    template = None
    if template_id:
        template = MessageTemplate.objects.for_church(church).filter(pk=template_id).first()
        if template is None:
            raise BusinessRuleError("Unknown template.", field="template_id")
        values["body"] = template.body
    values["template_id"] = template.pk if template else None
    values["body"] = values.get("body") or ""
    validate_body(values["body"])
    values["audience"] = clean_audience(church=church, audience=values.get("audience"))
    values["name"] = (values.get("name") or "").strip()[:120]
    return values


@transaction.atomic
def recurring_create(
    *, church: Church, acting_user: User | None, api_key: ApiKey | None = None, **fields
) -> RecurringMessage:
    """A new, active recurring message. ``fields``: name, body or template_id, audience, and the
    schedule (frequency, interval, weekdays, month_day or nth_week + nth_weekday, rrule, time_of_day,
    timezone (default: the church's), start_date, end_date or count)."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"Unknown fields: {sorted(unknown)}")
    now = timezone.now()
    values = _clean(church, fields, now=now)
    recurring = RecurringMessage.objects.create(
        church=church,
        created_by=acting_user if getattr(acting_user, "pk", None) else None,
        next_run_at=recurrence.next_run(schedule_of(values), after=now, inclusive=True),
        created_at=now,
        updated_at=now,
        **values,
    )
    audit_record(
        church=church,
        actor=acting_user,
        api_key=api_key,
        action="recurring.created",
        target=recurring,
        data={"schedule": recurrence.describe(recurring.schedule), "audience": recurring.audience},
    )
    return recurring


@transaction.atomic
def recurring_update(
    *,
    church: Church,
    recurring: RecurringMessage,
    acting_user: User | None,
    api_key: ApiKey | None = None,
    **fields,
) -> RecurringMessage:
    """Change any of the fields ``recurring_create`` takes (only those given). The next send time is
    worked out again from now: times missed before the edit are not sent."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"Unknown fields: {sorted(unknown)}")
    locked = RecurringMessage.objects.for_church(church).select_for_update().get(pk=recurring.pk)
    now = timezone.now()
    current = {name: getattr(locked, name) for name in EDITABLE_FIELDS}
    values = _clean(church, {**current, **fields}, now=now)
    for name, value in values.items():
        setattr(locked, name, value)
    locked.updated_at = now
    if locked.active:
        locked.next_run_at = recurrence.next_run(locked.schedule, after=now, inclusive=True)
    locked.save(update_fields=[*values, "updated_at", "next_run_at"])
    audit_record(
        church=church,
        actor=acting_user,
        api_key=api_key,
        action="recurring.updated",
        target=locked,
        data={"schedule": recurrence.describe(locked.schedule), "fields": sorted(fields)},
    )
    return locked


@transaction.atomic
def recurring_pause(
    *, church: Church, recurring: RecurringMessage, acting_user: User | None, api_key: ApiKey | None = None
) -> RecurringMessage:
    """Stop firing until resumed. Pausing a paused schedule changes nothing."""
    locked = RecurringMessage.objects.for_church(church).select_for_update().get(pk=recurring.pk)
    if locked.active:
        locked.active = False
        locked.updated_at = timezone.now()
        locked.save(update_fields=["active", "updated_at"])
        audit_record(church=church, actor=acting_user, api_key=api_key, action="recurring.paused", target=locked)
    return locked


@transaction.atomic
def recurring_resume(
    *, church: Church, recurring: RecurringMessage, acting_user: User | None, api_key: ApiKey | None = None
) -> RecurringMessage:
    """Start firing again from the next send time after now; times missed while paused are not sent."""
    locked = RecurringMessage.objects.for_church(church).select_for_update().get(pk=recurring.pk)
    if locked.active and locked.next_run_at is not None:
        return locked
    now = timezone.now()
    next_run_at = recurrence.next_run(locked.schedule, after=now, inclusive=True)
    if next_run_at is None:
        raise BusinessRuleError(
            "This schedule has ended. Move its end date later or send it more times to start it again.",
            code="conflict",
            status=409,
        )
    locked.active, locked.next_run_at, locked.updated_at = True, next_run_at, now
    locked.save(update_fields=["active", "next_run_at", "updated_at"])
    audit_record(church=church, actor=acting_user, api_key=api_key, action="recurring.resumed", target=locked)
    return locked


@transaction.atomic
def recurring_delete(
    *, church: Church, recurring: RecurringMessage, acting_user: User | None, api_key: ApiKey | None = None
) -> None:
    """Delete the schedule. Messages it already sent stay in the message list."""
    audit_record(
        church=church,
        actor=acting_user,
        api_key=api_key,
        action="recurring.deleted",
        target=recurring,
        data={"name": recurring.name, "schedule": recurrence.describe(recurring.schedule)},
    )
    RecurringMessage.objects.for_church(church).filter(pk=recurring.pk).delete()


# --- Firing --------------------------------------------------------------------------------------


def recurring_fire_due(*, now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Fire every due schedule (each in its own transaction, so one refusal never holds up another)."""
    now = now or timezone.now()
    due = list(
        RecurringMessage.objects.filter(active=True, next_run_at__lte=now)
        .order_by("next_run_at")
        .values_list("pk", flat=True)[:limit]
    )
    stats = {"fired": 0, "refused": 0, "missed": 0, "busy": 0}
    for recurring_id in due:
        stats[recurring_fire(recurring_id=recurring_id, now=now)] += 1
    return stats


@transaction.atomic
def recurring_fire(*, recurring_id: int, now: datetime) -> str:
    """Send one due schedule's firing and advance it. Returns fired / refused / missed, or busy when
    another scheduler holds it (or already advanced it)."""
    recurring = (
        RecurringMessage.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("church", "template", "created_by")
        .filter(pk=recurring_id, active=True, next_run_at__lte=now)
        .first()
    )
    if recurring is None:
        return "busy"
    schedule = recurring.schedule
    due_at = recurrence.latest_due(schedule, since=recurring.next_run_at, now=now) or recurring.next_run_at
    local_due = due_at.astimezone(schedule.tz)
    update_fields = ["next_run_at"]
    if now - due_at > _misfire_grace():
        outcome = "missed"
        recurring.last_error = (
            f"Not sent for {local_due:%a %b %-d, %-I:%M %p}: the scheduler was not running then, and it was "
            "too late to send when it came back."
        )
    else:
        try:
            with transaction.atomic():
                message = message_send(
                    church=recurring.church,
                    author=recurring.created_by,
                    body=recurring.text,
                    audience=recurring.audience,
                    idempotency_key=firing_key(recurring.pk, due_at),
                )
                first_time = message.recurring_id is None
                if first_time:
                    Message.objects.filter(pk=message.pk).update(recurring=recurring)
        except BusinessRuleError as exc:
            outcome = "refused"
            recurring.last_error = f"Not sent for {local_due:%a %b %-d, %-I:%M %p}: {exc.message}"
        else:
            outcome = "fired"
            recurring.last_error = ""
            if first_time:
                recurring.fired_count += 1
                recurring.last_fired_at = due_at
                update_fields += ["fired_count", "last_fired_at"]
    recurring.last_error_at = now if recurring.last_error else None
    recurring.next_run_at = recurrence.next_run(schedule, after=max(now, due_at))
    recurring.save(update_fields=[*update_fields, "last_error", "last_error_at"])
    if outcome != "fired":
        logger.warning("recurring message not sent", extra={"recurring_id": recurring.pk, "outcome": outcome})
    return outcome


def scheduled_messages_release(*, now: datetime | None = None, limit: int = 500) -> int:
    """Hand scheduled one-off messages whose time has come to the pipeline (``prepare_message`` is
    idempotent, so the sweeper's safety net doing the same is harmless)."""
    now = now or timezone.now()
    due = list(
        Message.objects.filter(status=Message.Status.SCHEDULED, scheduled_at__lte=now, prepared_at__isnull=True)
        .order_by("scheduled_at")
        .values_list("pk", flat=True)[:limit]
    )
    for message_id in due:
        enqueue.message_prepare_now(message_id)
    return len(due)
