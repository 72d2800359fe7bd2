"""Member pages: list (search, filters, sort, keyset pages, fixed query counts), detail/edit, consent,
bulk actions and CSV export — each proving another church's ids are a 404 and lower roles are refused."""

import csv
import io

import pytest
from django.urls import reverse

from churches.models import ConsentEvent, GroupMembership, Member, Role, SmsStatus
from tests.factories import BranchFactory, GroupFactory, MemberFactory

pytestmark = pytest.mark.django_db


def _names(response) -> list[str]:
    return [row["member"].last_name for row in response.context["rows"]]


def test_list_shows_members_with_formatted_phone_status_and_groups(world, other_world):
    group = GroupFactory(church=world.church, name="Choir")
    member = MemberFactory(church=world.church, first_name="Ruth", last_name="Adams", phone="+13125550142")
    GroupMembership.objects.create(church=world.church, group=group, member=member)
    MemberFactory(church=other_world.church, last_name="Outsider")
    response = world.page_client(Role.VIEWER).get(reverse("members_home"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Adams, Ruth" in body and "(312) 555-0142" in body and "Choir" in body and "Subscribed" in body
    assert "Outsider" not in body
    assert "+13125550142" not in body  # shown formatted, never as stored


def test_search_by_name_email_and_phone_and_filters(world):
    youth = GroupFactory(church=world.church, name="Youth")
    north = BranchFactory(church=world.church, name="North")
    ann = MemberFactory(church=world.church, first_name="Ann", last_name="Baker", email="ann@example.org", branch=north)
    MemberFactory(church=world.church, first_name="Bob", last_name="Carter", sms_status=SmsStatus.UNSUBSCRIBED)
    MemberFactory(church=world.church, first_name="Cy", last_name="Dunn", phone="+13125550177")
    GroupMembership.objects.create(church=world.church, group=youth, member=ann)
    client = world.page_client(Role.VIEWER)
    url = reverse("members_home")
    assert _names(client.get(url, {"q": "bak"})) == ["Baker"]
    assert _names(client.get(url, {"q": "ann@exa"})) == ["Baker"]
    assert _names(client.get(url, {"q": "(312) 555-0177"})) == ["Dunn"]
    assert _names(client.get(url, {"branch": north.pk})) == ["Baker"]
    assert _names(client.get(url, {"group": youth.pk})) == ["Baker"]
    assert _names(client.get(url, {"status": SmsStatus.UNSUBSCRIBED})) == ["Carter"]
    assert _names(client.get(url, {"sort": "-name"})) == ["Dunn", "Carter", "Baker"]
    # Unknown filter values (e.g. another church's group id) are ignored, not an error.
    assert client.get(url, {"group": 999999, "status": "bogus"}).status_code == 200


def test_keyset_pages_walk_forward_and_back_without_gaps(world, monkeypatch):
    from churches import listing

    monkeypatch.setattr(listing, "MEMBER_PAGE_SIZE", 3)
    for i in range(7):
        MemberFactory(church=world.church, first_name="P", last_name=f"Name{i:02d}")
    client = world.page_client(Role.VIEWER)
    url = reverse("members_home")
    seen, query, pages = [], {}, []
    while True:
        response = client.get(url, query)
        pages.append(response)
        seen += _names(response)
        page = response.context["page"]
        if not page.next_cursor:
            break
        query = {"after": page.next_cursor}
    assert seen == [f"Name{i:02d}" for i in range(7)]
    assert len(pages) == 3 and not pages[0].context["page"].previous_cursor
    back = client.get(url, {"before": pages[2].context["page"].previous_cursor})
    assert _names(back) == ["Name03", "Name04", "Name05"]
    assert back.context["page"].previous_cursor and back.context["page"].next_cursor
    assert client.get(url, {"after": "garbage!"}).status_code == 200  # a bad cursor is the first page


@pytest.mark.parametrize(
    "params",
    [{}, {"q": "smith"}, {"q": "(312) 555-0100"}, {"status": "subscribed", "sort": "-created"}, {"group": "G"}],
)
def test_member_list_query_count_is_fixed(world, django_assert_max_num_queries, params):
    groups = [GroupFactory(church=world.church) for _ in range(3)]
    branch = BranchFactory(church=world.church)
    members = MemberFactory.create_batch(60, church=world.church, branch=branch)
    for member in members:
        for group in groups:
            GroupMembership.objects.create(church=world.church, group=group, member=member)
    if params.get("group") == "G":
        params = {"group": groups[0].pk, "branch": branch.pk}
    client = world.page_client(Role.VIEWER)
    client.get(reverse("members_home"))  # warm the session
    # session, user, membership, branches, groups, count, page, groups of the page (+ savepoints)
    with django_assert_max_num_queries(9):
        response = client.get(reverse("members_home"), params)
    assert response.status_code == 200
    assert len(response.context["rows"]) == (50 if not params.get("q") else len(response.context["rows"]))


def test_member_detail_edit_and_groups(world):
    choir = GroupFactory(church=world.church, name="Choir")
    member = MemberFactory(church=world.church, first_name="Old", last_name="Name", phone="+13125550150")
    url = reverse("member_detail", args=[member.pk])
    assert world.page_client(Role.VIEWER).get(url).status_code == 200
    response = world.page_client(Role.STAFF).post(
        url,
        {
            "first_name": "New",
            "last_name": "Name",
            "phone": "312 555 0151",
            "email": "N@Example.org",
            "groups": [choir.pk],
        },
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.first_name, member.phone, member.email) == ("New", "+13125550151", "n@example.org")
    assert list(GroupMembership.objects.filter(member=member).values_list("group_id", flat=True)) == [choir.pk]


def test_member_edit_rejects_landline_with_a_readable_message(world):
    member = MemberFactory(church=world.church)
    response = world.page_client(Role.STAFF).post(
        reverse("member_detail", args=[member.pk]), {"phone": "(800) 555-1234", "first_name": "X"}
    )
    assert response.status_code == 400 and "toll-free" in response.content.decode()


def test_member_create_records_consent(world):
    response = world.page_client(Role.STAFF).post(
        reverse("member_create"), {"phone": "(312) 555-0160", "first_name": "Neu", "consent": "Connect card"}
    )
    assert response.status_code == 302
    member = Member.objects.get(church=world.church)
    assert member.sms_status == SmsStatus.SUBSCRIBED
    event = ConsentEvent.objects.get(member=member)
    assert (event.source, event.raw_text, event.actor) == ("staff", "Connect card", world.staff)
    duplicate = world.page_client(Role.STAFF).post(reverse("member_create"), {"phone": "312-555-0160"})
    assert duplicate.status_code == 400 and "already exists" in duplicate.content.decode()


def test_opt_out_then_staff_opt_in_is_refused_and_edit_keeps_status(world):
    member = MemberFactory(church=world.church)
    client = world.page_client(Role.STAFF)
    consent_url = reverse("member_consent", args=[member.pk])
    assert client.post(consent_url, {"kind": "opt_out", "note": "Asked at the door"}).status_code == 302
    member.refresh_from_db()
    assert member.sms_status == SmsStatus.UNSUBSCRIBED
    refused = client.post(consent_url, {"kind": "opt_in", "note": "Said yes on Sunday"})
    assert refused.status_code == 400 and "Only they can opt back in" in refused.content.decode()
    client.post(reverse("member_detail", args=[member.pk]), {"phone": member.phone, "first_name": "Renamed"})
    member.refresh_from_db()
    assert member.sms_status == SmsStatus.UNSUBSCRIBED and member.first_name == "Renamed"
    history = client.get(reverse("member_detail", args=[member.pk])).content.decode()
    assert "Opted out" in history and "Asked at the door" in history


def test_bulk_add_remove_and_delete(world, other_world):
    group = GroupFactory(church=world.church)
    mine = MemberFactory.create_batch(3, church=world.church)
    theirs = MemberFactory(church=other_world.church)
    ids = [m.pk for m in mine] + [theirs.pk]
    staff = world.page_client(Role.STAFF)
    staff.post(reverse("member_bulk"), {"action": "add_to_group", "group": group.pk, "member_ids": ids})
    assert GroupMembership.objects.filter(group=group).count() == 3  # the other church's id is ignored
    staff.post(reverse("member_bulk"), {"action": "remove_from_group", "group": group.pk, "member_ids": ids[:1]})
    assert GroupMembership.objects.filter(group=group).count() == 2
    assert staff.post(reverse("member_bulk"), {"action": "delete", "member_ids": ids}).status_code == 403
    response = world.page_client(Role.ADMIN).post(reverse("member_bulk"), {"action": "delete", "member_ids": ids})
    assert response.status_code == 302
    assert not Member.objects.filter(church=world.church).exists() and Member.objects.filter(pk=theirs.pk).exists()
    other_group = GroupFactory(church=other_world.church)
    staff.post(reverse("member_bulk"), {"action": "add_to_group", "group": other_group.pk, "member_ids": ids})
    assert not GroupMembership.objects.filter(group=other_group).exists()


def test_export_respects_filters_and_church(world, other_world):
    youth = GroupFactory(church=world.church, name="Youth")
    kid = MemberFactory(church=world.church, first_name="Kid", last_name="=cmd()", phone="+13125550171")
    MemberFactory(church=world.church, first_name="Grown", last_name="Up")
    MemberFactory(church=other_world.church, first_name="Other", last_name="Church")
    GroupMembership.objects.create(church=world.church, group=youth, member=kid)
    client = world.page_client(Role.STAFF)
    response = client.get(reverse("member_export"), {"group": youth.pk})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["First Name", "Last Name", "Mobile"]
    assert rows[1][:3] == ["Kid", "'=cmd()", "+13125550171"] and rows[1][5] == "Youth"
    assert len(rows) == 2
    everything = b"".join(client.get(reverse("member_export")).streaming_content).decode()
    assert "Grown" in everything and "Other" not in everything


def test_roles_on_member_pages(world):
    member = MemberFactory(church=world.church)
    viewer = world.page_client(Role.VIEWER)
    assert viewer.get(reverse("member_create")).status_code == 403
    assert viewer.post(reverse("member_create"), {"phone": "3125550190"}).status_code == 403
    assert viewer.post(reverse("member_detail", args=[member.pk]), {"phone": "3125550190"}).status_code == 403
    assert viewer.post(reverse("member_consent", args=[member.pk]), {"kind": "opt_out"}).status_code == 403
    assert viewer.get(reverse("member_export")).status_code == 403
    assert viewer.post(reverse("member_bulk"), {"action": "delete", "member_ids": [member.pk]}).status_code == 403
    assert world.page_client(Role.STAFF).post(reverse("member_delete", args=[member.pk])).status_code == 403
    assert world.page_client(Role.ADMIN).post(reverse("member_delete", args=[member.pk])).status_code == 302
    assert not Member.objects.filter(pk=member.pk).exists()


def test_another_churchs_member_is_404_everywhere(world, other_world):
    theirs = MemberFactory(church=other_world.church)
    owner = world.page_client(Role.OWNER)
    for name, method in [
        ("member_detail", "get"),
        ("member_detail", "post"),
        ("member_consent", "post"),
        ("member_delete", "post"),
    ]:
        response = getattr(owner, method)(reverse(name, args=[theirs.pk]), {"kind": "opt_out", "phone": "1"})
        assert response.status_code == 404, name
    assert Member.objects.filter(pk=theirs.pk).exists()


def test_signed_out_users_are_sent_to_sign_in(client):
    response = client.get(reverse("members_home"))
    assert response.status_code == 302 and reverse("login") in response["Location"]
