"""/api/v1/branches: scoped to the key's church, viewers read, staff write, admins delete."""

import pytest

from churches.models import AuditLog, Branch, Group, Member, Role
from tests.conftest import assert_error_shape, assert_other_church_404, assert_role_refused
from tests.factories import BranchFactory, GroupFactory, MemberFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("rows", [3, 30])
def test_list_counts_members_in_fixed_queries_and_hides_other_churches(
    world, other_world, rows, django_assert_max_num_queries
):
    branches = BranchFactory.create_batch(rows, church=world.church)
    MemberFactory.create_batch(2, church=world.church, branch=branches[0])
    theirs = BranchFactory(church=other_world.church)
    MemberFactory(church=other_world.church, branch=theirs)
    client = world.api_client(Role.VIEWER)
    with django_assert_max_num_queries(3):  # key, last-used stamp, one page with counts
        response = client.get("/api/v1/branches?page_size=100")
    body = response.json()
    assert set(body) == {"results", "next", "previous"}
    counts = {row["id"]: row["member_count"] for row in body["results"]}
    assert set(counts) == {b.pk for b in branches}
    assert counts[branches[0].pk] == 2 and counts[branches[1].pk] == 0
    assert set(body["results"][0]) == {"id", "name", "address", "timezone", "member_count", "created_at"}


def test_staff_create_and_edit_a_branch(world):
    client = world.api_client(Role.STAFF)
    response = client.post(
        "/api/v1/branches", {"name": " North Campus ", "address": "1 Main St", "timezone": "America/Denver"}
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["name"] == "North Campus" and created["member_count"] == 0
    branch = Branch.objects.get(church=world.church, pk=created["id"])
    assert branch.timezone == "America/Denver"

    MemberFactory(church=world.church, branch=branch)
    response = client.patch(f"/api/v1/branches/{branch.pk}", {"address": "2 Main St"}, format="json")
    assert response.status_code == 200
    assert response.json()["address"] == "2 Main St" and response.json()["name"] == "North Campus"
    assert response.json()["member_count"] == 1
    assert client.get(f"/api/v1/branches/{branch.pk}/").json()["address"] == "2 Main St"


def test_bad_branch_input_is_400_or_409_in_the_error_shape(world):
    client = world.api_client(Role.ADMIN)
    BranchFactory(church=world.church, name="Downtown")
    error = assert_error_shape(client.post("/api/v1/branches", {}, format="json"), 400, "validation_error")
    assert "name" in error["details"]
    error = assert_error_shape(client.post("/api/v1/branches", {"name": "   "}, format="json"), 400)
    assert "name" in error["details"]
    error = assert_error_shape(
        client.post("/api/v1/branches", {"name": "X", "timezone": "Mars/Olympus"}, format="json"), 400
    )
    assert "timezone" in error["details"]
    assert_error_shape(client.post("/api/v1/branches", {"name": "downtown"}, format="json"), 409, "conflict")
    assert_error_shape(
        client.generic("POST", "/api/v1/branches", data="{oops", content_type="application/json"),
        400,
        "malformed_request",
    )
    assert_error_shape(client.post("/api/v1/branches", [1, 2], format="json"), 400, "validation_error")
    other = BranchFactory(church=world.church, name="Uptown")
    assert_error_shape(client.patch(f"/api/v1/branches/{other.pk}", {"name": "DOWNTOWN"}, format="json"), 409)
    assert_error_shape(client.patch(f"/api/v1/branches/{other.pk}", {"name": ""}, format="json"), 400)
    assert_error_shape(client.put(f"/api/v1/branches/{other.pk}", {"name": "Z"}, format="json"), 405)
    assert_error_shape(client.get("/api/v1/branches/not-a-number"), 404)
    assert Branch.objects.filter(church=world.church).count() == 2


def test_viewer_cannot_write_and_staff_cannot_delete(world):
    branch = BranchFactory(church=world.church)
    viewer = world.api_client(Role.VIEWER)
    assert viewer.get(f"/api/v1/branches/{branch.pk}").status_code == 200
    assert_role_refused(viewer, "/api/v1/branches", "post", {"name": "New"})
    assert_role_refused(viewer, f"/api/v1/branches/{branch.pk}", "patch", {"name": "New"})
    assert_error_shape(world.api_client(Role.STAFF).delete(f"/api/v1/branches/{branch.pk}"), 403, "permission_denied")
    assert Branch.objects.filter(pk=branch.pk, name=branch.name).exists()


def test_admin_deletes_a_branch_and_hears_what_happened_to_its_members(world):
    branch = BranchFactory(church=world.church)
    members = MemberFactory.create_batch(3, church=world.church, branch=branch)
    group = GroupFactory(church=world.church, branch=branch)
    response = world.api_client(Role.ADMIN).delete(f"/api/v1/branches/{branch.pk}")
    assert response.status_code == 200
    assert response.json() == {"deleted": True, "members_unassigned": 3, "groups_unassigned": 1}
    assert not Branch.objects.filter(pk=branch.pk).exists()
    assert Member.objects.filter(pk__in=[m.pk for m in members], branch=None).count() == 3
    assert Group.objects.get(pk=group.pk).branch_id is None
    assert AuditLog.objects.filter(church=world.church, action="branch.deleted").exists()


def test_other_churches_branches_are_404_for_every_method(world, other_world):
    theirs = BranchFactory(church=other_world.church, name="Theirs")
    client = world.api_client(Role.ADMIN)
    url = f"/api/v1/branches/{theirs.pk}"
    assert_other_church_404(client, url)
    assert_other_church_404(client, url, "patch", {"name": "Mine now"})
    assert_other_church_404(client, url, "delete")
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"
    assert client.get("/api/v1/branches").json()["results"] == []
