"""Every integrator event is announced once per change, where the change happens, in the changing
transaction (a rollback announces nothing), and costs no query for a church without endpoints."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import Subscription
from billing.usage import usage_record
from churches import services as church_services
from churches.models import ConsentEvent, Member, SmsStatus
from conversations.services.inbound import inbound_receive
from integrations.models import WebhookDelivery, WebhookEvent
from integrations.outbox import subscriptions
from koinonia import events
from messaging.broadcasts import pipeline
from messaging.broadcasts import services as messaging_services
from messaging.broadcasts.delivery import accept_status, apply_status_batch
from messaging.models import Message, Recipient, SenderNumber, TenDlcBrand, TenDlcCampaign
from messaging.numbers.tendlc.status import apply_brand_record, apply_campaign_record
from messaging.providers.console import console_release_number
from messaging.providers.events import InboundText
from tests.churches.test_import import csv_bytes, import_file
from tests.factories import MemberFactory
from tests.integrations.conftest import events_of, make_endpoint
from tests.messaging.test_status_batches import _callback, _sent_message

pytestmark = pytest.mark.django_db
CONSENT = "Signed the connect card"


@pytest.fixture
def listening(world):
    """An enabled endpoint subscribed to every event (nothing is posted: the tests' transaction never
    commits, so the delivery tasks never run)."""
    endpoint, _ = make_endpoint(world, "http://127.0.0.1:9/hooks")
    return endpoint


def types(world) -> list[str]:
    return [event.type for event in events_of(world)]


def data(world, type: str) -> list[dict]:
    return [event.payload["data"] for event in events_of(world, type)]


def test_members_created_updated_opted_in_and_out_and_deleted(world, listening):
    member = church_services.member_create(
        church=world.church, acting_user=world.staff, phone="(312) 555-0142", first_name="Ruth", consent=CONSENT
    )
    assert types(world) == ["member.created", "member.opted_in"]
    (created,) = data(world, "member.created")
    assert created["id"] == member.pk and created["first_name"] == "Ruth"
    assert "phone" not in created and "email" not in created and "5550142" not in str(created)
    assert data(world, "member.opted_in")[0]["member_id"] == member.pk

    church_services.member_update(church=world.church, member=member, acting_user=world.staff, last_name="Moab")
    church_services.member_update(church=world.church, member=member, acting_user=world.staff, last_name="Moab")
    assert data(world, "member.updated") == [
        {**data(world, "member.updated")[0], "id": member.pk, "last_name": "Moab", "sms_status": "subscribed"}
    ]

    church_services.consent_record(
        church=world.church, member=member, kind=ConsentEvent.Kind.OPT_OUT, source=ConsentEvent.Source.KEYWORD
    )
    church_services.consent_record(  # already opted out: a ledger row, but no change to announce
        church=world.church, member=member, kind=ConsentEvent.Kind.OPT_OUT, source=ConsentEvent.Source.KEYWORD
    )
    (opted_out,) = data(world, "member.opted_out")
    assert opted_out["member_id"] == member.pk and opted_out["sms_status"] == "unsubscribed"
    assert opted_out["source"] == "keyword"

    others = MemberFactory.create_batch(3, church=world.church, sms_status=SmsStatus.NEVER_CONSENTED)
    for _ in range(2):
        church_services.consent_record_many(
            church=world.church,
            member_ids=[m.pk for m in others],
            kind=ConsentEvent.Kind.OPT_IN,
            source=ConsentEvent.Source.IMPORT,
            acting_user=None,
        )
    assert sorted(d["member_id"] for d in data(world, "member.opted_in")) == sorted(
        [member.pk, *(m.pk for m in others)]
    )

    church_services.member_delete_many(church=world.church, member_ids=[others[0].pk, others[1].pk], acting_user=None)
    assert sorted(d["id"] for d in data(world, "member.deleted")) == sorted([others[0].pk, others[1].pk])


def test_bulk_upsert_announces_each_created_and_changed_member(world, listening):
    existing = MemberFactory(church=world.church, first_name="Old")
    rows = [
        {"phone": existing.phone, "first_name": "New"},
        {"phone": "+13125550170", "first_name": "A"},
        {"phone": "+13125550171", "first_name": "B"},
    ]
    church_services.member_bulk_upsert(church=world.church, acting_user=None, rows=rows)
    church_services.member_bulk_upsert(church=world.church, acting_user=None, rows=rows)  # nothing changes
    assert sorted(d["first_name"] for d in data(world, "member.created")) == ["A", "B"]
    (updated,) = data(world, "member.updated")
    assert updated["id"] == existing.pk and updated["first_name"] == "New" and updated["sms_status"] == "subscribed"


def test_a_csv_import_announces_its_members_and_its_completion(world, listening, django_capture_on_commit_callbacks):
    job = import_file(
        world, django_capture_on_commit_callbacks, csv_bytes("Ana,Lee,3125550181,,", "Ben,Ray,3125550182,,", "x,y,1,,")
    )
    assert job.status == "done"
    assert len(data(world, "member.created")) == 2 and len(data(world, "member.opted_in")) == 2
    (completed,) = data(world, "import.completed")
    assert completed["id"] == job.pk and completed["status"] == "done"
    assert (completed["created"], completed["rejected"], completed["total_rows"]) == (2, 1, 3)


def test_a_broadcast_is_created_completed_and_its_receipts_announced(
    world, listening, django_capture_on_commit_callbacks
):
    from datetime import time as clock

    world.church.quiet_hours_start = world.church.quiet_hours_end = clock(0, 0)  # any hour will do
    world.church.save()
    SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")
    MemberFactory.create_batch(3, church=world.church)
    with django_capture_on_commit_callbacks(execute=True):  # console provider: sent and delivered in-process
        message = messaging_services.message_send(
            church=world.church, author=world.staff, body="Hi", audience={"all": True}
        )
    assert data(world, "message.created")[0]["id"] == message.pk
    (completed,) = data(world, "message.completed")
    assert completed["id"] == message.pk and completed["status"] == "sent"
    delivered = data(world, "recipient.delivered")
    assert len(delivered) == 3 and {d["message_id"] for d in delivered} == {message.pk}
    assert all("phone" not in d for d in delivered)
    assert types(world).count("message.completed") == 1
    _assert_no_phone_or_email(world)


def _assert_no_phone_or_email(world):
    """Payloads are stored and sent: no member's phone number or email address may be in one."""
    import json

    stored = json.dumps([event.payload for event in events_of(world)])
    for member in Member.objects.filter(church=world.church):
        digits = member.phone.removeprefix("+1")
        assert digits not in stored and digits[-7:] not in stored, member.phone
        assert not member.email or member.email not in stored


