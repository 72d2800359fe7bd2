"""/api/v1/canned-replies: list by title, read, add, edit, delete; viewers read, staff write; another
church's reply is a 404; scopes conversations:read / conversations:write."""

import pytest

from churches import services as church_services
from churches.models import Role
from conversations import services
from conversations.models import CannedReply
from tests.conftest import assert_error_shape, assert_other_church_404, assert_role_refused

pytestmark = pytest.mark.django_db

URL = "/api/v1/canned-replies"


def canned(world, title, body="Thanks for writing!"):
    return services.canned_reply_create(church=world.church, acting_user=None, title=title, body=body)


def test_list_by_title_in_fixed_queries(world, django_assert_num_queries):
    for title in ("Service times", "Address", "Parking"):
        canned(world, title)
    viewer = world.api_client(Role.VIEWER)
    viewer.get(URL)  # the key's first use writes last_used_at; measure the steady state
    with django_assert_num_queries(2):  # the key, the page
        response = viewer.get(URL)
    assert response.status_code == 200
    assert [r["title"] for r in response.json()["results"]] == ["Address", "Parking", "Service times"]
    assert set(response.json()["results"][0]) == {"id", "title", "body", "created_at"}
    for title in ("Choir", "Youth", "Bible study", "Prayer"):
        canned(world, title)
    with django_assert_num_queries(2):
        assert len(viewer.get(URL).json()["results"]) == 7
    page = viewer.get(URL, {"page_size": 2}).json()
    assert len(page["results"]) == 2 and page["next"]


def test_staff_add_edit_and_delete(world):
    staff = world.api_client(Role.STAFF)
    response = staff.post(URL, {"title": "  Address ", "body": "12 Main St."}, format="json")
    assert response.status_code == 201, response.content
    reply = response.json()
    assert reply["title"] == "Address" and reply["body"] == "12 Main St."
    assert staff.get(f"{URL}/{reply['id']}").json() == reply

    edited = staff.patch(f"{URL}/{reply['id']}", {"body": "14 Main St."}, format="json")
    assert edited.status_code == 200 and edited.json()["body"] == "14 Main St." and edited.json()["title"] == "Address"
    assert CannedReply.objects.get(pk=reply["id"]).body == "14 Main St."

    assert staff.delete(f"{URL}/{reply['id']}").status_code == 204
    assert not CannedReply.objects.filter(pk=reply["id"]).exists()
    assert_error_shape(staff.get(f"{URL}/{reply['id']}"), 404, "not_found")


def test_bad_input_is_400_and_duplicates_409(world):
    staff = world.api_client(Role.STAFF)
    canned(world, "Address")
    for payload in ({}, {"title": "", "body": "x"}, {"title": "x", "body": ""}, {"title": "x" * 81, "body": "x"}):
        assert_error_shape(staff.post(URL, payload, format="json"), 400)
    error = assert_error_shape(staff.post(URL, {"title": "ADDRESS", "body": "x"}, format="json"), 409, "conflict")
    assert "title" in error["details"]
    other = canned(world, "Parking")
    assert_error_shape(staff.patch(f"{URL}/{other.pk}", {"title": "address"}, format="json"), 409, "conflict")
    assert_error_shape(staff.patch(f"{URL}/{other.pk}", {"body": "   "}, format="json"), 400)
    assert_error_shape(staff.put(f"{URL}/{other.pk}", {"title": "a", "body": "b"}, format="json"), 405)


def test_viewers_read_but_cannot_write(world):
    reply = canned(world, "Address")
    viewer = world.api_client(Role.VIEWER)
    assert viewer.get(f"{URL}/{reply.pk}").status_code == 200
    assert_role_refused(viewer, URL, "post", {"title": "New", "body": "x"})
    assert_role_refused(viewer, f"{URL}/{reply.pk}", "patch", {"body": "x"})
    assert_role_refused(viewer, f"{URL}/{reply.pk}", "delete")
    assert CannedReply.objects.get(pk=reply.pk).body == "Thanks for writing!"


def test_another_churches_replies_are_404_for_every_method(world, other_world):
    theirs = services.canned_reply_create(church=other_world.church, acting_user=None, title="Theirs", body="x")
    staff = world.api_client(Role.STAFF)
    url = f"{URL}/{theirs.pk}"
    assert_other_church_404(staff, url)
    assert_other_church_404(staff, url, "patch", {"body": "mine now"})
    assert_other_church_404(staff, url, "delete")
    assert theirs.pk not in {r["id"] for r in staff.get(URL).json()["results"]}
    theirs.refresh_from_db()
    assert theirs.body == "x"


def test_scopes(world):
    reply = canned(world, "Address")

    def key(*scopes):
        from rest_framework.test import APIClient

        _, raw = church_services.api_key_create(
            church=world.church, acting_user=None, name="k", role=Role.STAFF, scopes=list(scopes)
        )
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client

    reader = key("conversations:read")
    assert reader.get(URL).status_code == 200
    error = assert_error_shape(reader.post(URL, {"title": "x", "body": "y"}, format="json"), 403, "insufficient_scope")
    assert error["details"]["missing_scopes"] == ["conversations:write"]
    writer = key("conversations:write")
    assert writer.patch(f"{URL}/{reply.pk}", {"body": "new"}, format="json").status_code == 200
    assert_error_shape(writer.get(URL), 403, "insufficient_scope")
    assert_error_shape(key("members:read", "members:write").get(URL), 403, "insufficient_scope")
