"""Fair turns across churches (messaging/broadcasts/fair.py): the next turn goes to the church served
least recently, never-served first, then to that church's least recently served broadcast; only
broadcasts with a due, queued recipient are in line."""

from datetime import timedelta

import pytest
from django.utils import timezone

from churches.models import Member
from messaging.broadcasts import fair, services
from messaging.models import Message, Recipient, SenderNumber
from tests.factories import ChurchFactory, MemberFactory

pytestmark = pytest.mark.django_db


def _sending(church, members: int = 2) -> Message:
    if not SenderNumber.objects.for_church(church).exists():
        SenderNumber.objects.create(church=church, phone_number=f"+1312555{church.pk:04d}", provider="console")
    if not Member.objects.for_church(church).exists():
        MemberFactory.create_batch(members, church=church)
    message = services.message_send(church=church, author=None, body="Hi", audience={"all": True})
    services.message_prepare(message_id=message.pk)
    message.refresh_from_db()
    assert message.status == "sending"
    return message


def test_turns_go_round_the_churches_least_recently_served_first():
    big, small, other = ChurchFactory(), ChurchFactory(), ChurchFactory()
    big_first = _sending(big)
    big_second = _sending(big)
    small_message = _sending(small)
    other_message = _sending(other)
    now = timezone.now()
    Message.objects.filter(pk=big_first.pk).update(last_turn_at=now - timedelta(seconds=5))
    Message.objects.filter(pk=other_message.pk).update(last_turn_at=now - timedelta(seconds=10))
    # small was never served; other was served longer ago than big (whose latest turn is big_first's).
    order = [fair.next_turn() for _ in range(4)]
    assert order[:3] == [small_message.pk, other_message.pk, big_second.pk]
    # big_second's turn made big the most recent church; the rest rotate as served.
    assert order[3] in {small_message.pk, other_message.pk}


def test_only_broadcasts_with_due_recipients_are_in_line():
    church = ChurchFactory()
    message = _sending(church)
    Recipient.objects.filter(message=message).update(send_after=timezone.now() + timedelta(hours=1))
    assert fair.next_turn() is None
    Recipient.objects.filter(message=message).update(send_after=None)
    assert fair.next_turn() == message.pk
    assert Message.objects.get(pk=message.pk).last_turn_at is not None


def test_a_fair_run_sends_every_church_and_finishes_them(django_capture_on_commit_callbacks, settings):
    settings.SEND_BATCH_SIZE = 2
    churches = [ChurchFactory() for _ in range(3)]
    for church in churches:
        church.quiet_hours_start = church.quiet_hours_end
        church.save()
    messages = [_sending(church, members=3) for church in churches]
    with django_capture_on_commit_callbacks(execute=True):
        assert fair.run_fair_sending(time_budget=60) == "idle"
    for message in messages:
        message.refresh_from_db()
        assert message.status == "sent" and message.counts["queued"] == 0


def test_a_broadcast_of_an_exact_multiple_of_the_batch_size_finishes_without_the_sweeper(
    django_capture_on_commit_callbacks, settings
):
    settings.SEND_BATCH_SIZE = 2
    church = ChurchFactory()
    church.quiet_hours_start = church.quiet_hours_end
    church.save()
    message = _sending(church, members=4)
    with django_capture_on_commit_callbacks(execute=True):
        assert fair.run_fair_sending(time_budget=60) == "idle"
    message.refresh_from_db()
    assert message.status == "sent" and message.counts["queued"] == 0


@pytest.mark.django_db(transaction=True)
def test_a_broadcast_whose_row_is_busy_is_still_served_by_a_second_sender(monkeypatch):
    """One broadcast running: its row is locked by another sender's pick or write-back. A second sender
    must share the work (recipient claims are SKIP LOCKED), not stop as if nothing were ready."""
    import threading

    from django.db import connection, connections, transaction

    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (SQLite has no SKIP LOCKED and locks the whole file)")
    monkeypatch.setattr("messaging.enqueue._send", lambda *args, **kwargs: None)  # no worker: it stays sending
    church = ChurchFactory()
    message = _sending(church)
    locked, release = threading.Event(), threading.Event()

    def hold_the_row():
        try:
            with transaction.atomic():
                Message.objects.select_for_update().get(pk=message.pk)
                locked.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    try:
        assert locked.wait(timeout=30)
        assert fair.next_turn() == message.pk
    finally:
        release.set()
        holder.join(timeout=30)
