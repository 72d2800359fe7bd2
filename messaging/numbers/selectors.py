"""Reads of the church's sender numbers."""

from django.db.models import OuterRef, QuerySet, Subquery

from churches.models import Church
from koinonia.tenancy import access_function, church_object_get
from messaging.numbers.models import NumberCheck, SenderNumber


@access_function(SenderNumber)
def sender_number_get(*, church: Church, id: int, queryset: QuerySet[SenderNumber] | None = None) -> SenderNumber:
    return church_object_get(SenderNumber.objects if queryset is None else queryset, church=church, id=id)


def sender_number_list(*, church: Church) -> list[SenderNumber]:
    """The church's numbers, newest first, each with its latest check (``last_check_at``,
    ``last_check_outcome``) from one query: the settings page lists them all."""
    latest = NumberCheck.objects.for_church(church).filter(sender=OuterRef("pk")).order_by("-checked_at", "-id")
    return list(
        SenderNumber.objects.for_church(church)
        .annotate(
            last_check_at=Subquery(latest.values("checked_at")[:1]),
            last_check_outcome=Subquery(latest.values("outcome")[:1]),
        )
        .order_by("-created_at", "-id")
    )
