"""One member-upsert engine and one consent writer: the CSV import and the API's bulk upsert give the
same members for the same rows, and ``consent_record_many`` records each change once, set-based."""

import pytest

from churches import services
from churches.models import Branch, ConsentEvent, Group, GroupMembership, Member, Role, SmsStatus
from churches.services.upsert import REASON_OPTED_OUT
from churches.signals import members_subscribed
from integrations.outbox import subscriptions
from koinonia.exceptions import BusinessRuleError
from tests.churches.test_import import csv_bytes, import_file, report
from tests.factories import BranchFactory, GroupFactory, MemberFactory

pytestmark = pytest.mark.django_db

CONSENT = "Connect card sign-up"
HEADER = "First Name,Last Name,Cell Phone,E-mail,Group,Branch\n"


@pytest.fixture
def announced():
    """(church id, member id) of every members_subscribed announcement, as messaging receives them."""
    calls: list[tuple[int, int]] = []

    def listener(sender, church_id, member_ids, **kwargs):
        calls.extend((church_id, member_id) for member_id in member_ids)

    members_subscribed.connect(listener, weak=False)
    yield calls
    members_subscribed.disconnect(listener)


# Each case: the member already there (or None), one row (a CSV line and the same as an API row), and
# what both paths must leave behind. ``phone`` is the member's stored number, the row writes it another way.
CASES = {
    "new member, with group and branch": (
        None,
        {"phone": "(312) 555-0110", "first_name": "Nova", "last_name": "New", "email": "Nova@Example.org"},
        True,
        {
            "first_name": "Nova",
            "last_name": "New",
            "email": "nova@example.org",
            "sms_status": SmsStatus.SUBSCRIBED,
            "groups": ["Youth"],
            "branch": "North",
            "timezone": "America/Chicago",
            "events": [("opt_in", CONSENT)],
            "reason": "",
        },
    ),
    "existing by phone in another format": (
        {"phone": "+13125550101", "first_name": "Old", "last_name": "Name", "email": "keep@example.org"},
        {"phone": "312.555.0101", "first_name": "Renamed"},
        False,
        {
            "first_name": "Renamed",
            "last_name": "Name",
            "email": "keep@example.org",
            "sms_status": SmsStatus.SUBSCRIBED,
            "groups": [],
            "branch": None,
            "timezone": "America/Chicago",
            "events": [],  # already subscribed: nothing to record
            "reason": "",
        },
    ),
    "opted out, row with consent": (
        {"phone": "+13125550103", "first_name": "Gone", "sms_status": SmsStatus.UNSUBSCRIBED},
        {"phone": "+1 312 555 0103", "first_name": "Back"},
        True,
        {
            "first_name": "Gone",
            "last_name": "Last",
            "email": "",
            "sms_status": SmsStatus.UNSUBSCRIBED,
            "groups": [],
            "branch": None,
            "timezone": "America/Chicago",
            "events": [],
            "reason": REASON_OPTED_OUT,
        },
    ),
    "never consented, row with consent": (
        {"phone": "+13125550102", "first_name": "Wai", "sms_status": SmsStatus.NEVER_CONSENTED},
        {"phone": "312-555-0102"},
        True,
        {
            "first_name": "Wai",
            "last_name": "Last",
            "email": "",
            "sms_status": SmsStatus.SUBSCRIBED,
            "groups": ["Youth"],
            "branch": "North",  # members without a branch get the row's
            "timezone": "America/Chicago",
            "events": [("opt_in", CONSENT)],
            "reason": "",
        },
    ),
}


def _seed(church, existing):
    GroupFactory(church=church, name="Youth")
    BranchFactory(church=church, name="North")
    if existing is not None:
        MemberFactory(church=church, **{"last_name": "Last", "email": "", **existing})


def _state(church, phone: str) -> dict:
    member = next(m for m in Member.objects.filter(church=church) if m.phone == phone)
    return {
        "first_name": member.first_name,
        "last_name": member.last_name,
        "email": member.email,
        "sms_status": member.sms_status,
        "groups": sorted(
            Group.objects.filter(pk__in=GroupMembership.objects.filter(member=member).values("group_id")).values_list(
                "name", flat=True
            )
        ),
        "branch": member.branch.name if member.branch_id else None,
        "timezone": member.timezone,
        "events": list(ConsentEvent.objects.filter(member=member).values_list("kind", "raw_text")),
        "_id": member.pk,
    }


def _by_import(world, capture, row: dict, with_group: bool) -> tuple[dict, str]:
    cells = [row.get("first_name", ""), row.get("last_name", ""), row["phone"], row.get("email", "")]
    cells += ["Youth", "North"] if with_group else ["", ""]
    job = import_file(world, capture, csv_bytes(",".join(cells), header=HEADER), consent=CONSENT)
    rejected = report(world, job)[1:]
    return job, rejected[0][1] if rejected else ""


def _by_api(world, row: dict, with_group: bool) -> str:
    if with_group:
        youth = Group.objects.get(church=world.church, name="Youth")
        row = {**row, "group_ids": [youth.pk], "branch_id": Branch.objects.get(church=world.church, name="North").pk}
    response = world.api_client(Role.STAFF).post(
        "/api/v1/members/bulk", {"members": [row], "consent": CONSENT}, format="json"
    )
    assert response.status_code == 200, response.content
    result = response.json()["results"][0]
    assert result["status"] != "rejected", result
    return result["note"]


