"""The transactional outbox: ``koinonia.events`` announcements become WebhookEvent rows and one
pending WebhookDelivery per subscribed endpoint, in the emitting transaction (a rollback leaves
nothing; a commit leaves rows the sweeper finds even if the broker loses the task). After commit the
delivery tasks are enqueued.

Cheap when nobody listens: which endpoints of a church are enabled, and for what, is one cached list
per church (``subscriptions``), refreshed whenever an endpoint is saved or deleted. A church without
endpoints costs a cache read per emission; its payloads are never built."""

import json
import logging
from collections.abc import Iterable

from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from integrations.ids import new_event_id
from integrations.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

logger = logging.getLogger(__name__)

# A safety net only: every endpoint change clears the church's entry at once (and again after commit).
SUBSCRIPTIONS_CACHE_SECONDS = 300
DELIVERY_TASK_CHUNK = 25


def _cache_key(church_id: int) -> str:
    return f"webhooks:subscriptions:{church_id}"


def subscriptions(church_id: int) -> list[tuple[int, list[str]]]:
    """``(endpoint id, event types)`` of the church's enabled endpoints, from the cache when it can."""
    key = _cache_key(church_id)
    try:
        cached = cache.get(key)
    except Exception:  # the cache is down: the database answers, and emitting goes on
        cached = None
    if cached is not None:
        return cached
    rows = [
        (pk, list(events or []))
        for pk, events in WebhookEndpoint.objects.for_church(church_id)
        .filter(enabled=True)
        .order_by("pk")
        .values_list("pk", "events")
    ]
    try:
        cache.set(key, rows, SUBSCRIPTIONS_CACHE_SECONDS)
    except Exception:
        logger.warning("could not cache webhook subscriptions", extra={"church_id": church_id})
    return rows


def forget_subscriptions(church_id: int) -> None:
    """Drop the church's cached list now and once more after commit (a reader that filled it from the
    state before this transaction committed must not keep it)."""

    def forget():
        try:
            cache.delete(_cache_key(church_id))
        except Exception:
            logger.warning("could not clear cached webhook subscriptions", extra={"church_id": church_id})

    forget()
    transaction.on_commit(forget)


_SUBSCRIPTION_FIELDS = frozenset({"enabled", "events", "church"})


def _endpoint_changed(sender, instance, update_fields=None, **kwargs) -> None:
    # A delivery's bookkeeping (failure counts, last success) saves with update_fields: no need to
    # make the next emission read the database.
    if update_fields is not None and not _SUBSCRIPTION_FIELDS & set(update_fields):
        return
    forget_subscriptions(instance.church_id)


def connect_cache_invalidation() -> None:
    post_save.connect(_endpoint_changed, sender=WebhookEndpoint, dispatch_uid="integrations.endpoint_saved")
    post_delete.connect(_endpoint_changed, sender=WebhookEndpoint, dispatch_uid="integrations.endpoint_deleted")


def record_emitted(sender=None, *, church_id: int, type: str, items: Iterable, lazy: bool = False, **kwargs) -> None:
    """The ``koinonia.events.emitted`` receiver."""
    endpoint_ids = [pk for pk, events in subscriptions(church_id) if "*" in events or type in events]
    if not endpoint_ids:
        return
    datas = [item() if lazy else item for item in items]
    if datas:
        record_events(church_id=church_id, type=type, datas=datas, endpoint_ids=endpoint_ids)


def _json_safe(data) -> dict:
    # Payload builders may hand datetimes or decimals: stored (and sent) as the API writes them.
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def record_events(
    *, church_id: int, type: str, datas: list, endpoint_ids: list[int], manual: bool = False
) -> list[WebhookDelivery]:
    """One event per item of ``datas`` and one pending delivery per (event, endpoint): two INSERTs
    whatever the count, then the delivery tasks after commit."""
    now = timezone.now()
    stamp = _json_safe({"t": now})["t"]
    events = [
        WebhookEvent(
            id=new_event_id(now),
            church_id=church_id,
            type=type,
            payload={"type": type, "timestamp": stamp, "data": _json_safe(data)},
            created_at=now,
        )
        for data in datas
    ]
    deliveries = [
        WebhookDelivery(
            church_id=church_id,
            endpoint_id=endpoint_id,
            event=event,
            attempt=1,
            manual=manual,
            next_attempt_at=now,
            created_at=now,
        )
        for event in events
        for endpoint_id in endpoint_ids
    ]
    with transaction.atomic(savepoint=False):
        WebhookEvent.objects.bulk_create(events, batch_size=1000)
        WebhookDelivery.objects.bulk_create(deliveries, batch_size=1000)
    ids = [delivery.pk for delivery in deliveries if delivery.pk is not None]
    transaction.on_commit(lambda: enqueue_deliveries(ids))
    return deliveries


def enqueue_deliveries(delivery_ids: list[int]) -> None:
    """A task per chunk of deliveries. If the broker is down the rows wait for the sweeper."""
    from integrations.tasks import deliver_webhooks

    try:
        for start in range(0, len(delivery_ids), DELIVERY_TASK_CHUNK):
            deliver_webhooks.delay(delivery_ids[start : start + DELIVERY_TASK_CHUNK])
    except Exception as exc:
        if deliver_webhooks.app.conf.task_always_eager:
            raise  # in-process (tests): a failure is a bug to see, not a broker outage
        logger.warning("could not enqueue webhook deliveries; the sweeper will", extra={"error": repr(exc)})
