"""Writes for outgoing webhooks: endpoints (create, edit, delete, rotate the secret), redelivery and
test events. Keyword-only, ``church`` first; refusals are ``BusinessRuleError`` (400/409 in the API,
a message on the page)."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from churches.models import ApiKey, Church, User
from churches.services import audit_record
from integrations import outbox, signing, transport
from integrations.models import WebhookDelivery, WebhookEndpoint
from koinonia import events, netguard
from koinonia.exceptions import BusinessRuleError

MAX_ENDPOINTS_PER_CHURCH = 20
URL_MAX_LENGTH = 2000


def secret_overlap() -> timedelta:
    return timedelta(hours=float(getattr(settings, "WEBHOOK_SECRET_OVERLAP_HOURS", 24)))


def clean_url(url: str) -> str:
    """The URL as stored, or a refusal naming the problem. Where private targets are not allowed
    (production) the host must be public already: literal addresses and names that resolve to private,
    loopback, link-local or reserved addresses are refused. A name that doesn't resolve now is accepted
    (DNS may be briefly down); every delivery checks the addresses again anyway."""
    url = (url or "").strip()
    if not url:
        raise BusinessRuleError("Give the endpoint's URL.", field="url")
    if len(url) > URL_MAX_LENGTH:
        raise BusinessRuleError(f"The URL is longer than {URL_MAX_LENGTH} characters.", field="url")
    allow_private = transport.allow_private_targets()
    try:
        _, host, port = transport.check_url_shape(url, allow_private=allow_private)
        if not allow_private:
            netguard.resolve_checked(host, port, allow_private=False, what="URL's host")
    except (transport.TargetRefused, netguard.AddressRefused) as exc:
        message = str(exc)
        if isinstance(exc, netguard.AddressRefused):
            message = "The URL points at a private or reserved address; use a public one."
        raise BusinessRuleError(message, field="url") from exc
    except netguard.ResolutionFailed:
        pass
    return url


def clean_events(types) -> list[str]:
    """The subscribed event types, deduplicated in catalogue order; unknown names are refused by name."""
    if not isinstance(types, list | tuple) or not all(isinstance(t, str) for t in types):
        raise BusinessRuleError("Give the event types as a list of names.", field="events")
    wanted = {t.strip() for t in types if t.strip()}
    if not wanted:
        raise BusinessRuleError('Choose at least one event type (or "*" for all).', field="events")
    unknown = sorted(wanted - set(events.EVENT_TYPES) - {"*"})
    if unknown:
        raise BusinessRuleError(f"Unknown event types: {', '.join(unknown)}.", field="events")
    if "*" in wanted:
        return ["*"]
    return [t for t in events.EVENT_TYPES if t in wanted]


def _audit(church, acting_user, api_key, action, endpoint, data=None):
    audit_record(
        church=church,
        actor=acting_user if getattr(acting_user, "pk", None) else None,
        api_key=api_key,
        action=action,
        target=endpoint,
        data=data or {},
    )


@transaction.atomic
def webhook_endpoint_create(
    *,
    church: Church,
    acting_user: User | None,
    url: str,
    events: list[str],
    description: str = "",
    enabled: bool = True,
    api_key: ApiKey | None = None,
) -> tuple[WebhookEndpoint, str]:
    """Returns the endpoint and its signing secret (``whsec_…``), which is shown this once."""
    url, types = clean_url(url), clean_events(events)
    if WebhookEndpoint.objects.for_church(church).count() >= MAX_ENDPOINTS_PER_CHURCH:
        raise BusinessRuleError(
            f"A church can have at most {MAX_ENDPOINTS_PER_CHURCH} webhook endpoints.", code="conflict", status=409
        )
    secret = signing.new_secret()
    endpoint = WebhookEndpoint.objects.create(
        church=church,
        url=url,
        description=(description or "").strip()[:500],
        events=types,
        enabled=bool(enabled),
        secret=secret,
        created_by=acting_user if getattr(acting_user, "pk", None) else None,
    )
    _audit(church, acting_user, api_key, "webhook_endpoint.created", endpoint, {"events": types})
    return endpoint, secret


@transaction.atomic
def webhook_endpoint_update(
    *,
    church: Church,
    endpoint: WebhookEndpoint,
    acting_user: User | None,
    api_key: ApiKey | None = None,
    **fields,
) -> WebhookEndpoint:
    """Change ``url``, ``description``, ``events`` or ``enabled``. Enabling a disabled endpoint clears
    its failure record: it starts afresh."""
    unknown = set(fields) - {"url", "description", "events", "enabled"}
    if unknown:
        raise BusinessRuleError(f"These fields can't be changed: {', '.join(sorted(unknown))}.")
    if "url" in fields:
        fields["url"] = clean_url(fields["url"])
    if "events" in fields:
        fields["events"] = clean_events(fields["events"])
    if "description" in fields:
        fields["description"] = (fields["description"] or "").strip()[:500]
    if "enabled" in fields:
        fields["enabled"] = bool(fields["enabled"])
    changed = [key for key, value in fields.items() if getattr(endpoint, key) != value]
    if not changed:
        return endpoint
    for key in changed:
        setattr(endpoint, key, fields[key])
    if "enabled" in changed and endpoint.enabled:
        endpoint.disabled_reason, endpoint.disabled_at = "", None
        endpoint.consecutive_failures, endpoint.failing_since = 0, None
        changed += ["disabled_reason", "disabled_at", "consecutive_failures", "failing_since"]
    elif "enabled" in changed:
        endpoint.disabled_reason, endpoint.disabled_at = "Disabled by staff.", timezone.now()
        changed += ["disabled_reason", "disabled_at"]
    endpoint.updated_at = timezone.now()
    endpoint.save(update_fields=[*changed, "updated_at"])
    _audit(church, acting_user, api_key, "webhook_endpoint.updated", endpoint, {"fields": sorted(set(fields))})
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(
    *, church: Church, endpoint: WebhookEndpoint, acting_user: User | None, api_key: ApiKey | None = None
) -> None:
    """Deletes the endpoint and its delivery log; pending attempts are dropped with it."""
    _audit(church, acting_user, api_key, "webhook_endpoint.deleted", endpoint, {"url": endpoint.url[:200]})
    endpoint.delete()


@transaction.atomic
def webhook_endpoint_rotate_secret(
    *, church: Church, endpoint: WebhookEndpoint, acting_user: User | None, api_key: ApiKey | None = None
) -> tuple[WebhookEndpoint, str]:
    """A new secret, returned this once. The current one becomes the previous one and keeps signing
    (a second signature in ``webhook-signature``) for ``WEBHOOK_SECRET_OVERLAP_HOURS``, so receivers
    can switch without missing a delivery. A rotation during an overlap ends the older secret at once."""
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    secret = signing.new_secret()
    now = timezone.now()
    locked.previous_secret, locked.previous_secret_expires_at = locked.secret, now + secret_overlap()
    locked.secret, locked.updated_at = secret, now
    locked.save(update_fields=["previous_secret", "previous_secret_expires_at", "secret", "updated_at"])
    _audit(church, acting_user, api_key, "webhook_endpoint.secret_rotated", locked)
    return locked, secret


def _refuse_disabled(endpoint: WebhookEndpoint) -> None:
    if not endpoint.enabled:
        raise BusinessRuleError("This endpoint is disabled. Enable it first.", code="conflict", status=409)


@transaction.atomic
def webhook_delivery_redeliver(
    *,
    church: Church,
    endpoint: WebhookEndpoint,
    delivery: WebhookDelivery,
    acting_user: User | None,
    api_key: ApiKey | None = None,
) -> WebhookDelivery:
    """Post the delivery's event again, once (same ``webhook-id``, fresh timestamp and signature)."""
    _refuse_disabled(endpoint)
    if delivery.endpoint_id != endpoint.pk:
        raise BusinessRuleError("Not found.", code="not_found", status=404)
    last = (
        WebhookDelivery.objects.for_church(church)
        .filter(endpoint=endpoint, event_id=delivery.event_id)
        .order_by("-attempt")
        .values_list("attempt", flat=True)
        .first()
    )
    now = timezone.now()
    again = WebhookDelivery.objects.create(
        church=church,
        endpoint=endpoint,
        event_id=delivery.event_id,
        attempt=(last or 0) + 1,
        manual=True,
        next_attempt_at=now,
        created_at=now,
    )
    transaction.on_commit(lambda: outbox.enqueue_deliveries([again.pk]))
    _audit(church, acting_user, api_key, "webhook_delivery.redelivered", endpoint, {"event_id": delivery.event_id})
    return again


@transaction.atomic
def webhook_endpoint_send_test(
    *, church: Church, endpoint: WebhookEndpoint, acting_user: User | None, api_key: ApiKey | None = None
) -> WebhookDelivery:
    """A ``webhook.test`` event to this endpoint only, whatever it subscribes to; one attempt."""
    _refuse_disabled(endpoint)
    data = {"endpoint_id": endpoint.pk, "message": "A test event from Koinonia. Your endpoint is reachable."}
    (delivery,) = outbox.record_events(
        church_id=church.pk, type=events.TEST_EVENT_TYPE, datas=[data], endpoint_ids=[endpoint.pk], manual=True
    )
    return delivery
