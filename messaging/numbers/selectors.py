"""Reads of the church's sender numbers."""

from django.db.models import OuterRef, QuerySet, Subquery

from churches.models import Church
from koinonia.tenancy import access_function, church_object_get
from messaging.numbers.models import NumberCheck, SenderNumber, TenDlcCampaign, TenDlcNumberAssignment


@access_function(SenderNumber)
def sender_number_get(*, church: Church, id: int, queryset: QuerySet[SenderNumber] | None = None) -> SenderNumber:
    return church_object_get(SenderNumber.objects if queryset is None else queryset, church=church, id=id)


def sender_numbers_with_health(*, church: Church) -> QuerySet[SenderNumber]:
    """The church's numbers, each with its latest check (``last_check_at``, ``last_check_outcome``) and its
    link to the church's current 10DLC campaign (``tendlc_assignment_status``: the provider's assignment
    status, None when the number is not on it), from one query."""
    latest = NumberCheck.objects.for_church(church).filter(sender=OuterRef("pk")).order_by("-checked_at", "-id")
    # The current campaign is the newest (a resubmission supersedes a rejected one); an assignment to an
    # earlier campaign says nothing about today.
    current = TenDlcCampaign.objects.for_church(church).order_by("-id").values("id")[:1]
    assignment = TenDlcNumberAssignment.objects.for_church(church).filter(
        sender_number=OuterRef("pk"), campaign_id=Subquery(current)
    )
    return SenderNumber.objects.for_church(church).annotate(
        last_check_at=Subquery(latest.values("checked_at")[:1]),
        last_check_outcome=Subquery(latest.values("outcome")[:1]),
        tendlc_assignment_status=Subquery(assignment.values("status")[:1]),
    )


def sender_number_list(*, church: Church) -> list[SenderNumber]:
    """Newest first, with their health (``sender_numbers_with_health``): the settings page lists them all."""
    return list(sender_numbers_with_health(church=church).order_by("-created_at", "-id"))
