"""Per-branch staff: a staff member limited to some branches sees and sends to those branches only, through
the tenancy mechanism (``koinonia.tenancy``: ``for_church`` narrows models with ``branch_scope``), in
pages and in the API alike — another branch's row is a 404 exactly like another church's."""

import pytest

from analytics.models import DailyStat
from analytics.services import local_today
from churches import services as church_services
from churches.models import ApiKey, GroupMembership, Role, StaffMembership
from conversations.models import Conversation
from messaging.models import Message, Recipient, SenderNumber
from tests.conftest import assert_other_church_404
from tests.conversations.factories import ConversationFactory, ConversationMessageFactory
from tests.factories import BranchFactory, GroupFactory, MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def campuses(world):
    """Two branches; the staff user is limited to "North". One member in each, plus one with no branch."""
    north = BranchFactory(church=world.church, name="North")
    south = BranchFactory(church=world.church, name="South")
    members = {
        "north": MemberFactory(church=world.church, branch=north, first_name="Nora"),
        "south": MemberFactory(church=world.church, branch=south, first_name="Sam"),
        "none": MemberFactory(church=world.church, branch=None, first_name="Nobody"),
    }
    membership = StaffMembership.objects.get(church=world.church, user=world.staff)
    church_services.staff_set_branches(
        church=world.church, acting_user=world.owner, membership_id=membership.pk, branch_ids=[north.pk]
    )
    return {"north": north, "south": south, "members": members, "membership": membership}


def test_members_of_another_branch_are_404_in_pages_and_api(world, campuses):
    members = campuses["members"]
    page = world.page_client(Role.STAFF)
    assert page.get(f"/members/{members['north'].pk}/").status_code == 200
    assert_other_church_404(page, f"/members/{members['south'].pk}/")
    assert_other_church_404(page, f"/members/{members['none'].pk}/")
    listing = page.get("/members/").content.decode()
    assert "Nora" in listing and "Sam" not in listing and "Nobody" not in listing

    api = world.session_api_client(Role.STAFF)
    assert api.get(f"/api/v1/members/{members['north'].pk}").status_code == 200
    assert_other_church_404(api, f"/api/v1/members/{members['south'].pk}")
    names = {row["first_name"] for row in api.get("/api/v1/members").json()["results"]}
    assert names == {"Nora"}
    # An unlimited colleague (the admin) still sees everyone.
    assert world.page_client(Role.ADMIN).get(f"/members/{members['south'].pk}/").status_code == 200


def test_another_branch_cannot_be_chosen_as_a_members_branch(world, campuses):
    page = world.page_client(Role.STAFF)
    assert_other_church_404(page, f"/branches/{campuses['south'].pk}/", "post", {"name": "Taken"})
    api = world.session_api_client(Role.STAFF)
    response = api.patch(
        f"/api/v1/members/{campuses['members']['north'].pk}", {"branch_id": campuses["south"].pk}, format="json"
    )
    assert response.status_code in (400, 404), response.content
    campuses["members"]["north"].refresh_from_db()
    assert campuses["members"]["north"].branch_id == campuses["north"].pk


def _send(client, audience, **extra):
    return client.post("/api/v1/messages", {"body": "Hello", "audience": audience}, format="json", **extra)


@pytest.fixture
def sender(world):
    return SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")


def test_a_limited_sender_reaches_their_branches_only(world, campuses, sender, django_capture_on_commit_callbacks):
    api = world.session_api_client(Role.STAFF)
    members = campuses["members"]
    # Another branch, or a member of one, is unknown to them: 400, nothing sent.
    assert _send(api, {"branch_ids": [campuses["south"].pk]}).status_code == 400
    assert _send(api, {"member_ids": [members["south"].pk]}).status_code == 400
    assert not Message.objects.for_church(world.church).exists()

    group = GroupFactory(church=world.church, name="Choir")
    for member in members.values():
        GroupMembership.objects.create(church=world.church, group=group, member=member)
    with django_capture_on_commit_callbacks(execute=True):
        everyone = _send(api, {"all": True})
        choir = _send(api, {"group_ids": [group.pk]})
    assert everyone.status_code == 201 and choir.status_code == 201, (everyone.content, choir.content)
    for response in (everyone, choir):
        recipients = Recipient.objects.for_church(world.church).filter(message_id=response.json()["id"])
        assert set(recipients.values_list("member_id", flat=True)) == {members["north"].pk}

    # The admin (not limited) sending to the same group reaches all three.
    with django_capture_on_commit_callbacks(execute=True):
        full = _send(world.session_api_client(Role.ADMIN), {"group_ids": [group.pk]})
    assert Recipient.objects.for_church(world.church).filter(message_id=full.json()["id"]).count() == 3


