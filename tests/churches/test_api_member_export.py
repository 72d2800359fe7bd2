"""GET /api/v1/members/export?format=csv: the page export's columns, streamed, filters as the list,
queries fixed whatever the number of members, staff only, the church's own members, members:read."""

import csv
import io

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from churches import services
from churches.member_export import HEADER
from churches.models import AuditLog, GroupMembership, Role
from tests.conftest import assert_error_shape
from tests.factories import BranchFactory, GroupFactory, MemberFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/members/export"


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200, getattr(response, "content", b"")[:300]
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_export_has_the_page_columns_and_rows(world, other_world):
    north = BranchFactory(church=world.church, name="North")
    youth = GroupFactory(church=world.church, name="Youth")
    choir = GroupFactory(church=world.church, name="Choir")
    kid = MemberFactory(church=world.church, first_name="Kid", last_name="=cmd()", branch=north, phone="+13125550171")
    for group in (youth, choir):
        GroupMembership.objects.create(church=world.church, group=group, member=kid)
    MemberFactory(church=world.church, first_name="Grown", last_name="Up")
    MemberFactory(church=other_world.church, first_name="Other", last_name="Church")
    client = world.api_client(Role.STAFF)
    response = client.get(URL, {"format": "csv"})
    assert response["Content-Disposition"] == f'attachment; filename="{world.church.slug}-members.csv"'
    rows = read_csv(response)
    assert rows[0] == HEADER
    assert [r[0] for r in rows[1:]] == ["Kid", "Grown"]  # by last name: "=cmd()" sorts before "Up"
    kid_row = rows[1]
    assert kid_row[:3] == ["Kid", "'=cmd()", "+13125550171"] and kid_row[4] == "North"
    assert sorted(kid_row[5].split("; ")) == ["Choir", "Youth"]
    # The same rows as the members page's export.
    assert read_csv(world.page_client(Role.STAFF).get(reverse("member_export"))) == rows
    assert AuditLog.objects.filter(church=world.church, action="members.exported", api_key__isnull=False).exists()


def test_filters_as_the_list_and_bad_ones_are_400(world, other_world):
    youth = GroupFactory(church=world.church, name="Youth")
    kid = MemberFactory(church=world.church, first_name="Kid")
    MemberFactory(church=world.church, first_name="Grown")
    GroupMembership.objects.create(church=world.church, group=youth, member=kid)
    client = world.api_client(Role.STAFF)
    assert [r[0] for r in read_csv(client.get(URL, {"group_id": youth.pk}))[1:]] == ["Kid"]
    assert [r[0] for r in read_csv(client.get(URL, {"q": "Grown"}))[1:]] == ["Grown"]
    assert len(read_csv(client.get(URL))) == 3  # format defaults to csv
    theirs = GroupFactory(church=other_world.church)
    for params in ({"format": "xlsx"}, {"group_id": theirs.pk}, {"sms_status": "maybe"}, {"sort": "phone"}):
        assert_error_shape(client.get(URL, params), 400, "validation_error")


@pytest.mark.parametrize("size", [3, 40])
def test_queries_do_not_grow_with_the_number_of_members(world, size, django_assert_num_queries):
    north = BranchFactory(church=world.church)
    group = GroupFactory(church=world.church)
    members = MemberFactory.create_batch(size, church=world.church, branch=north)
    services.group_members_add(church=world.church, group=group, member_ids=[m.pk for m in members])
    client = world.api_client(Role.STAFF)
    client.get("/api/v1/church")  # the key's first use writes last_used_at; measure the steady state
    # The key; the audit row; group names; the members (iterator, with their branch); their groups.
    with django_assert_num_queries(5):
        rows = read_csv(client.get(URL, {"format": "csv"}))
    assert len(rows) == size + 1


def test_the_export_streams_in_chunks(world, django_assert_num_queries):
    from churches import member_export

    MemberFactory.create_batch(5, church=world.church)
    lines = member_export.member_export_lines(church=world.church, filters={"sort": "name"}, chunk_size=2)
    # Group names, then per chunk of 2 (2, 2, 1) the chunk's members and their groups: keyset batches.
    with django_assert_num_queries(7):
        assert len(list(lines)) == 6


def test_staff_only_and_the_members_read_scope(world):
    assert_error_shape(world.api_client(Role.VIEWER).get(URL), 403, "permission_denied")
    assert_error_shape(world.session_api_client(Role.VIEWER).get(URL), 403)
    assert world.session_api_client(Role.STAFF).get(URL).status_code == 200

    def key(*scopes):
        _, raw = services.api_key_create(
            church=world.church, acting_user=None, name="k", role=Role.STAFF, scopes=list(scopes)
        )
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client

    assert key("members:read").get(URL).status_code == 200
    error = assert_error_shape(key("members:write", "messages:read").get(URL), 403, "insufficient_scope")
    assert error["details"]["missing_scopes"] == ["members:read"]


def test_another_churches_members_never_appear(world, other_world):
    MemberFactory.create_batch(3, church=other_world.church, first_name="Theirs")
    rows = read_csv(world.api_client(Role.STAFF).get(URL))
    assert rows == [HEADER]
    rows = read_csv(other_world.api_client(Role.STAFF).get(URL))
    assert [r[0] for r in rows[1:]] == ["Theirs"] * 3
