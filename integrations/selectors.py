"""Reads for outgoing webhooks: the access functions (one query; another church's id is the same 404 as
a missing one) and the lists the page and the API show."""

from django.db.models import QuerySet

from churches.models import Church
from integrations.models import WebhookDelivery, WebhookEndpoint
from koinonia.tenancy import access_function, church_object_get


@access_function(WebhookEndpoint)
def webhook_endpoint_get(
    *, church: Church, id: int, queryset: QuerySet[WebhookEndpoint] | None = None
) -> WebhookEndpoint:
    return church_object_get(WebhookEndpoint.objects if queryset is None else queryset, church=church, id=id)


@access_function(WebhookDelivery)
def webhook_delivery_get(
    *, church: Church, id: int, queryset: QuerySet[WebhookDelivery] | None = None
) -> WebhookDelivery:
    return church_object_get(WebhookDelivery.objects if queryset is None else queryset, church=church, id=id)


def webhook_endpoint_list(*, church: Church) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.for_church(church).order_by("created_at", "pk")


def webhook_delivery_log(*, church: Church, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """The endpoint's attempts, newest first, with their event's type."""
    return (
        WebhookDelivery.objects.for_church(church)
        .filter(endpoint=endpoint)
        .select_related("event")
        .defer("event__payload")
        .order_by("-id")
    )
