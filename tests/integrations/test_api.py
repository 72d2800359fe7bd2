"""/api/v1/webhook-endpoints: CRUD, validation, the delivery log, redelivery, test events and secret
rotation. Admins and owners only; another church's endpoint is a 404."""

import pytest
from standardwebhooks import Webhook

from churches.models import Role
from integrations.models import WebhookDelivery, WebhookEndpoint
from koinonia import events
from tests.conftest import assert_error_shape, assert_other_church_404, assert_role_refused
from tests.integrations.conftest import make_endpoint, run_due

pytestmark = pytest.mark.django_db
BASE = "/api/v1/webhook-endpoints"


def test_create_returns_the_secret_once_and_the_endpoint_lists_without_it(world, receiver):
    client = world.api_client(Role.ADMIN)
    response = client.post(
        BASE,
        {"url": receiver.url("/in"), "description": "CRM", "events": ["member.created", "member.opted_out"]},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["member.created", "member.opted_out"] and body["enabled"] is True
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert endpoint.secret == body["secret"] and endpoint.church_id == world.church.pk
    listed = client.get(BASE).json()["results"]
    assert [e["id"] for e in listed] == [endpoint.pk] and "secret" not in listed[0]
    one = client.get(f"{BASE}/{endpoint.pk}").json()
    assert one["url"] == receiver.url("/in") and "secret" not in one


def test_validation_names_unknown_event_types_and_bad_urls(world):
    client = world.api_client(Role.ADMIN)
    error = assert_error_shape(
        client.post(
            BASE, {"url": "https://example.org/h", "events": ["member.created", "member.exploded", "x"]}, format="json"
        ),
        400,
    )
    assert error["details"]["events"] == ["Unknown event types: member.exploded, x."]
    for url in ("not a url", "mailto:someone@example.org", "https://", "http://user:pw@example.org/"):
        error = assert_error_shape(client.post(BASE, {"url": url, "events": ["*"]}, format="json"), 400)
        assert "url" in error["details"], url
    error = assert_error_shape(client.post(BASE, {"url": "https://example.org/h", "events": []}, format="json"), 400)
    assert "events" in error["details"]
    assert_error_shape(client.post(BASE, {"events": ["*"]}, format="json"), 400)
    assert_error_shape(
        client.post(BASE, {"url": "https://example.org/h", "events": "member.created"}, format="json"), 400
    )
    assert WebhookEndpoint.objects.count() == 0


def test_update_and_delete(world, receiver):
    endpoint, _ = make_endpoint(world, receiver.url("/"), events=["member.created"])
    client = world.api_client(Role.ADMIN)
    response = client.patch(f"{BASE}/{endpoint.pk}", {"events": ["message.completed"], "enabled": False}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["events"] == ["message.completed"] and response.json()["enabled"] is False
    assert response.json()["disabled_reason"] == "Disabled by staff."
    response = client.patch(f"{BASE}/{endpoint.pk}", {"description": "only this"}, format="json")
    assert response.json()["description"] == "only this" and response.json()["enabled"] is False
    response = client.put(f"{BASE}/{endpoint.pk}", {"url": receiver.url("/v2"), "events": ["*"]}, format="json")
    assert response.status_code == 200 and response.json()["url"].endswith("/v2")
    assert response.json()["enabled"] is True and response.json()["description"] == ""
    assert_error_shape(client.patch(f"{BASE}/{endpoint.pk}", {"events": ["nope"]}, format="json"), 400)
    assert client.delete(f"{BASE}/{endpoint.pk}").status_code == 204
    assert not WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


def test_rotate_secret_returns_the_new_secret(world, receiver):
    endpoint, old = make_endpoint(world, receiver.url("/"))
    response = world.api_client(Role.ADMIN).post(f"{BASE}/{endpoint.pk}/rotate-secret")
    assert response.status_code == 200
    new = response.json()["secret"]
    assert new.startswith("whsec_") and new != old and response.json()["previous_secret_expires_at"]
    endpoint.refresh_from_db()
    assert endpoint.secret == new and endpoint.previous_secret == old


def test_test_event_deliveries_log_and_redeliver(world, receiver, django_capture_on_commit_callbacks):
    endpoint, secret = make_endpoint(world, receiver.url("/"), events=["member.deleted"])
    client = world.api_client(Role.ADMIN)
    with django_capture_on_commit_callbacks(execute=True):  # the delivery task runs in-process after commit
        response = client.post(f"{BASE}/{endpoint.pk}/test")
    assert response.status_code == 202, response.content
    assert response.json()["event_type"] == "webhook.test" and response.json()["attempt"] == 1
    (request,) = receiver.wait_for(1)
    payload = Webhook(secret).verify(request.body, request.headers)
    assert payload["type"] == "webhook.test" and payload["data"]["endpoint_id"] == endpoint.pk

    receiver._statuses.append(500)
    events.emit(church=world.church, type="member.deleted", data={"id": 5})
    run_due()
    log = client.get(f"{BASE}/{endpoint.pk}/deliveries").json()["results"]
    assert [(d["event_type"], d["attempt"], d["status_code"]) for d in log] == [
        ("member.deleted", 2, None),
        ("member.deleted", 1, 500),
        ("webhook.test", 1, 200),
    ]
    assert {"event_id", "duration_ms", "created_at", "status", "response_excerpt"} <= set(log[1])
    assert client.get(f"{BASE}/{endpoint.pk}/deliveries?page_size=1").json()["next"]

    failed = WebhookDelivery.objects.get(pk=log[1]["id"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{BASE}/{endpoint.pk}/deliveries/{failed.pk}/redeliver")
    assert response.status_code == 202, response.content
    again = response.json()
    assert again["event_id"] == failed.event_id and again["attempt"] == 3
    requests = receiver.wait_for(3)
    assert requests[-1].headers["webhook-id"] == failed.event_id
    assert WebhookDelivery.objects.get(pk=again["id"]).status == "succeeded"

    # A disabled endpoint takes no test event and no redelivery.
    client.patch(f"{BASE}/{endpoint.pk}", {"enabled": False}, format="json")
    assert_error_shape(client.post(f"{BASE}/{endpoint.pk}/test"), 409)
    assert_error_shape(client.post(f"{BASE}/{endpoint.pk}/deliveries/{failed.pk}/redeliver"), 409)


def test_another_churchs_endpoint_and_deliveries_are_404(world, other_world, receiver):
    theirs, _ = make_endpoint(other_world, receiver.url("/"))
    events.emit(church=other_world.church, type="member.deleted", data={"id": 1})
    their_delivery = WebhookDelivery.objects.get(endpoint=theirs)
    mine, _ = make_endpoint(world, receiver.url("/mine"))
    client = world.api_client(Role.ADMIN)
    assert [e["id"] for e in client.get(BASE).json()["results"]] == [mine.pk]
    for method, url in (
        ("get", f"{BASE}/{theirs.pk}"),
        ("patch", f"{BASE}/{theirs.pk}"),
        ("delete", f"{BASE}/{theirs.pk}"),
        ("post", f"{BASE}/{theirs.pk}/rotate-secret"),
        ("post", f"{BASE}/{theirs.pk}/test"),
        ("get", f"{BASE}/{theirs.pk}/deliveries"),
        ("post", f"{BASE}/{theirs.pk}/deliveries/{their_delivery.pk}/redeliver"),
        # Their delivery through my endpoint is just as missing.
        ("post", f"{BASE}/{mine.pk}/deliveries/{their_delivery.pk}/redeliver"),
    ):
        assert_other_church_404(client, url, method, data={} if method != "get" else None)
    theirs.refresh_from_db()
    assert theirs.enabled and WebhookDelivery.objects.filter(endpoint=theirs).count() == 1


@pytest.mark.parametrize("role", [Role.STAFF, Role.VIEWER])
def test_lower_roles_are_refused(world, receiver, role):
    endpoint, _ = make_endpoint(world, receiver.url("/"))
    client = world.api_client(role)
    assert_error_shape(client.get(BASE), 403)
    assert_error_shape(client.get(f"{BASE}/{endpoint.pk}/deliveries"), 403)
    assert_role_refused(client, BASE, "post", {"url": receiver.url("/x"), "events": ["*"]})
    assert_role_refused(client, f"{BASE}/{endpoint.pk}", "patch", {"enabled": False})
    assert_role_refused(client, f"{BASE}/{endpoint.pk}/rotate-secret")
    assert_role_refused(client, f"{BASE}/{endpoint.pk}/test")
    assert_role_refused(client, f"{BASE}/{endpoint.pk}", "delete")
    endpoint.refresh_from_db()
    assert endpoint.enabled and WebhookEndpoint.objects.count() == 1
    # A signed-in owner manages them through the API too.
    assert world.session_api_client(Role.OWNER).get(BASE).status_code == 200


def test_the_scope_the_key_mechanism_reads():
    from integrations.api import WebhookEndpointViewSet

    assert WebhookEndpointViewSet.required_scopes == {"SAFE": "webhooks:manage", "UNSAFE": "webhooks:manage"}


def test_create_with_an_idempotency_key_makes_one_endpoint_and_replays_its_answer(world, receiver):
    client = world.api_client(Role.ADMIN)
    body = {"url": receiver.url("/in"), "events": ["member.created"]}
    first = client.post(BASE, body, format="json", HTTP_IDEMPOTENCY_KEY="crm-setup-1")
    again = client.post(BASE, body, format="json", HTTP_IDEMPOTENCY_KEY="crm-setup-1")
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()
    assert WebhookEndpoint.objects.for_church(world.church).count() == 1
    other = client.post(BASE, {**body, "description": "other"}, format="json", HTTP_IDEMPOTENCY_KEY="crm-setup-1")
    assert other.status_code == 422
    assert_error_shape(other, 422)