def test_a_failed_receipt_and_a_halted_broadcast(world, listening):
    _, recipients = _sent_message(world.church, 2)
    accept_status(_callback(recipients[0].provider_message_id, "delivered"))
    accept_status(_callback(recipients[1].provider_message_id, "delivery_failed", error_code="40008"))
    apply_status_batch()
    apply_status_batch()
    (failed,) = data(world, "recipient.failed")
    assert failed["id"] == recipients[1].pk and failed["status"] == "failed" and failed["error_code"] == "40008"
    assert len(data(world, "recipient.delivered")) == 1
    other, _ = _sent_message(world.church, 1)
    pipeline.halt_message(message_id=other.pk, reason="Your number was refused.")
    pipeline.halt_message(message_id=other.pk, reason="Your number was refused.")
    (halted,) = data(world, "message.completed")
    assert halted["id"] == other.pk and halted["status"] == "failed" and halted["counts"]["skipped"] == 0


def test_a_send_the_provider_refused_is_a_failed_recipient(world, listening):
    message, recipients = _sent_message(world.church, 3)
    Recipient.objects.filter(message=message).update(status=Recipient.Status.QUEUED, provider_message_id="")
    batch = pipeline.claim_batch(message=message, size=10)
    outcomes = [
        pipeline.Outcome(recipients[0].pk, "failed", error_code="21610", error_reason="The member blocked texts."),
        pipeline.Outcome(recipients[1].pk, "sent", provider_message_id="p-1", segments=1),
        pipeline.Outcome(recipients[2].pk, "retry", send_after=timezone.now() + timedelta(minutes=1)),
    ]
    pipeline.record_outcomes(message=message, lease=batch.lease, outcomes=outcomes)
    (failed,) = data(world, "recipient.failed")
    assert failed["id"] == recipients[0].pk and failed["error_code"] == "21610"
    assert failed["member_id"] == recipients[0].member_id and failed["occurred_at"]
    # A write-back whose lease was lost (the rows were swept and claimed again) announces nothing.
    pipeline.record_outcomes(message=message, lease=batch.lease, outcomes=outcomes[:1])
    assert len(data(world, "recipient.failed")) == 1


def test_a_canceled_broadcast(world, listening):
    SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="console")
    MemberFactory.create_batch(2, church=world.church)
    message = messaging_services.message_send(
        church=world.church,
        author=world.staff,
        body="Later",
        audience={"all": True},
        scheduled_at=timezone.now() + timedelta(days=1),
    )
    messaging_services.message_cancel(church=world.church, message_id=message.pk, acting_user=world.staff)
    (cancelled,) = data(world, "message.cancelled")
    assert cancelled["id"] == message.pk and cancelled["status"] == Message.Status.CANCELED


