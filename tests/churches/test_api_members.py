"""/api/v1/members: list with filters, create, retrieve, edit, delete."""

import pytest

from churches import services
from churches.models import ApiKey, AuditLog, ConsentEvent, GroupMembership, Member, Role, SmsStatus
from tests.conftest import assert_error_shape, assert_other_church_404, assert_role_refused
from tests.factories import BranchFactory, GroupFactory, MemberFactory

pytestmark = pytest.mark.django_db

MEMBER_FIELDS = {
    "id",
    "first_name",
    "last_name",
    "phone",
    "email",
    "branch_id",
    "group_ids",
    "sms_status",
    "timezone",
    "language",
    "created_at",
    "updated_at",
}


@pytest.mark.parametrize("rows", [3, 30])
def test_list_has_group_ids_in_fixed_queries_and_hides_other_churches(
    world, other_world, rows, django_assert_max_num_queries
):
    members = MemberFactory.create_batch(rows, church=world.church)
    youth, choir = GroupFactory.create_batch(2, church=world.church)
    GroupMembership.objects.bulk_create(
        [GroupMembership(church=world.church, group=g, member=m) for m in members for g in (youth, choir)]
    )
    MemberFactory.create_batch(2, church=other_world.church)
    client = world.api_client(Role.VIEWER)
    with django_assert_max_num_queries(4):  # key, last-used stamp, page, group ids of the page
        body = client.get("/api/v1/members?page_size=100").json()
    assert set(body) == {"results", "next", "previous"}
    assert [row["id"] for row in body["results"]] == sorted((m.pk for m in members), reverse=True)
    assert set(body["results"][0]) == MEMBER_FIELDS
    assert all(row["group_ids"] == sorted([youth.pk, choir.pk]) for row in body["results"])
    assert body["results"][0]["phone"].startswith("+1")


def test_list_filters_and_sorts(world):
    north = BranchFactory(church=world.church)
    youth = GroupFactory(church=world.church)
    ruth = MemberFactory(church=world.church, first_name="Ruth", last_name="Miller", email="ruth@example.test")
    boaz = MemberFactory(church=world.church, first_name="Boaz", last_name="Miller", branch=north)
    naomi = MemberFactory(
        church=world.church, first_name="Naomi", last_name="Abel", sms_status=SmsStatus.UNSUBSCRIBED, branch=north
    )
    GroupMembership.objects.create(church=world.church, group=youth, member=ruth)
    client = world.api_client(Role.VIEWER)

    def ids(query):
        response = client.get(f"/api/v1/members?{query}")
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids("q=miller&sort=name") == [boaz.pk, ruth.pk]
    assert ids("q=RUTH@example") == [ruth.pk]
    from urllib.parse import quote

    assert ids(f"q={quote(ruth.phone)}") == [ruth.pk]
    assert ids(f"branch_id={north.pk}&sort=created") == [boaz.pk, naomi.pk]
    assert ids(f"group_id={youth.pk}") == [ruth.pk]
    assert ids("sms_status=unsubscribed") == [naomi.pk]
    assert ids("sort=name") == [naomi.pk, boaz.pk, ruth.pk]
    assert ids("sort=-name") == [ruth.pk, boaz.pk, naomi.pk]
    assert ids("") == [naomi.pk, boaz.pk, ruth.pk]  # newest first by default


def test_name_sorted_pages_walk_every_member_once_even_with_shared_last_names(world):
    members = [MemberFactory(church=world.church, last_name="Smith" if i % 2 else "Jones") for i in range(7)]
    client = world.api_client(Role.VIEWER)
    seen, url = [], "/api/v1/members?sort=name&page_size=2"
    while url:
        body = client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(m.pk for m in members) and len(seen) == 7
    assert [Member.objects.get(pk=i).last_name for i in seen] == ["Jones"] * 4 + ["Smith"] * 3


def test_bad_filters_are_400(world, other_world):
    client = world.api_client(Role.VIEWER)
    their_branch = BranchFactory(church=other_world.church)
    their_group = GroupFactory(church=other_world.church)
    for query, field in (
        ("sms_status=happy", "sms_status"),
        ("sort=height", "sort"),
        ("branch_id=abc", "branch_id"),
        (f"branch_id={their_branch.pk}", "branch_id"),
        (f"group_id={their_group.pk}", "group_id"),
        ("group_id=0", "group_id"),
    ):
        error = assert_error_shape(client.get(f"/api/v1/members?{query}"), 400, "validation_error")
        assert field in error["details"], query


