"""Support admin for the directory: find members by phone, read the consent ledger, never rewrite it."""

import pytest
from django.test import Client

from churches import services
from churches.models import ConsentEvent, Member, SmsStatus
from tests.factories import BranchFactory, GroupFactory, MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def support(db) -> Client:
    client = Client()
    client.force_login(UserFactory(email="support@koinonia.test", is_staff=True, is_superuser=True))
    return client


def _listed(response) -> set[int]:
    return {member.pk for member in response.context["cl"].result_list}


def test_member_search_by_phone_in_any_format_email_and_name(support, world, other_world):
    ruth = services.member_create(
        church=world.church,
        acting_user=None,
        phone="312-555-0150",
        first_name="Ruth",
        last_name="Miller",
        email="ruth@example.test",
    )
    # Names fixed, not Faker's: a random surname can be "Miller" and turn up in the name search.
    theirs = MemberFactory(church=other_world.church, phone="+13125550150", first_name="Naomi", last_name="Mara")
    MemberFactory(church=world.church, first_name="Boaz", last_name="Ephrathah")
    url = "/admin/churches/member/"
    for term in ("(312) 555-0150", "+1 312 555 0150", "3125550150"):
        assert _listed(support.get(url, {"q": term})) == {ruth.pk, theirs.pk}, term
    assert _listed(support.get(url, {"q": "ruth@example"})) == {ruth.pk}
    assert _listed(support.get(url, {"q": "Miller"})) == {ruth.pk}
    assert _listed(support.get(url, {"q": "312 555 9999"})) == set()
    assert _listed(support.get(url, {"sms_status__exact": "never_consented"})) == {ruth.pk}
    assert _listed(support.get(url, {"church__id__exact": other_world.church.pk})) == {theirs.pk}


@pytest.mark.parametrize("rows", [3, 30])
def test_member_changelist_runs_in_fixed_queries(support, world, rows, django_assert_max_num_queries):
    branch = BranchFactory(church=world.church)
    MemberFactory.create_batch(rows, church=world.church, branch=branch)
    with django_assert_max_num_queries(7):
        response = support.get("/admin/churches/member/")
    assert response.status_code == 200 and len(_listed(response)) == rows


def test_member_page_shows_the_phone_decrypted_and_the_ledger_read_only(support, world):
    member = services.member_create(
        church=world.church, acting_user=world.staff, phone="312-555-0160", first_name="Ruth", consent="Connect card"
    )
    response = support.get(f"/admin/churches/member/{member.pk}/change/")
    content = response.content.decode()
    assert response.status_code == 200
    assert "+13125550160" in content and member.phone_hash not in content
    assert "Connect card" in content
    inline = next(f for f in response.context["inline_admin_formsets"] if f.opts.model is ConsentEvent)
    assert not inline.has_add_permission and not inline.has_change_permission and not inline.has_delete_permission
    assert support.get("/admin/churches/member/add/").status_code == 403
    assert support.get(f"/admin/churches/member/{member.pk}/delete/").status_code == 403


def test_support_edits_names_through_the_service_and_cannot_touch_phone_or_consent(support, world):
    member = services.member_create(church=world.church, acting_user=None, phone="312-555-0161", first_name="Ruth")
    before = member.updated_at
    response = support.post(
        f"/admin/churches/member/{member.pk}/change/",
        {
            "first_name": "Ruthie",
            "last_name": "Miller",
            "email": "RUTH@example.test",
            "timezone": "America/Chicago",
            "phone": "+13125550199",
            "sms_status": SmsStatus.SUBSCRIBED,
            "consent_events-TOTAL_FORMS": "0",
            "consent_events-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    member = Member.objects.get(pk=member.pk)
    assert (member.first_name, member.last_name, member.email) == ("Ruthie", "Miller", "ruth@example.test")
    assert member.phone == "+13125550161" and member.sms_status == SmsStatus.NEVER_CONSENTED
    assert member.updated_at > before


def test_branch_and_group_admin_search_and_are_read_only(support, world, other_world):
    north = BranchFactory(church=world.church, name="North Campus")
    BranchFactory(church=other_world.church, name="South Campus")
    youth = GroupFactory(church=world.church, name="Youth", keyword="YOUTH", branch=north)
    GroupFactory(church=other_world.church, name="Choir")
    assert _listed(support.get("/admin/churches/branch/", {"q": "north"})) == {north.pk}
    assert _listed(support.get("/admin/churches/group/", {"q": "youth"})) == {youth.pk}
    assert _listed(support.get("/admin/churches/group/", {"q": world.church.name})) == {youth.pk}
    assert support.get(f"/admin/churches/group/{youth.pk}/change/").status_code == 200
    assert support.get("/admin/churches/group/add/").status_code == 403
    assert support.post(f"/admin/churches/branch/{north.pk}/change/", {"name": "Renamed"}).status_code == 403