def test_an_inbound_text_and_the_stop_in_it(world, listening):
    SenderNumber.objects.create(church=world.church, phone_number="+13125550100", provider="telnyx")
    member = MemberFactory(church=world.church, phone="+13125550150")
    inbound = InboundText(
        provider="telnyx",
        event_id="evt-1",
        message_id="msg-1",
        from_number=member.phone,
        to_number="+13125550100",
        text="STOP",
    )
    inbound_receive(inbound=inbound)
    inbound_receive(inbound=inbound)  # the provider's retry: a duplicate
    (received,) = data(world, "conversation.message_received")
    assert received["member_id"] == member.pk and received["body"] == "STOP" and received["to"] == "+13125550100"
    assert [d["member_id"] for d in data(world, "member.opted_out")] == [member.pk]
    _assert_no_phone_or_email(world)


def test_a_number_that_needs_attention(world, listening):
    from messaging.numbers import linking

    number = SenderNumber.objects.create(church=world.church, phone_number="+12125550100", provider="console")
    console_release_number(number.phone_number)
    try:
        linking.sender_number_check(sender_id=number.pk)
        linking.sender_number_check(sender_id=number.pk)  # the same problems: announced once
    finally:
        console_release_number(number.phone_number, released=False)
    (attention,) = data(world, "number.needs_attention")
    assert attention["id"] == number.pk and attention["status"] == "needs_attention" and attention["problems"]


def test_tendlc_status_changes(world, listening):
    brand = TenDlcBrand.objects.create(
        church=world.church,
        legal_name="Grace Chapel Inc",
        display_name="Grace",
        ein="12-3456789",
        street="1 Main",
        city="Chicago",
        state="IL",
        postal_code="60601",
        contact_first_name="Ruth",
        contact_last_name="Moab",
        contact_email="office@grace.test",
        contact_phone="+13125550100",
        status="REGISTRATION_PENDING",
    )
    with transaction.atomic():
        brand = TenDlcBrand.objects.select_for_update().get(pk=brand.pk)
        apply_brand_record(brand, {"status": "OK"}, source="webhook", event_type="brand.update", occurred_at=None)
        apply_brand_record(brand, {"status": "OK"}, source="poll", event_type="brand.update", occurred_at=None)
    (changed,) = data(world, "tendlc.status_changed")
    assert changed == {**changed, "registration": "brand", "status": "OK", "previous_status": "REGISTRATION_PENDING"}
    campaign = TenDlcCampaign.objects.create(church=world.church, brand=brand, campaign_status="TCR_PENDING")
    apply_campaign_record(
        campaign, {"campaignStatus": "TCR_ACCEPTED"}, source="poll", event_type="campaign.update", occurred_at=None
    )
    assert data(world, "tendlc.status_changed")[1]["registration"] == "campaign"


