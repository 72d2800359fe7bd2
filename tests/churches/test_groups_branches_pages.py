"""Branch and group pages: lists with member counts in a fixed number of queries, create, rename, delete
(with what happens to members), a group's members and their removal; roles and cross-church 404s."""

import html

import pytest
from django.urls import reverse

from churches.models import Branch, Group, GroupMembership, Member, Role
from tests.factories import BranchFactory, GroupFactory, MemberFactory

pytestmark = pytest.mark.django_db


def test_branch_list_counts_members_and_groups_in_fixed_queries(world, other_world, django_assert_max_num_queries):
    branches = [BranchFactory(church=world.church, name=f"Campus {i}") for i in range(5)]
    for branch in branches:
        MemberFactory.create_batch(3, church=world.church, branch=branch)
        GroupFactory(church=world.church, branch=branch)
    BranchFactory(church=other_world.church, name="Not ours")
    client = world.page_client(Role.VIEWER)
    client.get(reverse("branch_list"))
    # session, user, membership, the branches with their counts, the church switcher in base.html
    with django_assert_max_num_queries(5):
        response = client.get(reverse("branch_list"))
    body = response.content.decode()
    first = response.context["branches"][0]
    assert (first.name, first.member_count, first.group_count) == ("Campus 0", 3, 1)
    assert "Not ours" not in body
    assert 'action="/branches/' not in body  # viewers get no forms


def test_group_list_counts_members_in_fixed_queries(world, other_world, django_assert_max_num_queries):
    for i in range(6):
        group = GroupFactory(church=world.church, name=f"Group {i}", keyword=f"KW{i}")
        for member in MemberFactory.create_batch(i, church=world.church):
            GroupMembership.objects.create(church=world.church, group=group, member=member)
    GroupFactory(church=other_world.church, name="Theirs")
    client = world.page_client(Role.VIEWER)
    client.get(reverse("group_list"))
    # session, user, membership, branch choices for the form, the groups with counts, the church switcher
    with django_assert_max_num_queries(6):
        response = client.get(reverse("group_list"))
    assert [g.member_count for g in response.context["groups"]] == [0, 1, 2, 3, 4, 5]
    assert "Theirs" not in response.content.decode() and "KW3" in response.content.decode()


def test_staff_create_and_rename_branches_and_groups(world):
    staff = world.page_client(Role.STAFF)
    assert staff.post(reverse("branch_list"), {"name": "North", "address": "1 Main St"}).status_code == 302
    north = Branch.objects.get(church=world.church)
    duplicate = staff.post(reverse("branch_list"), {"name": "north"})
    assert duplicate.status_code == 400 and "already a branch called" in html.unescape(duplicate.content.decode())
    staff.post(reverse("branch_update", args=[north.pk]), {"name": "North Campus", "address": ""})
    north.refresh_from_db()
    assert north.name == "North Campus"

    response = staff.post(reverse("group_list"), {"name": "Youth", "branch": north.pk, "keyword": "youth"})
    assert response.status_code == 302
    youth = Group.objects.get(church=world.church)
    assert (youth.keyword, youth.branch) == ("YOUTH", north)
    clash = staff.post(reverse("group_list"), {"name": "YOUTH"})
    assert clash.status_code == 400 and "already a group called" in html.unescape(clash.content.decode())
    staff.post(reverse("group_detail", args=[youth.pk]), {"name": "Youth Group", "keyword": "", "branch": ""})
    youth.refresh_from_db()
    assert (youth.name, youth.keyword, youth.branch) == ("Youth Group", "", None)


def test_deleting_a_branch_keeps_its_members_and_says_so(world):
    north = BranchFactory(church=world.church, name="North")
    members = MemberFactory.create_batch(2, church=world.church, branch=north)
    page = world.page_client(Role.ADMIN).get(reverse("branch_list")).content.decode()
    assert "Its 2 member(s) and 0 group(s) are kept, without a branch" in page
    assert world.page_client(Role.STAFF).post(reverse("branch_delete", args=[north.pk])).status_code == 403
    response = world.page_client(Role.ADMIN).post(reverse("branch_delete", args=[north.pk]), follow=True)
    assert "were kept, now without a branch" in response.content.decode()
    assert not Branch.objects.filter(pk=north.pk).exists()
    assert list(Member.objects.filter(pk__in=[m.pk for m in members]).values_list("branch", flat=True)) == [None, None]


