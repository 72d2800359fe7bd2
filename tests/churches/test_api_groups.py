"""/api/v1/groups and /api/v1/groups/{id}/members."""

import pytest

from churches.models import Group, GroupMembership, Role
from tests.conftest import assert_error_shape, assert_other_church_404, assert_role_refused
from tests.factories import BranchFactory, GroupFactory, MemberFactory

pytestmark = pytest.mark.django_db


def _add(group, members):
    GroupMembership.objects.bulk_create([GroupMembership(church=group.church, group=group, member=m) for m in members])


@pytest.mark.parametrize("rows", [3, 30])
def test_list_counts_members_in_fixed_queries_and_hides_other_churches(
    world, other_world, rows, django_assert_max_num_queries
):
    groups = GroupFactory.create_batch(rows, church=world.church)
    _add(groups[0], MemberFactory.create_batch(2, church=world.church))
    theirs = GroupFactory(church=other_world.church)
    _add(theirs, [MemberFactory(church=other_world.church)])
    client = world.api_client(Role.VIEWER)
    with django_assert_max_num_queries(3):  # key, last-used stamp, one page with counts
        body = client.get("/api/v1/groups?page_size=100").json()
    counts = {row["id"]: row["member_count"] for row in body["results"]}
    assert set(counts) == {g.pk for g in groups}
    assert counts[groups[0].pk] == 2 and counts[groups[1].pk] == 0
    assert set(body["results"][0]) == {
        "id",
        "name",
        "description",
        "branch_id",
        "keyword",
        "welcome_text",
        "member_count",
        "created_at",
    }


