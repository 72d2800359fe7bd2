"""/api/v1/members/bulk: set-based upsert matched by phone, one outcome per row."""

import pytest

from churches import services
from churches.models import ApiKey, AuditLog, ConsentEvent, GroupMembership, Member, Role, SmsStatus
from koinonia import policy
from koinonia.exceptions import BusinessRuleError
from tests.conftest import assert_error_shape, assert_role_refused
from tests.factories import BranchFactory, GroupFactory, MemberFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/members/bulk"


def test_each_row_is_created_updated_unchanged_or_rejected_with_reasons(world, other_world):
    youth = GroupFactory(church=world.church)
    north = BranchFactory(church=world.church)
    their_group = GroupFactory(church=other_world.church)
    ruth = MemberFactory(
        church=world.church, first_name="Ruth", last_name="Miller", phone="+13125550101", sms_status="never_consented"
    )
    boaz = MemberFactory(church=world.church, first_name="Boaz", phone="+13125550102")
    opted_out = MemberFactory(church=world.church, phone="+13125550103", sms_status=SmsStatus.UNSUBSCRIBED)
    theirs = MemberFactory(church=other_world.church, first_name="Theirs", phone="+13125550104")
    rows = [
        {"phone": "(312) 555-0101", "last_name": "Moab", "group_ids": [youth.pk]},  # 0 updated
        {"phone": "312.555.0102", "first_name": "Boaz"},  # 1 unchanged
        {"phone": "+1 312 555 0103", "first_name": opted_out.first_name},  # 2 unchanged, stays opted out
        {"phone": "312-555-0104", "first_name": "Mine", "branch_id": north.pk},  # 3 created (other church's phone)
        {"phone": "312-555-0105", "email": "NEW@example.test", "group_ids": [youth.pk]},  # 4 created
        {"phone": "(800) 555-1234"},  # 5 rejected: toll-free
        {"phone": "312-555-0106", "email": "not-an-email"},  # 6 rejected: serializer
        {"phone": "312-555-0107", "group_ids": [their_group.pk]},  # 7 rejected: unknown group
        {"phone": "+13125550105"},  # 8 rejected: same phone as row 4
        {"first_name": "No phone"},  # 9 rejected
        {"phone": "312-555-0108", "branch_id": 99999999},  # 10 rejected: unknown branch
    ]
    client = world.api_client(Role.STAFF)
    response = client.post(URL, {"members": rows, "consent": "Connect card, spring 2024"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert {k: body[k] for k in ("created", "updated", "unchanged", "rejected")} == {
        "created": 2,
        "updated": 1,
        "unchanged": 2,
        "rejected": 6,
    }
    results = body["results"]
    assert [r["index"] for r in results] == list(range(len(rows)))
    assert [r["status"] for r in results] == ["updated", "unchanged", "unchanged", "created", "created"] + [
        "rejected"
    ] * 6
    assert results[0]["id"] == ruth.pk and results[1]["id"] == boaz.pk
    assert "opted out" in results[2]["note"]
    assert "toll-free" in results[5]["errors"]["phone"][0]
    assert "email" in results[6]["errors"]
    assert results[7]["errors"] == {"group_ids": ["Unknown group."]}
    assert "row 4" in results[8]["errors"]["phone"][0]
    assert "phone" in results[9]["errors"] and results[9]["id"] is None
    assert results[10]["errors"] == {"branch_id": ["Unknown branch."]}

    ruth.refresh_from_db()
    # Ruth was never consented: the consent statement subscribes her; her first name was left alone.
    assert (ruth.first_name, ruth.last_name, ruth.sms_status) == ("Ruth", "Moab", SmsStatus.SUBSCRIBED)
    assert list(GroupMembership.objects.filter(member=ruth).values_list("group_id", flat=True)) == [youth.pk]
    opted_out.refresh_from_db()
    assert opted_out.sms_status == SmsStatus.UNSUBSCRIBED
    theirs.refresh_from_db()
    assert theirs.first_name == "Theirs"
    mine = Member.objects.get(pk=results[3]["id"])
    assert mine.church == world.church and mine.branch == north and mine.sms_status == SmsStatus.SUBSCRIBED
    new = Member.objects.get(pk=results[4]["id"])
    assert new.email == "new@example.test" and new.phone == "+13125550105" and new.timezone == "America/Chicago"
    assert list(GroupMembership.objects.filter(member=new).values_list("group_id", flat=True)) == [youth.pk]
    events = ConsentEvent.objects.filter(church=world.church)
    assert set(events.values_list("member_id", flat=True)) == {ruth.pk, mine.pk, new.pk}
    key = ApiKey.objects.get(church=world.church, name="staff key")
    assert all(e.source == "api" and e.api_key == key and e.raw_text == "Connect card, spring 2024" for e in events)
    assert AuditLog.objects.get(action="members.bulk_upserted").data == {
        "created": 2,
        "updated": 1,
        "unchanged": 2,
        "rejected": 4,  # the service's own count; rows the serializer refused never reached it
    }

    again = client.post(URL, {"members": rows[:5]}, format="json").json()
    assert [r["status"] for r in again["results"]] == ["unchanged"] * 5


def test_without_consent_new_members_are_not_subscribed(world):
    body = world.api_client(Role.STAFF).post(URL, {"members": [{"phone": "312-555-0120"}]}, format="json").json()
    member = Member.objects.get(pk=body["results"][0]["id"])
    assert member.sms_status == SmsStatus.NEVER_CONSENTED and not member.consent_events.exists()


@pytest.mark.parametrize("rows", [3, 30])
def test_bulk_runs_in_a_fixed_number_of_queries(world, rows, django_assert_max_num_queries):
    group = GroupFactory(church=world.church)
    branch = BranchFactory(church=world.church)
    existing = [MemberFactory(church=world.church, sms_status="never_consented") for _ in range(rows)]
    payload = [{"phone": m.phone, "last_name": "Updated", "group_ids": [group.pk]} for m in existing]
    payload += [
        {"phone": f"+1415555{1000 + i:04d}", "branch_id": branch.pk, "group_ids": [group.pk]} for i in range(rows)
    ]
    client = world.api_client(Role.STAFF)
    # key, last-used stamp, branches, groups, existing (locked), their memberships, insert, update,
    # subscribe, consent rows, memberships, audit; savepoints around the request and the insert; and the
    # plan-limit check (billing: subscription, plan, member count).
    with django_assert_max_num_queries(19):
        response = client.post(URL, {"members": payload, "consent": "Signed up at the picnic"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["created"] == rows and response.json()["updated"] == rows
    assert GroupMembership.objects.filter(group=group).count() == 2 * rows
    assert Member.objects.filter(church=world.church, sms_status="subscribed").count() == 2 * rows


class OneMoreMember(policy.PermissivePolicy):
    def check(self, *, church, resource, adding=1, **context):
        if resource == "members" and adding > 1:
            raise BusinessRuleError("Your plan allows 1 more member.", code="plan_limit", status=402)


def test_plan_limit_refuses_the_whole_batch(world):
    client = world.api_client(Role.STAFF)
    rows = [{"phone": "312-555-0130"}, {"phone": "312-555-0131"}]
    with policy.registered(OneMoreMember()):
        assert_error_shape(client.post(URL, {"members": rows}, format="json"), 402, "plan_limit")
        assert not Member.objects.filter(church=world.church).exists()
        assert client.post(URL, {"members": rows[:1]}, format="json").json()["created"] == 1


def test_bad_envelopes_are_400(world):
    client = world.api_client(Role.STAFF)
    for body in ({}, {"members": []}, {"members": "nope"}, {"members": [1, 2]}, {"members": [{}] * 1001}):
        error = assert_error_shape(client.post(URL, body, format="json"), 400, "validation_error")
        assert "members" in error["details"]
    assert_error_shape(client.generic("POST", URL, data="{", content_type="application/json"), 400, "malformed_request")
    assert_error_shape(client.get(URL), 405, "method_not_allowed")  # not mistaken for a member id
    assert not Member.objects.exists()


def test_viewers_cannot_bulk_upsert(world):
    assert_role_refused(world.api_client(Role.VIEWER), URL, "post", {"members": [{"phone": "312-555-0140"}]})
    assert not Member.objects.exists()


def test_service_refuses_more_than_the_maximum(world):
    with pytest.raises(BusinessRuleError, match="at most"):
        services.member_bulk_upsert(church=world.church, acting_user=None, rows=[{"phone": "1"}] * 1001)
