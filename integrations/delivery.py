"""Posting events to endpoints, retrying, and giving up.

A delivery row is claimed (``claimed_until``), posted outside any transaction, and its result written
under the endpoint's row lock. 2xx is success. Anything else (an error status, a redirect, a timeout,
a refused address) fails the attempt; an automatic delivery then schedules the next attempt on
``RETRY_SCHEDULE`` (Standard Webhooks / Svix: 5 s, 5 min, 30 min, 2 h, 5 h, then 10 h six times —
twelve attempts over about 2.8 days), each delay scaled by ``WEBHOOK_RETRY_BASE_SECONDS`` and spread
±10% so a recovering receiver isn't met by every retry at once. Due retries are picked up by the
sweeper (``tasks.sweep_webhook_deliveries``).

An event that used its last attempt while nothing else to the endpoint succeeded since that event was
announced means the endpoint has been failing for about three days: it is disabled, with the reason,
and the church's owners are emailed. Redeliveries and test events are one-off attempts that take no
part in that rule."""

import json
import logging
import random
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from churches.selectors import owner_emails
from integrations import signing, transport
from integrations.models import WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

RETRY_SCHEDULE = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, *(10 * 3600,) * 6)  # seconds, before scaling
MAX_ATTEMPTS = 1 + len(RETRY_SCHEDULE)
CLAIM_SECONDS = 60  # longer than one attempt can take (connect + read timeouts, TOTAL_SECONDS)
Status = WebhookDelivery.Status


def retry_delay(attempt: int) -> timedelta:
    """How long after failed attempt ``attempt`` (1-based) the next one is due."""
    base = float(getattr(settings, "WEBHOOK_RETRY_BASE_SECONDS", 1.0))
    seconds = RETRY_SCHEDULE[attempt - 1] * base
    return timedelta(seconds=seconds * random.uniform(0.9, 1.1))


def _claim(delivery_id: int, now) -> bool:
    return bool(
        WebhookDelivery.objects.filter(pk=delivery_id, status=Status.PENDING, next_attempt_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
    )


def body_of(payload: dict) -> bytes:
    """The bytes posted for an event: the same on every attempt."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def deliver(*, delivery_id: int) -> str | None:
    """Make one due attempt. Returns its status, or None when there was nothing to do (not due, already
    made, or claimed by another worker). Safe to call twice."""
    now = timezone.now()
    if not _claim(delivery_id, now):
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint", "event").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        result = transport.AttemptResult(error="Not sent: the endpoint is disabled.")
    else:
        body = body_of(delivery.event.payload)
        timestamp = int(now.timestamp())
        headers = signing.headers(
            msg_id=delivery.event_id, timestamp=timestamp, body=body, secrets=endpoint.signing_secrets(now)
        )
        result = transport.post(endpoint.url, body=body, headers=headers)
    return _record(delivery, result, attempted_at=now, sent=endpoint.enabled)


def _record(delivery: WebhookDelivery, result: transport.AttemptResult, *, attempted_at, sent: bool) -> str:
    now = timezone.now()
    disabled = False
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
        delivery.status_code = result.status_code
        delivery.duration_ms = result.duration_ms
        delivery.response_excerpt = result.excerpt
        delivery.error = result.error[:300]
        delivery.attempted_at = attempted_at
        delivery.claimed_until = None
        endpoint_fields = []
        if result.succeeded:
            delivery.status = Status.SUCCEEDED
            endpoint.consecutive_failures, endpoint.failing_since, endpoint.last_success_at = 0, None, now
            endpoint_fields = ["consecutive_failures", "failing_since", "last_success_at"]
        else:
            retries = sent and not delivery.manual and delivery.attempt < MAX_ATTEMPTS
            delivery.status = Status.RETRYING if retries else Status.FAILED
            if retries:
                WebhookDelivery.objects.create(
                    church_id=delivery.church_id,
                    endpoint_id=delivery.endpoint_id,
                    event_id=delivery.event_id,
                    attempt=delivery.attempt + 1,
                    next_attempt_at=now + retry_delay(delivery.attempt),
                    created_at=now,
                )
            if sent:
                endpoint.consecutive_failures += 1
                endpoint.failing_since = endpoint.failing_since or attempted_at
                endpoint_fields = ["consecutive_failures", "failing_since"]
            gave_up = sent and not delivery.manual and not retries
            if gave_up and endpoint.enabled and _failing_throughout(endpoint, delivery):
                endpoint.enabled = False
                endpoint.disabled_at = now
                endpoint.disabled_reason = (
                    f"Disabled automatically on {now:%Y-%m-%d}: every delivery failed for "
                    f"{_span(endpoint.failing_since, now)} ({endpoint.consecutive_failures} attempts in a row)."
                )[:300]
                endpoint_fields += ["enabled", "disabled_at", "disabled_reason"]
                disabled = True
        delivery.save(
            update_fields=[
                "status",
                "status_code",
                "duration_ms",
                "response_excerpt",
                "error",
                "attempted_at",
                "claimed_until",
            ]
        )
        if endpoint_fields:
            endpoint.updated_at = now
            endpoint.save(update_fields=[*endpoint_fields, "updated_at"])
        if disabled:
            endpoint_id = endpoint.pk
            transaction.on_commit(lambda: email_owners_endpoint_disabled(endpoint_id=endpoint_id))
    if disabled:
        logger.warning("webhook endpoint disabled", extra={"endpoint_id": delivery.endpoint_id})
    return delivery.status


def _failing_throughout(endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> bool:
    """Nothing to this endpoint succeeded since the event that just ran out of attempts was announced."""
    return endpoint.last_success_at is None or endpoint.last_success_at < delivery.event.created_at


def _span(since, now) -> str:
    if since is None:
        return "a while"
    hours = (now - since).total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.0f} hours"


def email_owners_endpoint_disabled(*, endpoint_id: int) -> None:
    endpoint = WebhookEndpoint.objects.select_related("church").filter(pk=endpoint_id).first()
    if endpoint is None:
        return
    recipients = owner_emails(church=endpoint.church)
    if not recipients:
        return
    context = {
        "church": endpoint.church,
        "endpoint": endpoint,
        "page_url": settings.PUBLIC_BASE_URL + reverse("webhook_endpoint", args=[endpoint.pk]),
    }
    try:
        send_mail(
            f"{endpoint.church.name}: a webhook endpoint was disabled",
            render_to_string("integrations/email/endpoint_disabled.txt", context),
            settings.DEFAULT_FROM_EMAIL,
            recipients,
        )
    except Exception:  # the endpoint is disabled either way; the settings page says why
        logger.exception("could not email the owners about a disabled webhook endpoint", extra={"id": endpoint_id})


def due_delivery_ids(*, now=None, first_attempt_grace: timedelta = timedelta(seconds=30), limit: int = 1000):
    """Pending attempts that are due and not claimed by a live worker. A first attempt gets a grace
    period: its task was enqueued when the event committed and is normally already running."""
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(status=Status.PENDING, next_attempt_at__lte=now)
        .filter(Q(attempt__gt=1) | Q(created_at__lte=now - first_attempt_grace))
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