def test_usage_thresholds_are_announced_once_per_period(world, listening):
    usage_record(church_id=world.church.pk, segments=1)  # starts the trial subscription
    allowance = Subscription.objects.get(church=world.church).plan.included_segments
    usage_record(church_id=world.church.pk, segments=allowance * 8 // 10)
    usage_record(church_id=world.church.pk, segments=1)
    usage_record(church_id=world.church.pk, segments=allowance)
    usage_record(church_id=world.church.pk, segments=5)
    assert [d["percent"] for d in data(world, "billing.usage_threshold")] == [80, 100]
    assert data(world, "billing.usage_threshold")[0]["allowance"] == allowance


def test_a_rollback_announces_nothing(world, listening):
    with pytest.raises(RuntimeError), transaction.atomic():
        member = church_services.member_create(
            church=world.church, acting_user=world.staff, phone="3125550143", consent=CONSENT
        )
        church_services.member_delete_many(church=world.church, member_ids=[member.pk], acting_user=None)
        raise RuntimeError("the caller's transaction fails")
    assert WebhookEvent.objects.count() == 0 and WebhookDelivery.objects.count() == 0


def test_only_subscribed_enabled_endpoints_get_deliveries(world, other_world):
    created_only, _ = make_endpoint(world, "http://127.0.0.1:9/a", events=["member.created"])
    everything, _ = make_endpoint(world, "http://127.0.0.1:9/b")
    paused, _ = make_endpoint(world, "http://127.0.0.1:9/c", enabled=False)
    theirs, _ = make_endpoint(other_world, "http://127.0.0.1:9/d")
    member = MemberFactory(church=world.church)
    events.emit(church=world.church, type="member.created", data={"id": member.pk})
    events.emit(church=world.church, type="member.deleted", data={"id": member.pk})
    got = {(d.endpoint_id, d.event.type) for d in WebhookDelivery.objects.select_related("event")}
    assert got == {
        (created_only.pk, "member.created"),
        (everything.pk, "member.created"),
        (everything.pk, "member.deleted"),
    }
    assert paused.pk not in {d.endpoint_id for d in WebhookDelivery.objects.all()}
    # An endpoint change is seen by the next emission at once (the cached list is dropped).
    theirs.events = ["member.created"]
    from integrations import services

    services.webhook_endpoint_update(church=world.church, endpoint=paused, acting_user=None, enabled=True)
    events.emit(church=world.church, type="member.deleted", data={"id": 1})
    assert WebhookDelivery.objects.filter(endpoint=paused).count() == 1


def test_unknown_types_fail_loudly():
    with pytest.raises(ValueError):
        events.emit(church=1, type="member.exploded", data={})


# --- Cost --------------------------------------------------------------------------------------------


def _queries(fn) -> int:
    from django.db import connection

    with CaptureQueriesContext(connection) as captured:
        fn()
    return len(captured)


def test_emitting_costs_no_query_without_endpoints_and_two_inserts_with_one(world, other_world):
    # No endpoint: the first emission reads the (empty) list once; after that, nothing at all.
    assert _queries(lambda: events.emit(church=world.church, type="member.deleted", data={"id": 1})) == 1
    many = [{"id": i} for i in range(30)]  # SQLite inserts at most ~70 deliveries per statement
    assert _queries(lambda: events.emit_many(church=world.church, type="member.deleted", items=many)) == 0
    assert _queries(lambda: events.emit(church=world.church, type="member.created", data=lambda: 1 / 0)) == 0

    # An endpoint not subscribed to the type: still nothing.
    make_endpoint(world, "http://127.0.0.1:9/a", events=["message.completed"])
    subscriptions(world.church.pk)
    assert _queries(lambda: events.emit_many(church=world.church, type="member.deleted", items=many)) == 0

    # Subscribed: one INSERT of events and one of deliveries, however many.
    make_endpoint(world, "http://127.0.0.1:9/b", events=["member.deleted"])
    make_endpoint(world, "http://127.0.0.1:9/c", events=["*"])
    subscriptions(world.church.pk)
    assert _queries(lambda: events.emit_many(church=world.church, type="member.deleted", items=many)) == 2
    assert WebhookEvent.objects.filter(church=world.church).count() == 30
    assert WebhookDelivery.objects.filter(church=world.church).count() == 60
    assert _queries(lambda: events.emit_many(church=world.church, type="member.deleted", items=many[:3])) == 2


def test_a_batch_of_receipts_costs_nothing_more_for_churches_without_endpoints(world, other_world):
    def batch_queries(church, count, status="delivered"):
        _, recipients = _sent_message(church, count)
        for recipient in recipients:
            accept_status(_callback(recipient.provider_message_id, status))
        subscriptions(church.pk)
        with CaptureQueriesContext(__import__("django.db").db.connection) as captured:
            assert apply_status_batch() == count
        return len(captured)

    make_endpoint(other_world, "http://127.0.0.1:9/r", events=["recipient.delivered"])  # another church's
    quiet = batch_queries(world.church, 20)  # no endpoint of this church
    make_endpoint(world, "http://127.0.0.1:9/r", events=["recipient.delivered"])
    listened = batch_queries(world.church, 20)
    assert listened == quiet + 2
    assert WebhookEvent.objects.filter(church=world.church, type="recipient.delivered").count() == 20


def test_consent_for_many_members_costs_the_same_statements_plus_two_when_listened_to(world, other_world):
    def consent_queries(church):
        members = MemberFactory.create_batch(50, church=church, sms_status=SmsStatus.NEVER_CONSENTED)
        subscriptions(church.pk)
        return _queries(
            lambda: church_services.consent_record_many(
                church=church,
                member_ids=[m.pk for m in members],
                kind=ConsentEvent.Kind.OPT_IN,
                source=ConsentEvent.Source.API,
                acting_user=None,
            )
        )

    quiet = consent_queries(other_world.church)
    make_endpoint(world, "http://127.0.0.1:9/m", events=["member.opted_in"])
    assert consent_queries(world.church) == quiet + 2
    assert Member.objects.filter(church=world.church, sms_status=SmsStatus.SUBSCRIBED).count() >= 50