@pytest.mark.parametrize("case", list(CASES))
def test_import_and_api_bulk_upsert_leave_the_same_members(
    case, world, other_world, django_capture_on_commit_callbacks, announced
):
    existing, row, with_group, expected = CASES[case]
    phone = existing["phone"] if existing else "+13125550110"
    _seed(world.church, existing)
    _seed(other_world.church, existing)

    _, import_reason = _by_import(world, django_capture_on_commit_callbacks, row, with_group)
    with django_capture_on_commit_callbacks(execute=True):
        api_reason = _by_api(other_world, row, with_group)

    imported, upserted = _state(world.church, phone), _state(other_world.church, phone)
    imported_id, upserted_id = imported.pop("_id"), upserted.pop("_id")
    reason = expected["reason"]
    assert imported == upserted == {key: value for key, value in expected.items() if key != "reason"}
    # The reason is reported by both: a rejected row of the import's report, the note of the API's answer.
    assert import_reason == api_reason == reason
    # The welcome text's announcement: once per member who became subscribed, and only for them.
    subscribed_now = bool(expected["events"])
    assert sorted(announced) == sorted(
        [(world.church.pk, imported_id), (other_world.church.pk, upserted_id)] if subscribed_now else []
    )


# --- consent_record_many ----------------------------------------------------------------------------


def test_consent_record_many_records_each_change_once_by_the_same_rule(
    world, other_world, django_capture_on_commit_callbacks, announced
):
    never = [MemberFactory(church=world.church, sms_status=SmsStatus.NEVER_CONSENTED) for _ in range(3)]
    subscribed = [MemberFactory(church=world.church) for _ in range(2)]
    opted_out = [MemberFactory(church=world.church, sms_status=SmsStatus.UNSUBSCRIBED) for _ in range(2)]
    theirs = MemberFactory(church=other_world.church, sms_status=SmsStatus.NEVER_CONSENTED)
    ids = [m.pk for m in never + subscribed + opted_out] + [theirs.pk]

    with django_capture_on_commit_callbacks(execute=True):
        batch = services.consent_record_many(
            church=world.church,
            member_ids=ids,
            kind=ConsentEvent.Kind.OPT_IN,
            source=ConsentEvent.Source.IMPORT,
            acting_user=world.staff,
            raw_text=CONSENT,
        )
    assert sorted(batch.changed) == sorted(m.pk for m in never)
    assert sorted(batch.unchanged) == sorted(m.pk for m in subscribed)
    assert sorted(batch.refused) == sorted(m.pk for m in opted_out)  # only they can opt back in
    events = ConsentEvent.objects.all()
    assert sorted(events.values_list("member_id", flat=True)) == sorted(m.pk for m in never)
    assert {(e.kind, e.source, e.raw_text, e.actor_id) for e in events} == {
        ("opt_in", "import", CONSENT, world.staff.pk)
    }
    statuses = dict(Member.objects.values_list("pk", "sms_status"))
    assert [statuses[m.pk] for m in never + subscribed + opted_out] == ["subscribed"] * 5 + ["unsubscribed"] * 2
    assert statuses[theirs.pk] == SmsStatus.NEVER_CONSENTED  # another church's id is ignored
    assert sorted(announced) == sorted((world.church.pk, m.pk) for m in never)

    # The same again changes nothing and records nothing; the member's own START does re-subscribe.
    announced.clear()
    with django_capture_on_commit_callbacks(execute=True):
        again = services.consent_record_many(
            church=world.church, member_ids=ids, kind="opt_in", source="api", acting_user=None, raw_text=CONSENT
        )
        keyword = services.consent_record_many(
            church=world.church, member_ids=[opted_out[0].pk], kind="opt_in", source="keyword", acting_user=None
        )
    assert again.changed == [] and keyword.changed == [opted_out[0].pk]
    assert ConsentEvent.objects.count() == 4 and announced == [(world.church.pk, opted_out[0].pk)]

    # An opt-out moves everyone not already out, and announces no one.
    with django_capture_on_commit_callbacks(execute=True):
        out = services.consent_record_many(
            church=world.church, member_ids=ids, kind="opt_out", source="staff", acting_user=world.staff
        )
    assert sorted(out.changed) == sorted(m.pk for m in never + subscribed + opted_out[:1])
    assert sorted(out.unchanged) == [opted_out[1].pk]
    assert not Member.objects.filter(church=world.church).exclude(sms_status=SmsStatus.UNSUBSCRIBED).exists()
    assert len(announced) == 1


def test_consent_record_many_refuses_kinds_without_a_status(world):
    member = MemberFactory(church=world.church)
    with pytest.raises(BusinessRuleError, match="opt-ins and opt-outs"):
        services.consent_record_many(
            church=world.church, member_ids=[member.pk], kind="help", source="staff", acting_user=None
        )
    assert not ConsentEvent.objects.exists()


@pytest.mark.parametrize("count", [5, 100])
def test_consent_record_many_runs_in_a_fixed_number_of_queries(world, count, django_assert_max_num_queries):
    members = [MemberFactory(church=world.church, sms_status=SmsStatus.NEVER_CONSENTED) for _ in range(count)]
    subscriptions(world.church.pk)  # webhook endpoints listening: cached per church, no query once cached
    # Lock the members, insert the ledger rows, move sms_status: the same three at 5 or 100 members.
    with django_assert_max_num_queries(3):
        batch = services.consent_record_many(
            church=world.church,
            member_ids=[m.pk for m in members],
            kind="opt_in",
            source="api",
            acting_user=None,
            raw_text=CONSENT,
        )
    assert len(batch.changed) == count
    assert ConsentEvent.objects.filter(church=world.church).count() == count
    assert Member.objects.filter(church=world.church, sms_status=SmsStatus.SUBSCRIBED).count() == count
