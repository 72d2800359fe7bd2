"""The OpenAPI schema documents the directory endpoints and generates without warnings."""

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_schema_documents_directory_bodies(client):
    response = client.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for path in (
        "/api/v1/branches/",
        "/api/v1/branches/{id}/",
        "/api/v1/groups/",
        "/api/v1/groups/{id}/",
        "/api/v1/groups/{id}/members/",
        "/api/v1/groups/{id}/members/remove/",
        "/api/v1/members/",
        "/api/v1/members/{id}/",
        "/api/v1/members/{id}/consent/",
        "/api/v1/members/bulk/",
    ):
        assert path in paths, path
    components = schema["components"]["schemas"]
    assert {"id", "phone", "group_ids", "branch_id", "sms_status", "created_at"} <= set(
        components["MemberOutput"]["properties"]
    )
    assert "consent" in components["MemberCreateInputRequest"]["properties"]
    assert {"members_unassigned", "groups_unassigned"} <= set(components["BranchDeleteOutput"]["properties"])
    member_list_params = {p["name"] for p in paths["/api/v1/members/"]["get"]["parameters"]}
    assert {"q", "branch_id", "group_id", "sms_status", "sort", "cursor", "page_size"} <= member_list_params
    assert "put" not in paths["/api/v1/members/{id}/"]


def test_schema_generates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