def test_staff_create_a_member_with_consent_through_the_api(world):
    branch = BranchFactory(church=world.church)
    youth = GroupFactory(church=world.church)
    client = world.api_client(Role.STAFF)
    response = client.post(
        "/api/v1/members",
        {
            "first_name": "Ruth",
            "last_name": "Miller",
            "phone": "(415) 555-0142",
            "email": "Ruth@Example.test",
            "branch_id": branch.pk,
            "group_ids": [youth.pk],
            "consent": "Signed the connect card, 2024-05-05",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == MEMBER_FIELDS
    assert body["phone"] == "+14155550142" and body["email"] == "ruth@example.test"
    assert body["branch_id"] == branch.pk and body["group_ids"] == [youth.pk]
    assert body["sms_status"] == "subscribed" and body["timezone"] == "America/Los_Angeles"
    event = ConsentEvent.objects.get(member_id=body["id"])
    assert event.source == ConsentEvent.Source.API and event.kind == ConsentEvent.Kind.OPT_IN
    assert event.api_key == ApiKey.objects.get(church=world.church, name="staff key")
    assert event.raw_text == "Signed the connect card, 2024-05-05"

    response = client.post("/api/v1/members", {"phone": "+1 312 555 0177"}, format="json")
    assert response.status_code == 201 and response.json()["sms_status"] == "never_consented"
    assert not ConsentEvent.objects.filter(member_id=response.json()["id"]).exists()


def test_bad_member_input_is_400_and_duplicates_409(world, other_world):
    client = world.api_client(Role.STAFF)
    MemberFactory(church=world.church, phone="+13125550111")
    their_group = GroupFactory(church=other_world.church)
    their_branch = BranchFactory(church=other_world.church)
    error = assert_error_shape(client.post("/api/v1/members", {"phone": "(800) 555-1234"}, format="json"), 400)
    assert error["code"] == "invalid_phone" and "toll-free" in error["details"]["phone"][0]
    error = assert_error_shape(client.post("/api/v1/members", {"phone": "hello"}, format="json"), 400, "invalid_phone")
    assert list(error["details"]) == ["phone"]
    error = assert_error_shape(client.post("/api/v1/members", {"first_name": "A"}, format="json"), 400)
    assert error["code"] == "validation_error" and "phone" in error["details"]
    error = assert_error_shape(client.post("/api/v1/members", {"phone": "312-555-0111"}, format="json"), 409)
    assert error["code"] == "conflict" and "phone" in error["details"]
    for body, field in (
        ({"phone": "312-555-0112", "email": "not-an-email"}, "email"),
        ({"phone": "312-555-0112", "timezone": "Moon/Base"}, "timezone"),
        ({"phone": "312-555-0112", "group_ids": [their_group.pk]}, "group_ids"),
        ({"phone": "312-555-0112", "group_ids": "7"}, "group_ids"),
        ({"phone": "312-555-0112", "branch_id": their_branch.pk}, "branch_id"),
        ({"phone": "312-555-0112", "first_name": "x" * 101}, "first_name"),
    ):
        error = assert_error_shape(client.post("/api/v1/members", body, format="json"), 400)
        assert field in error["details"], body
    assert_error_shape(
        client.generic("POST", "/api/v1/members", data='{"phone": ', content_type="application/json"),
        400,
        "malformed_request",
    )
    assert Member.objects.filter(church=world.church).count() == 1


def test_the_same_phone_may_belong_to_members_of_two_churches(world, other_world):
    theirs = MemberFactory(church=other_world.church, phone="+13125550123")
    response = world.api_client(Role.STAFF).post("/api/v1/members", {"phone": "312 555 0123"}, format="json")
    assert response.status_code == 201 and response.json()["id"] != theirs.pk


def test_retrieve_and_patch_a_member(world):
    youth, choir = GroupFactory.create_batch(2, church=world.church)
    member = services.member_create(
        church=world.church, acting_user=None, phone="312-555-0150", first_name="Ruth", group_ids=[youth.pk]
    )
    client = world.api_client(Role.STAFF)
    body = client.get(f"/api/v1/members/{member.pk}").json()
    assert body["first_name"] == "Ruth" and body["group_ids"] == [youth.pk] and body["phone"] == "+13125550150"

    response = client.patch(
        f"/api/v1/members/{member.pk}",
        {"last_name": "Miller", "phone": "(312) 555-0151", "group_ids": [choir.pk]},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["first_name"], body["last_name"], body["phone"]) == ("Ruth", "Miller", "+13125550151")
    assert body["group_ids"] == [choir.pk]
    assert client.get("/api/v1/members?q=312-555-0151").json()["results"][0]["id"] == member.pk


def test_bad_patches_are_refused_and_change_nothing(world, other_world):
    member = MemberFactory(church=world.church, first_name="Ruth", sms_status=SmsStatus.UNSUBSCRIBED)
    MemberFactory(church=world.church, phone="+13125550199")
    their_branch = BranchFactory(church=other_world.church)
    client = world.api_client(Role.STAFF)
    url = f"/api/v1/members/{member.pk}"
    error = assert_error_shape(client.patch(url, {"sms_status": "subscribed"}, format="json"), 400)
    assert "sms_status" in error["details"]
    assert_error_shape(client.patch(url, {"phone": "555"}, format="json"), 400, "invalid_phone")
    assert_error_shape(client.patch(url, {"phone": "+1 312 555 0199"}, format="json"), 409, "conflict")
    assert_error_shape(client.patch(url, {"branch_id": their_branch.pk}, format="json"), 400)
    assert_error_shape(client.patch(url, {"email": "nope"}, format="json"), 400, "validation_error")
    assert_error_shape(client.put(url, {"phone": "312-555-0100"}, format="json"), 405)
    member.refresh_from_db()
    assert member.sms_status == SmsStatus.UNSUBSCRIBED and member.first_name == "Ruth"


def test_roles_for_members(world):
    member = MemberFactory(church=world.church)
    viewer = world.api_client(Role.VIEWER)
    assert viewer.get(f"/api/v1/members/{member.pk}").status_code == 200
    assert_role_refused(viewer, "/api/v1/members", "post", {"phone": "312-555-0100"})
    assert_role_refused(viewer, f"/api/v1/members/{member.pk}", "patch", {"first_name": "X"})
    assert_role_refused(world.api_client(Role.STAFF), f"/api/v1/members/{member.pk}", "delete")
    assert Member.objects.filter(pk=member.pk).exists()


def test_admin_deletes_a_member_with_their_memberships_and_consent(world):
    member = services.member_create(
        church=world.church,
        acting_user=None,
        phone="312-555-0160",
        consent="Asked at the door",
        group_ids=[GroupFactory(church=world.church).pk],
    )
    response = world.api_client(Role.ADMIN).delete(f"/api/v1/members/{member.pk}")
    assert response.status_code == 204
    assert not Member.objects.filter(pk=member.pk).exists()
    assert not ConsentEvent.objects.filter(member_id=member.pk).exists()
    assert not GroupMembership.objects.filter(member_id=member.pk).exists()
    assert AuditLog.objects.get(church=world.church, action="members.deleted").data == {"count": 1}


def test_other_churches_members_are_404_for_every_method(world, other_world):
    theirs = MemberFactory(church=other_world.church, first_name="Theirs")
    client = world.api_client(Role.ADMIN)
    url = f"/api/v1/members/{theirs.pk}"
    assert_other_church_404(client, url)
    assert_other_church_404(client, url, "patch", {"first_name": "Mine"})
    assert_other_church_404(client, url, "delete")
    assert_other_church_404(client, f"{url}/consent")
    assert_other_church_404(client, f"{url}/consent", "post", {"kind": "opt_out"})
    theirs.refresh_from_db()
    assert theirs.first_name == "Theirs" and theirs.sms_status == SmsStatus.SUBSCRIBED
    assert client.get("/api/v1/members").json()["results"] == []
    assert client.get(f"/api/v1/members?q={theirs.phone.replace('+', '%2B')}").json()["results"] == []
    assert_error_shape(client.get("/api/v1/members/abc"), 404, "not_found")
