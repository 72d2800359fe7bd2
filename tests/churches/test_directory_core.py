"""Phones, encryption at rest, dedupe and consent rules — through the services every surface uses."""

import pytest
from django.db import connection
from django.test import override_settings

from churches import services
from churches.crypto import decrypt, encrypt, needs_rotation
from churches.models import ConsentEvent, Member, SmsStatus
from koinonia.exceptions import BusinessRuleError
from tests.factories import GroupFactory

pytestmark = pytest.mark.django_db

NEW_KEY = "bmV3LXJvdGF0ZWQta2V5LTExMTExMTExMTExMTExMTE="
OLD_KEY = "aW5zZWN1cmUtZGV2LWtleS0wMDAwMDAwMDAwMDAwMDA="


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("(312) 555-0123", "+13125550123"),
        ("312.555.0123", "+13125550123"),
        ("+1 312 555 0123", "+13125550123"),
        ("1-312-555-0123", "+13125550123"),
        ("+44 7911 123456", "+447911123456"),
    ],
)
def test_phones_are_normalized_to_e164(world, typed, e164):
    member = services.member_create(church=world.church, acting_user=world.staff, phone=typed, first_name="A")
    assert Member.objects.get(pk=member.pk).phone == e164


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "Enter a mobile"),
        ("12345", "too short"),
        ("555-0123-99999999", "wrong number of digits"),
        ("(800) 555-1234", "toll-free"),
        ("+44 20 7183 8750", "landline"),
        ("hello", "too short"),
    ],
)
def test_bad_phones_are_rejected_with_a_reason(world, typed, reason):
    with pytest.raises(BusinessRuleError) as exc:
        services.member_create(church=world.church, acting_user=world.staff, phone=typed)
    assert reason in exc.value.message and exc.value.field == "phone"


def test_one_member_per_phone_per_church_but_churches_may_share(world, other_world):
    services.member_create(church=world.church, acting_user=None, phone="312-555-0111")
    with pytest.raises(BusinessRuleError, match="already exists"):
        services.member_create(church=world.church, acting_user=None, phone="+13125550111")
    services.member_create(church=other_world.church, acting_user=None, phone="(312) 555-0111")
    assert Member.objects.count() == 2


def test_phone_is_encrypted_at_rest_and_timezone_comes_from_area_code(world):
    member = services.member_create(church=world.church, acting_user=None, phone="(415) 555-0142")
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone, phone_hash FROM churches_member WHERE id = %s", [member.pk])
        raw_phone, raw_hash = cursor.fetchone()
    assert not any(fragment in raw_phone for fragment in ("415", "5550142", "0142"))
    assert "4155550142" not in raw_hash
    assert decrypt(raw_phone) == "+14155550142"
    assert member.timezone == "America/Los_Angeles"


def test_key_rotation_reencrypts_under_the_newest_key(world):
    member = services.member_create(church=world.church, acting_user=None, phone="312-555-0177")
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        assert Member.objects.get(pk=member.pk).phone == "+13125550177"  # old rows still decrypt
        from django.core.management import call_command

        call_command("rotate_phone_keys")
        with connection.cursor() as cursor:
            cursor.execute("SELECT phone FROM churches_member WHERE id = %s", [member.pk])
            (raw,) = cursor.fetchone()
        assert not needs_rotation(raw)
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]):
        assert Member.objects.get(pk=member.pk).phone == "+13125550177"


def test_ciphertexts_differ_for_the_same_phone():
    assert encrypt("+13125550123") != encrypt("+13125550123")


def test_consent_changes_status_only_with_a_ledger_row_and_opt_outs_stick(world):
    member = services.member_create(
        church=world.church, acting_user=world.staff, phone="312-555-0190", consent="Signed the connect card"
    )
    assert member.sms_status == SmsStatus.SUBSCRIBED
    assert member.consent_events.get().source == ConsentEvent.Source.STAFF
    services.consent_record(church=world.church, member=member, kind="opt_out", source="keyword", raw_text="STOP")
    member.refresh_from_db()
    assert member.sms_status == SmsStatus.UNSUBSCRIBED
    for source in ("staff", "import", "api"):
        with pytest.raises(BusinessRuleError, match="opted out"):
            services.consent_record(church=world.church, member=member, kind="opt_in", source=source)
    member.refresh_from_db()
    assert member.sms_status == SmsStatus.UNSUBSCRIBED
    services.consent_record(church=world.church, member=member, kind="opt_in", source="keyword", raw_text="START")
    member.refresh_from_db()
    assert member.sms_status == SmsStatus.SUBSCRIBED
    assert list(member.consent_events.values_list("kind", flat=True)) == ["opt_in", "opt_out", "opt_in"]


def test_member_without_consent_statement_is_not_subscribed(world):
    member = services.member_create(church=world.church, acting_user=None, phone="312-555-0191")
    assert member.sms_status == SmsStatus.NEVER_CONSENTED and not member.consent_events.exists()


def test_group_names_and_keywords_are_unique_per_church_case_insensitively(world, other_world):
    services.group_create(church=world.church, acting_user=None, name="Youth", keyword="youth")
    with pytest.raises(BusinessRuleError, match="already a group"):
        services.group_create(church=world.church, acting_user=None, name="YOUTH")
    with pytest.raises(BusinessRuleError, match="keyword"):
        services.group_create(church=world.church, acting_user=None, name="Teens", keyword="Youth")
    with pytest.raises(BusinessRuleError, match="reserved"):
        services.group_create(church=world.church, acting_user=None, name="Quitters", keyword="stop")
    services.group_create(church=other_world.church, acting_user=None, name="Youth", keyword="YOUTH")


def test_group_membership_ignores_other_churches_members(world, other_world):
    group = GroupFactory(church=world.church)
    mine = services.member_create(church=world.church, acting_user=None, phone="312-555-0192")
    theirs = services.member_create(church=other_world.church, acting_user=None, phone="312-555-0193")
    assert services.group_members_add(church=world.church, group=group, member_ids=[mine.pk, theirs.pk]) == 1
    assert services.group_members_add(church=world.church, group=group, member_ids=[mine.pk]) == 0
    assert list(group.memberships.values_list("member_id", flat=True)) == [mine.pk]


def test_deleting_a_branch_keeps_its_members(world):
    branch = services.branch_create(church=world.church, acting_user=None, name="North Campus")
    member = services.member_create(church=world.church, acting_user=None, phone="312-555-0194", branch=branch)
    assert services.branch_delete(church=world.church, branch=branch, acting_user=world.admin)["members"] == 1
    member.refresh_from_db()
    assert member.branch_id is None


def test_member_search_by_name_email_phone_and_filters(world, other_world):
    from churches import selectors
    from tests.factories import MemberFactory

    ruth = services.member_create(
        church=world.church,
        acting_user=None,
        phone="312-555-0150",
        first_name="Ruth",
        last_name="Miller",
        email="ruth@example.test",
    )
    services.member_create(
        church=world.church, acting_user=None, phone="312-555-0151", first_name="Boaz", last_name="Miller"
    )
    MemberFactory(church=other_world.church, first_name="Ruth", last_name="Miller")
    search = lambda **kw: list(selectors.member_search(church=world.church, **kw))  # noqa: E731
    assert search(q="ruth mil") == [ruth]
    assert [m.first_name for m in search(q="miller")] == ["Boaz", "Ruth"]
    assert search(q="RUTH@EXAMPLE") == [ruth]
    assert search(q="(312) 555-0150") == [ruth]
    assert search(q="312 555 9999") == []
    assert len(search(sms_status="never_consented")) == 2
