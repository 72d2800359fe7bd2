"""Settings → Integrations: list and add endpoints (secret shown once), edit, rotate, test, delivery
log with redelivery. Admins and owners only; another church's endpoint is a 404."""

import pytest
from django.urls import reverse

from churches.models import Role
from integrations.models import WebhookDelivery, WebhookEndpoint
from koinonia import events
from tests.integrations.conftest import make_endpoint, run_due

pytestmark = pytest.mark.django_db


def test_add_an_endpoint_and_see_its_secret_once(world, receiver):
    page = world.page_client(Role.ADMIN)
    assert page.get(reverse("webhooks")).status_code == 200
    response = page.post(
        reverse("webhooks"),
        {
            "url": receiver.url("/in"),
            "description": "CRM sync",
            "events": ["member.created", "member.updated"],
            "enabled": "on",
        },
    )
    assert response.status_code == 200
    secret = response.context["new_secret"]
    assert secret.startswith("whsec_") and secret.encode() in response.content
    endpoint = WebhookEndpoint.objects.get(church=world.church)
    assert endpoint.events == ["member.created", "member.updated"] and endpoint.enabled
    listing = page.get(reverse("webhooks"))
    assert b"CRM sync" in listing.content and secret.encode() not in listing.content
    detail = page.get(reverse("webhook_endpoint", args=[endpoint.pk]))
    assert detail.status_code == 200 and secret.encode() not in detail.content


def test_bad_input_is_a_400_with_the_reason(world):
    page = world.page_client(Role.OWNER)
    response = page.post(reverse("webhooks"), {"url": "ftp://example.org", "events": ["*"]})
    assert response.status_code == 400 and b"http" in response.content
    response = page.post(reverse("webhooks"), {"url": "https://example.org/h"})
    assert response.status_code == 400
    assert not WebhookEndpoint.objects.exists()


def test_edit_rotate_test_and_redeliver_from_the_log(world, receiver, django_capture_on_commit_callbacks):
    endpoint, old_secret = make_endpoint(world, receiver.url("/"), events=["member.deleted"])
    page = world.page_client(Role.ADMIN)
    url = reverse("webhook_endpoint", args=[endpoint.pk])
    response = page.post(url, {"url": receiver.url("/v2"), "events": ["member.deleted", "member.opted_out"]})
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.url.endswith("/v2") and not endpoint.enabled  # the checkbox was left unticked
    page.post(url, {"url": endpoint.url, "events": ["member.deleted"], "enabled": "on"})
    endpoint.refresh_from_db()
    assert endpoint.enabled

    response = page.post(reverse("webhook_endpoint_rotate", args=[endpoint.pk]))
    assert response.status_code == 200 and response.context["new_secret"] not in (None, old_secret)

    with django_capture_on_commit_callbacks(execute=True):
        assert page.post(reverse("webhook_endpoint_test", args=[endpoint.pk])).status_code == 302
    receiver._statuses.append(502)
    events.emit(church=world.church, type="member.deleted", data={"id": 3})
    run_due()
    detail = page.get(url)
    assert b"webhook.test" in detail.content and b"member.deleted" in detail.content and b"502" in detail.content
    failed = WebhookDelivery.objects.get(endpoint=endpoint, status_code=502)
    with django_capture_on_commit_callbacks(execute=True):
        response = page.post(reverse("webhook_delivery_redeliver", args=[endpoint.pk, failed.pk]))
    assert response.status_code == 302
    assert receiver.wait_for(3)[-1].headers["webhook-id"] == failed.event_id

    assert page.post(reverse("webhook_endpoint_delete", args=[endpoint.pk])).status_code == 302
    assert not WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


def test_another_churchs_endpoint_is_404_and_lower_roles_403(world, other_world, receiver):
    theirs, _ = make_endpoint(other_world, receiver.url("/"))
    events.emit(church=other_world.church, type="member.deleted", data={"id": 1})
    their_delivery = WebhookDelivery.objects.get(endpoint=theirs)
    page = world.page_client(Role.OWNER)
    assert page.get(reverse("webhook_endpoint", args=[theirs.pk])).status_code == 404
    for name in ("webhook_endpoint_rotate", "webhook_endpoint_test", "webhook_endpoint_delete"):
        assert page.post(reverse(name, args=[theirs.pk])).status_code == 404, name
    assert page.post(reverse("webhook_delivery_redeliver", args=[theirs.pk, their_delivery.pk])).status_code == 404
    mine, _ = make_endpoint(world, receiver.url("/mine"))
    assert page.post(reverse("webhook_delivery_redeliver", args=[mine.pk, their_delivery.pk])).status_code == 404
    for role in (Role.STAFF, Role.VIEWER):
        lower = world.page_client(role)
        assert lower.get(reverse("webhooks")).status_code == 403
        assert lower.get(reverse("webhook_endpoint", args=[mine.pk])).status_code == 403
        assert lower.post(reverse("webhook_endpoint_rotate", args=[mine.pk])).status_code == 403
    theirs.refresh_from_db()
    assert WebhookEndpoint.objects.filter(pk=theirs.pk).exists()


def test_support_admin_never_shows_secrets(world, receiver, admin_client):
    endpoint, secret = make_endpoint(world, receiver.url("/"))
    response = admin_client.get(reverse("admin:integrations_webhookendpoint_change", args=[endpoint.pk]))
    assert response.status_code == 200 and secret.encode() not in response.content
    assert admin_client.get(reverse("admin:integrations_webhookendpoint_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:integrations_webhookdelivery_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:integrations_webhookevent_changelist")).status_code == 200