def test_conversations_of_other_branches_are_hidden(world, campuses):
    members = campuses["members"]
    mine = ConversationFactory(church=world.church, member=members["north"])
    theirs = ConversationFactory(church=world.church, member=members["south"])
    ConversationMessageFactory(conversation=mine, body="north hello")
    ConversationMessageFactory(conversation=theirs, body="south secret")
    page = world.page_client(Role.STAFF)
    inbox = page.get("/inbox/").content.decode()
    assert "north hello" in inbox or members["north"].first_name in inbox
    assert "south secret" not in inbox and members["south"].first_name not in inbox
    assert page.get(f"/inbox/c/{mine.pk}/").status_code == 200
    assert_other_church_404(page, f"/inbox/c/{theirs.pk}/")
    assert_other_church_404(world.session_api_client(Role.STAFF), f"/api/v1/conversations/{theirs.pk}")
    assert Conversation.objects.for_church(world.church).count() == 2  # unlimited (no request): both


def test_analytics_show_their_branches_only(world, other_world, campuses):
    today = local_today(world.church)
    DailyStat.objects.create(church=world.church, day=today, branch=None, branch_key=0, sent=100)
    for key, sent in (("north", 7), ("south", 50)):
        branch = campuses[key]
        DailyStat.objects.create(church=world.church, day=today, branch=branch, branch_key=branch.pk, sent=sent)
    api = world.session_api_client(Role.STAFF)
    totals = api.get("/api/v1/analytics?days=7").json()["totals"]
    assert totals["sent"] == 7  # their branch, not the church's 100
    assert api.get(f"/api/v1/analytics?days=7&branch_id={campuses['north'].pk}").json()["totals"]["sent"] == 7
    assert_other_church_404(api, f"/api/v1/analytics?days=7&branch_id={campuses['south'].pk}")
    page = world.page_client(Role.STAFF)
    assert_other_church_404(page, f"/analytics/?days=7&branch={campuses['south'].pk}")
    assert world.session_api_client(Role.ADMIN).get("/api/v1/analytics?days=7").json()["totals"]["sent"] == 100


def test_keys_made_by_a_limited_user_are_limited_too(world, campuses):
    page = world.page_client(Role.ADMIN)
    admin_membership = StaffMembership.objects.get(church=world.church, user=world.admin)
    response = page.post(f"/settings/team/{admin_membership.pk}/branches/", {"branches": [campuses["north"].pk]})
    assert response.status_code == 302
    # Keys are made by admins; this admin is now limited to North.
    page.post("/settings/api-keys/", {"name": "North key", "role": Role.STAFF})
    key = ApiKey.objects.for_church(world.church).get(name="North key")
    assert key.branch_ids == [campuses["north"].pk]
    _, raw = church_services.api_key_create(church=world.church, acting_user=None, name="Copy", role=Role.STAFF)
    ApiKey.objects.for_church(world.church).filter(name="Copy").update(branch_ids=[campuses["north"].pk])
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(f"/api/v1/members/{campuses['members']['north'].pk}").status_code == 200
    assert_other_church_404(client, f"/api/v1/members/{campuses['members']['south'].pk}")


def test_the_team_page_sets_limits_for_admins_only(world, other_world, campuses):
    owner = world.page_client(Role.OWNER)
    membership = campuses["membership"]
    page = owner.get("/settings/team/").content.decode()
    assert 'name="branches"' in page and "North" in page
    url = f"/settings/team/{membership.pk}/branches/"
    assert owner.post(url, {"branches": [campuses["south"].pk, campuses["north"].pk]}).status_code == 302
    membership.refresh_from_db()
    assert set(membership.branch_ids) == {campuses["north"].pk, campuses["south"].pk}
    assert owner.post(url, {}).status_code == 302  # none ticked: the whole church
    membership.refresh_from_db()
    assert membership.branch_ids == []

    # Lower roles are refused; another church's membership or branch is a 404 / a refusal.
    assert world.page_client(Role.STAFF).post(url, {"branches": [campuses["north"].pk]}).status_code == 403
    other_membership = StaffMembership.objects.get(church=other_world.church, user=other_world.staff)
    assert_other_church_404(owner, f"/settings/team/{other_membership.pk}/branches/", "post", {})
    their_branch = BranchFactory(church=other_world.church, name="Elsewhere")
    owner.post(url, {"branches": [their_branch.pk]})
    membership.refresh_from_db()
    assert membership.branch_ids == []
    assert owner.post(url, {"branches": ["x"]}).status_code == 302  # a message, never a 500

    # Owners see the whole church whatever is stored.
    owner_membership = StaffMembership.objects.get(church=world.church, user=world.owner)
    owner.post(f"/settings/team/{owner_membership.pk}/branches/", {"branches": [campuses["north"].pk]})
    owner_membership.refresh_from_db()
    assert owner_membership.branch_ids == []
