"""Inbound texts stored by the webhook and applied by a worker in batches; opt-outs (and opt-ins, HELP)
applied in the request, so they take effect before the next hand-off to that number."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from churches.models import ConsentEvent, GroupMembership, SmsStatus
from conversations.models import ConversationMessage
from conversations.services import inbound_batch
from conversations.services.inbound_batch import inbound_accept, inbound_batch_apply, inbound_sweep, is_urgent
from messaging.models import ProviderEvent
from messaging.providers.events import InboundText
from tests.conversations.conftest import CHURCH_NUMBER
from tests.factories import GroupFactory, MemberFactory

pytestmark = pytest.mark.django_db

_n = iter(range(1, 10**6))


def _text(phone: str, body: str, *, to: str = CHURCH_NUMBER, autoreply: str = "") -> InboundText:
    n = next(_n)
    payload = {
        "data": {
            "id": f"evt-{n}",
            "event_type": "message.received",
            "occurred_at": "2026-12-06T14:00:00+00:00",
            "payload": {
                "id": f"msg-{n}",
                "from": {"phone_number": phone},
                "to": [{"phone_number": to}],
                "text": body,
                "media": [],
            },
        }
    }
    from messaging.providers.telnyx.callbacks import parse_inbound

    parsed = parse_inbound(payload)
    if autoreply:
        from dataclasses import replace

        parsed = replace(parsed, provider_autoreply=autoreply)
    return parsed


def _waiting() -> int:
    return ProviderEvent.objects.filter(outcome=ProviderEvent.Outcome.RECEIVED).count()


def test_an_ordinary_text_is_stored_once_and_applied_by_the_batch(number, member):
    text = _text(member.phone, "See you Sunday")
    assert inbound_accept(inbound=text) == "received"
    assert inbound_accept(inbound=text) == "duplicate"  # the provider's retry
    assert _waiting() == 1 and not ConversationMessage.objects.exists()

    assert inbound_batch_apply() == 1
    event = ProviderEvent.objects.get()
    assert event.outcome == ProviderEvent.Outcome.APPLIED and event.detail == "text"
    assert list(ConversationMessage.objects.values_list("body", flat=True)) == ["See you Sunday"]
    assert inbound_batch_apply() == 0


def test_the_webhook_stores_an_ordinary_text_in_two_statements(number, member):
    text = _text(member.phone, "Thanks for the reminder")
    with CaptureQueriesContext(connection) as queries:
        inbound_accept(inbound=text)
    # the classification reads nothing; one INSERT … ON CONFLICT (the batch is scheduled after commit)
    assert len(queries) == 1, [q["sql"][:80] for q in queries]


def test_a_stop_takes_effect_in_the_request_without_the_batch(number, member):
    earlier = _text(member.phone, "Thanks!")
    inbound_accept(inbound=earlier)  # waits for its batch
    assert inbound_accept(inbound=_text(member.phone, "STOP")) == "opt-out"
    member.refresh_from_db()
    assert member.sms_status == SmsStatus.UNSUBSCRIBED  # before any batch ran
    assert _waiting() == 1

    inbound_batch_apply()  # the earlier text, applied later, changes no consent
    member.refresh_from_db()
    assert member.sms_status == SmsStatus.UNSUBSCRIBED


@pytest.mark.parametrize(
    ("body", "autoreply", "urgent"),
    [
        ("STOP", "", True),
        ("please stop texting me", "", True),
        ("START", "", True),
        ("yes", "", True),  # an opt-in for someone who opted out: decided with the real state
        ("HELP", "", True),
        ("whatever", "STOP", True),  # the provider's keyword engine answered it
        ("See you Sunday", "", False),
        ("JOIN YOUTH", "", False),
    ],
)
def test_which_texts_take_the_synchronous_path(body, autoreply, urgent):
    assert is_urgent(_text("+13125550111", body, autoreply=autoreply)) is urgent


def test_a_keyword_join_applied_after_a_later_stop_does_not_resubscribe(number, member, world):
    GroupFactory(church=world.church, name="Youth", keyword="YOUTH")
    inbound_accept(inbound=_text(member.phone, "JOIN YOUTH"))  # sent first, batched
    inbound_accept(inbound=_text(member.phone, "STOP"))  # sent after, applied at once
    inbound_batch_apply()

    member.refresh_from_db()
    assert member.sms_status == SmsStatus.UNSUBSCRIBED
    assert not ConsentEvent.objects.filter(member=member, kind=ConsentEvent.Kind.OPT_IN).exists()
    assert not GroupMembership.objects.filter(member=member).exists()
    assert ProviderEvent.objects.get(outcome="applied", detail__startswith="keyword").detail.endswith("since)")


def test_a_batch_applies_many_texts_in_bounded_queries_per_text(number, world):
    members = MemberFactory.create_batch(20, church=world.church, sms_status=SmsStatus.SUBSCRIBED)
    for member in members:
        inbound_accept(inbound=_text(member.phone, "Amen"))
    with CaptureQueriesContext(connection) as queries:
        assert inbound_batch_apply() == 20
    # per text: member, thread, create thread, message, touch, reopen, savepoint pair…; numbers,
    # settings, the events' lock and their one UPDATE are per batch
    assert len(queries) <= 20 * 12 + 8, len(queries)
    assert ConversationMessage.objects.filter(direction="inbound").count() == 20


def test_a_text_for_no_church_and_an_unreadable_one_do_not_stop_the_batch(number, member):
    inbound_accept(inbound=_text(member.phone, "hello", to="+13125559999"))
    inbound_accept(inbound=_text(member.phone, "hello"))
    ProviderEvent.objects.create(
        provider="telnyx", event_id="broken", event_type="message.received", payload={"data": {}}, outcome="received"
    )
    assert inbound_batch_apply() == 3
    outcomes = dict(ProviderEvent.objects.values_list("event_id", "outcome"))
    assert sorted(outcomes.values()) == ["applied", "error", "unmatched"]
    assert _waiting() == 0


def test_the_sweeper_applies_texts_whose_batch_was_lost(number, member):
    inbound_accept(inbound=_text(member.phone, "hello"))
    assert inbound_sweep() == 0  # too fresh: its batch may still come
    ProviderEvent.objects.update(received_at=ProviderEvent.objects.get().received_at - timedelta(minutes=1))
    assert inbound_sweep() == 1
    assert _waiting() == 0 and ConversationMessage.objects.count() == 1


def test_webhook_texts_are_applied_after_commit(hooks, member):
    response, _ = hooks.telnyx_text(member.phone, "See you Sunday")  # on-commit runs the batch (eager)
    assert response.status_code == 200
    assert ProviderEvent.objects.get().outcome == ProviderEvent.Outcome.APPLIED
    assert ConversationMessage.objects.get().body == "See you Sunday"
    assert cache.get(inbound_batch.BATCH_SCHEDULED_KEY) is None  # cleared as the task started
