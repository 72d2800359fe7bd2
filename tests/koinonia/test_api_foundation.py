import pytest

from churches.models import Role, StaffMembership
from tests.conftest import assert_error_shape

pytestmark = pytest.mark.django_db


def test_malformed_json_is_400_in_the_error_shape(world):
    client = world.api_client(Role.ADMIN)
    key = client.get("/api/v1/api-keys").json()["results"][0]
    response = client.generic(
        "POST", f"/api/v1/api-keys/{key['id']}/revoke", data="{not json", content_type="application/json"
    )
    assert_error_shape(response, 400, "malformed_request")
    assert client.get(f"/api/v1/api-keys/{key['id']}").json()["revoked_at"] is None


def test_unknown_api_route_is_json_404(world):
    response = world.api_client().get("/api/v1/no-such-thing")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_staff_list_is_scoped_paginated_and_counts_queries(world, other_world, django_assert_max_num_queries):
    client = world.api_client(Role.VIEWER)
    with django_assert_max_num_queries(4):  # key lookup, last-used update, page of staff (+ savepoint slack)
        response = client.get("/api/v1/staff?page_size=2")
    body = response.json()
    assert set(body) == {"results", "next", "previous"}
    assert len(body["results"]) == 2 and body["next"]
    page2 = client.get(body["next"]).json()
    emails = {r["email"] for r in body["results"] + page2["results"]}
    assert emails == {u.email for u in world.users.values()}
    theirs = StaffMembership.objects.filter(church=other_world.church).first()
    assert_error_shape(client.get(f"/api/v1/staff/{theirs.pk}"), 404)


def test_session_auth_works_for_the_pages_own_calls(world, other_world):
    client = world.session_api_client(Role.VIEWER)
    assert client.get("/api/v1/church").json()["slug"] == world.church.slug
    assert_error_shape(client.get("/api/v1/api-keys"), 403)


def test_user_with_no_church_is_refused(outsider):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(outsider)
    assert_error_shape(client.get("/api/v1/church"), 403)


def test_schema_and_docs_are_served(client):
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200 and b"openapi" in schema.content
    assert client.get("/api/v1/docs/").status_code == 200