def test_deleting_a_group_keeps_its_members(world):
    group = GroupFactory(church=world.church, name="Choir")
    member = MemberFactory(church=world.church)
    GroupMembership.objects.create(church=world.church, group=group, member=member)
    assert world.page_client(Role.STAFF).post(reverse("group_delete", args=[group.pk])).status_code == 403
    response = world.page_client(Role.ADMIN).post(reverse("group_delete", args=[group.pk]), follow=True)
    assert "Its 1 member(s) were kept" in response.content.decode()
    assert Member.objects.filter(pk=member.pk).exists() and not Group.objects.filter(pk=group.pk).exists()


def test_group_page_lists_its_members_and_staff_remove_them(world, django_assert_max_num_queries):
    group = GroupFactory(church=world.church, name="Choir")
    inside = MemberFactory.create_batch(3, church=world.church)
    outside = MemberFactory(church=world.church, last_name="Outsider")
    for member in inside:
        GroupMembership.objects.create(church=world.church, group=group, member=member)
    viewer = world.page_client(Role.VIEWER)
    viewer.get(reverse("group_detail", args=[group.pk]))
    # session, user, membership, group, branches, groups, count, page, groups of the page, switcher
    with django_assert_max_num_queries(10):
        response = viewer.get(reverse("group_detail", args=[group.pk]))
    assert {row["member"].pk for row in response.context["rows"]} == {m.pk for m in inside}
    assert outside.last_name not in response.content.decode() and response.context["page"].matching == 3
    url = reverse("group_detail", args=[group.pk])
    removed = world.page_client(Role.STAFF).post(
        reverse("member_bulk"),
        {"action": "remove_from_group", "group": group.pk, "member_ids": [inside[0].pk], "next": url},
    )
    assert removed["Location"] == url
    assert GroupMembership.objects.filter(group=group).count() == 2


def test_viewers_cannot_change_branches_or_groups(world):
    branch = BranchFactory(church=world.church)
    group = GroupFactory(church=world.church)
    viewer = world.page_client(Role.VIEWER)
    assert viewer.post(reverse("branch_list"), {"name": "X"}).status_code == 403
    assert viewer.post(reverse("branch_update", args=[branch.pk]), {"name": "X"}).status_code == 403
    assert viewer.post(reverse("group_list"), {"name": "X"}).status_code == 403
    assert viewer.post(reverse("group_detail", args=[group.pk]), {"name": "X"}).status_code == 403
    assert viewer.post(reverse("branch_delete", args=[branch.pk])).status_code == 403
    assert viewer.post(reverse("group_delete", args=[group.pk])).status_code == 403
    branch.refresh_from_db()
    group.refresh_from_db()
    assert branch.name != "X" and group.name != "X"


def test_another_churchs_branches_and_groups_are_404(world, other_world):
    branch = BranchFactory(church=other_world.church)
    group = GroupFactory(church=other_world.church)
    owner = world.page_client(Role.OWNER)
    assert owner.get(reverse("group_detail", args=[group.pk])).status_code == 404
    assert owner.post(reverse("group_detail", args=[group.pk]), {"name": "Mine"}).status_code == 404
    assert owner.post(reverse("group_delete", args=[group.pk])).status_code == 404
    assert owner.post(reverse("branch_update", args=[branch.pk]), {"name": "Mine"}).status_code == 404
    assert owner.post(reverse("branch_delete", args=[branch.pk])).status_code == 404
    assert Branch.objects.filter(pk=branch.pk).exists() and Group.objects.filter(pk=group.pk, name=group.name).exists()
