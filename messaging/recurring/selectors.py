"""Reads for recurring messages: the list, one schedule's firings, the choices its form offers, and the
preview of its next send times."""

from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from churches.models import Branch, Church, Group
from koinonia.tenancy import access_function, church_object_get
from messaging.broadcasts.models import Message, MessageTemplate
from messaging.recurring import recurrence
from messaging.recurring.models import RecurringMessage

PREVIEW_COUNT = 5


# --- access functions: the one way to fetch a church's row by id --------------------------------------
# Each raises ``koinonia.exceptions.NotFound`` (404 in pages and API) for a missing id and for another
# church's id alike; ``queryset`` lets a caller add joins, annotations or a row lock without a second query.


@access_function(RecurringMessage)
def recurring_message_get(
    *, church: Church, id: int, queryset: QuerySet[RecurringMessage] | None = None
) -> RecurringMessage:
    return church_object_get(RecurringMessage.objects if queryset is None else queryset, church=church, id=id)


def recurring_list(*, church: Church) -> QuerySet[RecurringMessage]:
    """Newest first (index ``recurring_church_recent``), with the template and author joined."""
    return RecurringMessage.objects.for_church(church).select_related("template", "created_by").order_by("-id")


def recurring_firings(*, church: Church, recurring: RecurringMessage, limit: int = 10) -> list[Message]:
    """The broadcasts a schedule sent, newest first."""
    return list(Message.objects.for_church(church).filter(recurring=recurring).order_by("-id")[:limit])


def recurring_next_runs(*, recurring: RecurringMessage, n: int = PREVIEW_COUNT) -> list[datetime]:
    """The next send times of a saved schedule (none while paused or after it ended)."""
    if recurring.state != "active":
        return []
    return recurrence.preview_next(recurring.schedule, after=max(recurring.next_run_at, timezone.now()), n=n)


def schedule_preview(*, church: Church, n: int = PREVIEW_COUNT, **fields) -> tuple[recurrence.Schedule, list]:
    """An unsaved schedule, validated, and its next ``n`` send times from now."""
    from messaging.recurring.services import clean_schedule, schedule_of

    now = timezone.now()
    schedule = schedule_of(clean_schedule(church=church, values=fields, now=now))
    return schedule, recurrence.preview_next(schedule, after=now, n=n)


def template_choices(*, church: Church) -> list[tuple[int, str]]:
    return list(MessageTemplate.objects.for_church(church).order_by("name", "id").values_list("pk", "name"))


def branch_choices(*, church: Church) -> list[tuple[int, str]]:
    return list(Branch.objects.for_church(church).order_by("name", "id").values_list("pk", "name"))


def group_choices(*, church: Church) -> list[tuple[int, str]]:
    return list(Group.objects.for_church(church).order_by("name", "id").values_list("pk", "name"))