def test_staff_create_and_edit_a_group(world):
    branch = BranchFactory(church=world.church)
    client = world.api_client(Role.STAFF)
    response = client.post(
        "/api/v1/groups",
        {"name": "Youth", "branch_id": branch.pk, "keyword": "youth", "welcome_text": "Welcome to youth!"},
        format="json",
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["keyword"] == "YOUTH" and created["branch_id"] == branch.pk and created["member_count"] == 0

    response = client.patch(f"/api/v1/groups/{created['id']}", {"branch_id": None, "keyword": ""}, format="json")
    assert response.status_code == 200
    assert response.json()["branch_id"] is None and response.json()["keyword"] == ""
    assert response.json()["name"] == "Youth"
    assert Group.objects.get(pk=created["id"]).welcome_text == "Welcome to youth!"


def test_bad_group_input_is_400_or_409(world, other_world):
    client = world.api_client(Role.STAFF)
    GroupFactory(church=world.church, name="Choir", keyword="SING")
    their_branch = BranchFactory(church=other_world.church)
    error = assert_error_shape(client.post("/api/v1/groups", {}, format="json"), 400, "validation_error")
    assert "name" in error["details"]
    error = assert_error_shape(
        client.post("/api/v1/groups", {"name": "A", "branch_id": their_branch.pk}, format="json"), 400
    )
    assert error["details"] == {"branch_id": ["Unknown branch."]}
    error = assert_error_shape(client.post("/api/v1/groups", {"name": "A", "branch_id": "x"}, format="json"), 400)
    assert "branch_id" in error["details"]
    error = assert_error_shape(client.post("/api/v1/groups", {"name": "A", "keyword": "STOP"}, format="json"), 400)
    assert "keyword" in error["details"]
    assert_error_shape(client.post("/api/v1/groups", {"name": "A", "keyword": "two words"}, format="json"), 400)
    assert_error_shape(client.post("/api/v1/groups", {"name": "A", "keyword": "sing"}, format="json"), 409, "conflict")
    assert_error_shape(client.post("/api/v1/groups", {"name": "CHOIR"}, format="json"), 409, "conflict")
    assert_error_shape(
        client.generic("POST", "/api/v1/groups", data="[", content_type="application/json"), 400, "malformed_request"
    )
    assert Group.objects.filter(church=world.church).count() == 1


def test_roles_for_groups(world):
    group = GroupFactory(church=world.church)
    viewer = world.api_client(Role.VIEWER)
    assert viewer.get(f"/api/v1/groups/{group.pk}").status_code == 200
    assert_role_refused(viewer, "/api/v1/groups", "post", {"name": "New"})
    assert_role_refused(viewer, f"/api/v1/groups/{group.pk}", "patch", {"name": "New"})
    assert_role_refused(world.api_client(Role.STAFF), f"/api/v1/groups/{group.pk}", "delete")
    assert Group.objects.filter(pk=group.pk).exists()


def test_admin_deletes_a_group_and_its_members_stay(world):
    group = GroupFactory(church=world.church)
    members = MemberFactory.create_batch(2, church=world.church)
    _add(group, members)
    response = world.api_client(Role.ADMIN).delete(f"/api/v1/groups/{group.pk}")
    assert response.status_code == 200 and response.json() == {"deleted": True, "members_removed": 2}
    assert not Group.objects.filter(pk=group.pk).exists()
    assert world.church.pk and all(type(m).objects.filter(pk=m.pk).exists() for m in members)


def test_other_churches_groups_are_404_everywhere(world, other_world):
    theirs = GroupFactory(church=other_world.church, name="Theirs")
    their_member = MemberFactory(church=other_world.church)
    _add(theirs, [their_member])
    client = world.api_client(Role.ADMIN)
    base = f"/api/v1/groups/{theirs.pk}"
    assert_other_church_404(client, base)
    assert_other_church_404(client, base, "patch", {"name": "Mine"})
    assert_other_church_404(client, base, "delete")
    assert_other_church_404(client, f"{base}/members")
    mine = MemberFactory(church=world.church)
    assert_other_church_404(client, f"{base}/members", "post", {"member_ids": [mine.pk]})
    assert_other_church_404(client, f"{base}/members", "delete", {"member_ids": [their_member.pk]})
    assert_other_church_404(client, f"{base}/members/remove", "post", {"member_ids": [their_member.pk]})
    assert GroupMembership.objects.filter(group=theirs).count() == 1
    assert not GroupMembership.objects.filter(member=mine).exists()
    assert client.get("/api/v1/groups").json()["results"] == []


@pytest.mark.parametrize("rows", [3, 30])
def test_group_members_list_is_paginated_with_group_ids_in_fixed_queries(world, rows, django_assert_max_num_queries):
    group, other_group = GroupFactory.create_batch(2, church=world.church)
    inside = MemberFactory.create_batch(rows, church=world.church)
    _add(group, inside)
    _add(other_group, inside[:2])
    MemberFactory(church=world.church)  # not in the group
    client = world.api_client(Role.VIEWER)
    with django_assert_max_num_queries(5):  # key, last-used stamp, group, page, group ids of the page
        body = client.get(f"/api/v1/groups/{group.pk}/members?page_size=100&sort=name").json()
    assert {row["id"] for row in body["results"]} == {m.pk for m in inside}
    by_id = {row["id"]: row for row in body["results"]}
    assert by_id[inside[0].pk]["group_ids"] == sorted([group.pk, other_group.pk])
    assert by_id[inside[-1].pk]["group_ids"] == [group.pk]
    names = [(row["last_name"], row["first_name"]) for row in body["results"]]
    assert names == sorted(names)

    page = client.get(f"/api/v1/groups/{group.pk}/members?page_size=2").json()
    assert len(page["results"]) == 2 and page["next"]
    assert_error_shape(client.get(f"/api/v1/groups/{group.pk}/members?sort=shoe-size"), 400, "validation_error")


def test_staff_add_and_remove_members_in_bulk_and_other_churches_ids_are_reported(world, other_world):
    group = GroupFactory(church=world.church)
    mine = MemberFactory.create_batch(3, church=world.church)
    theirs = MemberFactory(church=other_world.church)
    client = world.api_client(Role.STAFF)
    url = f"/api/v1/groups/{group.pk}/members"
    response = client.post(url, {"member_ids": [mine[0].pk, mine[1].pk, theirs.pk, 99999999]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"added": 2, "already_members": 0, "unknown_member_ids": sorted([theirs.pk, 99999999])}
    response = client.post(url, {"member_ids": [mine[0].pk, mine[2].pk]}, format="json")
    assert response.json() == {"added": 1, "already_members": 1, "unknown_member_ids": []}
    assert set(GroupMembership.objects.filter(group=group).values_list("member_id", flat=True)) == {m.pk for m in mine}

    response = client.delete(url, {"member_ids": [mine[0].pk, theirs.pk]}, format="json")
    assert response.status_code == 200 and response.json() == {"removed": 1, "not_in_group": 1}
    response = client.post(f"{url}/remove", {"member_ids": [mine[1].pk]}, format="json")
    assert response.status_code == 200 and response.json() == {"removed": 1, "not_in_group": 0}
    assert list(GroupMembership.objects.filter(group=group).values_list("member_id", flat=True)) == [mine[2].pk]
    assert client.get(f"/api/v1/groups/{group.pk}").json()["member_count"] == 1


def test_membership_changes_need_staff_and_valid_bodies(world):
    group = GroupFactory(church=world.church)
    member = MemberFactory(church=world.church)
    url = f"/api/v1/groups/{group.pk}/members"
    viewer = world.api_client(Role.VIEWER)
    assert viewer.get(url).status_code == 200
    assert_role_refused(viewer, url, "post", {"member_ids": [member.pk]})
    assert_role_refused(viewer, url, "delete", {"member_ids": [member.pk]})
    assert_role_refused(viewer, f"{url}/remove", "post", {"member_ids": [member.pk]})
    staff = world.api_client(Role.STAFF)
    for body in ({}, {"member_ids": []}, {"member_ids": "1,2"}, {"member_ids": ["abc"]}, {"member_ids": [0]}):
        error = assert_error_shape(staff.post(url, body, format="json"), 400, "validation_error")
        assert "member_ids" in error["details"]
    assert_error_shape(staff.delete(url, {}, format="json"), 400)
    assert_error_shape(
        staff.generic("POST", url, data="{member_ids:", content_type="application/json"), 400, "malformed_request"
    )
    assert not GroupMembership.objects.exists()
