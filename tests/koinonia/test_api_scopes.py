"""API key scopes: the table over every /api/v1/ route (each endpoint refuses a key lacking its scope and
accepts one having it; an endpoint that declares no scope fails the test), the error shape, sessions
unaffected, and the scopes in the OpenAPI schema."""

import pytest
from django.test import override_settings
from django.urls import path
from rest_framework.response import Response
from rest_framework.test import APIClient

from churches import services
from churches.models import Role
from koinonia.api import scopes
from koinonia.api.base import ChurchAPIView
from tests.conftest import assert_error_shape
from tests.koinonia.api_routes import api_endpoints

pytestmark = pytest.mark.django_db


def key_client(world, *, granted, role=Role.ADMIN) -> APIClient:
    _, raw_key = services.api_key_create(
        church=world.church, acting_user=None, name="scoped", role=role, scopes=sorted(granted)
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


def call(client, endpoint):
    method = getattr(client, endpoint.method.lower())
    if endpoint.method in ("POST", "PATCH", "PUT", "DELETE"):
        return method(endpoint.url(), {}, format="json")
    return method(endpoint.url())


def test_every_api_endpoint_declares_its_scopes():
    endpoints = api_endpoints()
    assert len(endpoints) > 40  # the walk found the API (and will find what is added)
    undeclared = [str(e) for e in endpoints if not e.required_scopes()]
    assert not undeclared, "API endpoints with no required_scopes:\n" + "\n".join(undeclared)
    unknown = {s for e in endpoints for s in e.required_scopes()} - scopes.ALL_SCOPES
    assert not unknown, f"scopes not in koinonia.api.scopes.SCOPES: {sorted(unknown)}"


def test_each_endpoint_refuses_a_key_lacking_its_scope_and_accepts_one_having_it(world):
    refused, not_refused, not_accepted = 0, [], []
    for endpoint in api_endpoints():
        needed = set(endpoint.required_scopes())
        lacking = key_client(world, granted=scopes.ALL_SCOPES - needed)
        response = call(lacking, endpoint)
        if response.status_code == 403 and response.json()["error"]["code"] == "insufficient_scope":
            details = response.json()["error"]["details"]
            assert set(details["missing_scopes"]) == needed, (str(endpoint), details)
            refused += 1
        else:
            not_refused.append(f"{endpoint}: {response.status_code}")

        having = key_client(world, granted=needed)
        response = call(having, endpoint)
        # Past the scope check: the endpoint answers (404 for the made-up ids, 400 for the empty body...).
        if response.status_code in (401, 403):
            not_accepted.append(f"{endpoint}: {response.status_code} {response.content[:200]!r}")
    assert not not_refused, "endpoints that let a key without their scope in:\n" + "\n".join(not_refused)
    assert not not_accepted, "endpoints that refused a key with their scope:\n" + "\n".join(not_accepted)
    assert refused == len(api_endpoints())


def test_the_refusal_names_the_missing_scope_in_the_error_shape(world):
    client = key_client(world, granted={"members:read"})
    assert client.get("/api/v1/members").status_code == 200
    error = assert_error_shape(client.post("/api/v1/members", {}, format="json"), 403, "insufficient_scope")
    assert "members:write" in error["message"]
    assert error["details"] == {"missing_scopes": ["members:write"], "required_scopes": ["members:write"]}
    error = assert_error_shape(client.get("/api/v1/messages"), 403, "insufficient_scope")
    assert error["details"]["missing_scopes"] == ["messages:read"]


def test_a_key_without_scopes_has_full_access_for_its_role(world):
    admin = world.api_client(Role.ADMIN)  # created without scopes, as keys were before scopes existed
    for url in ("/api/v1/members", "/api/v1/messages", "/api/v1/conversations", "/api/v1/usage", "/api/v1/api-keys"):
        assert admin.get(url).status_code == 200, url
    # The role still applies: a read-only key has every scope but can't write.
    viewer = world.api_client(Role.VIEWER)
    assert viewer.get("/api/v1/members").status_code == 200
    assert_error_shape(viewer.post("/api/v1/branches", {"name": "North"}, format="json"), 403, "permission_denied")


def test_the_role_still_applies_to_a_scoped_key(world):
    viewer = key_client(world, granted={"members:read"}, role=Role.VIEWER)
    assert viewer.get("/api/v1/branches").status_code == 200
    assert_error_shape(viewer.get("/api/v1/usage"), 403, "permission_denied")


def test_staff_sessions_are_not_scoped(world):
    session = world.session_api_client(Role.OWNER)
    for url in ("/api/v1/members", "/api/v1/messages", "/api/v1/usage", "/api/v1/api-keys", "/api/v1/church"):
        assert session.get(url).status_code == 200, url


class Undeclared(ChurchAPIView):
    def get(self, request):
        return Response({"ok": True})


planted_urlpatterns = [path("api/v1/undeclared/", Undeclared.as_view(), name="undeclared")]


class PlantedUrls:
    from koinonia.urls import urlpatterns as _project

    urlpatterns = [*planted_urlpatterns, *_project]


@override_settings(ROOT_URLCONF=PlantedUrls)
def test_an_endpoint_that_declares_no_scope_is_found_and_refuses_scoped_keys(world):
    undeclared = [e for e in api_endpoints() if not e.required_scopes()]
    assert [e.name for e in undeclared] == ["undeclared"]
    # At run time it fails closed: a scoped key is refused, a full-access key still works.
    error = assert_error_shape(
        key_client(world, granted=scopes.ALL_SCOPES).get("/api/v1/undeclared/"), 403, "insufficient_scope"
    )
    assert "declares no scope" in error["message"]
    assert world.api_client(Role.ADMIN).get("/api/v1/undeclared/").status_code == 200


def test_scopes_in_the_openapi_schema(client):
    schema = client.get("/api/v1/schema/?format=json").json()
    scheme = schema["components"]["securitySchemes"]["ApiKey"]
    assert set(scheme["x-scopes"]) == scopes.ALL_SCOPES
    assert "members:write" in scheme["description"]
    paths = schema["paths"]

    def api_key_scopes(path, method):
        requirements = paths[path][method]["security"]
        return next(r["ApiKey"] for r in requirements if "ApiKey" in r)

    assert api_key_scopes("/api/v1/members/", "get") == ["members:read"]
    assert api_key_scopes("/api/v1/members/", "post") == ["members:write"]
    assert api_key_scopes("/api/v1/messages/", "post") == ["messages:send"]
    assert api_key_scopes("/api/v1/messages/{id}/recipients/", "get") == ["messages:read"]
    assert api_key_scopes("/api/v1/usage/", "get") == ["billing:read"]
    # Every operation names at least one scope.
    for route, operations in paths.items():
        for method, operation in operations.items():
            if method in ("get", "post", "patch", "put", "delete"):
                assert api_key_scopes(route, method), (route, method)
