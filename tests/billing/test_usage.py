"""Usage metering through the ``segments_sent`` / ``segments_failed`` signals exactly as messaging sends
them: totals equal the segments sent, set-based (a fixed number of queries per batch), warnings at 80% /
100% once, and overage reported to Stripe as meter events once each.

The end-to-end version (a real 1,000-recipient broadcast through messaging's pipeline) waits for the
messaging issue; these tests send the hook exactly as its pipeline will."""

import random

import pytest
from django.core import mail
from django.utils import timezone

from billing import tasks
from billing.models import BranchUsage, MeterReport, UsagePeriod
from koinonia import policy
from koinonia.hooks import segments_failed, segments_sent
from tests.billing.conftest import subscribe_and_deliver

pytestmark = pytest.mark.django_db


def send(church, segments, *, branch_id=None, message_id=1):
    segments_sent.send(
        sender=None,
        church_id=church.pk,
        segments=segments,
        message_id=message_id,
        branch_id=branch_id,
        occurred_at=timezone.now(),
    )


def recipient_segments(n=1000, seed=7):
    """Per-recipient segment counts of a merged broadcast: names make some texts spill into 2 or 3 parts."""
    rng = random.Random(seed)
    return [rng.choice((1, 1, 1, 2, 2, 3)) for _ in range(n)]


def test_a_1000_recipient_broadcast_is_counted_exactly(world, other_world, django_capture_on_commit_callbacks):
    per_recipient = recipient_segments()
    with django_capture_on_commit_callbacks(execute=True):
        for segments in per_recipient:  # one hook call per recipient...
            send(world.church, segments, branch_id=11)
        for start in range(0, 1000, 100):  # ...or per batch of 100: the same totals
            send(other_world.church, sum(per_recipient[start : start + 100]), branch_id=22)
    expected = sum(per_recipient)
    assert UsagePeriod.objects.get(church=world.church).segments_used == expected
    assert UsagePeriod.objects.get(church=other_world.church).segments_used == expected
    assert BranchUsage.objects.get(church=world.church, branch_id=11).segments_used == expected
    assert BranchUsage.objects.filter(church=world.church).count() == 1  # aggregates, not rows per segment
    assert policy.current().usage_summary(church=world.church)["used"] == expected


def test_metering_a_batch_costs_a_fixed_number_of_queries(world, django_assert_max_num_queries):
    send(world.church, 1, branch_id=5)  # the first batch saves the trial and the period rows
    with django_assert_max_num_queries(5):  # subscription, UPDATE … + n, read back (+ savepoint, release)
        send(world.church, 150)
    with django_assert_max_num_queries(6):  # + the branch's UPDATE
        send(world.church, 150, branch_id=5)


def test_segments_failing_before_the_carrier_are_not_billed(world):
    send(world.church, 40, branch_id=3)
    segments_failed.send(
        sender=None, church_id=world.church.pk, segments=15, message_id=1, branch_id=3, occurred_at=timezone.now()
    )
    assert UsagePeriod.objects.get(church=world.church).segments_used == 25
    assert BranchUsage.objects.get(church=world.church, branch_id=3).segments_used == 25
    segments_failed.send(
        sender=None, church_id=world.church.pk, segments=500, message_id=1, branch_id=None, occurred_at=timezone.now()
    )
    assert UsagePeriod.objects.get(church=world.church).segments_used == 0  # never below zero


def test_owners_are_emailed_at_80_and_100_percent_once(world, django_capture_on_commit_callbacks):
    # The trial includes 500 segments.
    with django_capture_on_commit_callbacks(execute=True):
        send(world.church, 300)
        assert mail.outbox == []
        send(world.church, 100)  # 400 = 80%
        send(world.church, 50)
        send(world.church, 50)  # 500 = 100%
        send(world.church, 10)
    subjects = [m.subject for m in mail.outbox]
    assert subjects == [
        f"{world.church.name}: 80% of this month's texts used",
        f"{world.church.name}: this month's included texts are used up",
    ]
    assert mail.outbox[0].to == [world.owner.email]
    assert "400 of the 500" in mail.outbox[0].body


def test_overage_is_reported_to_stripe_once_each(client, world, fake_stripe, django_capture_on_commit_callbacks):
    sub = subscribe_and_deliver(client, world, fake_stripe, "growth")  # 5,000 included, overage on

    def batch(segments):  # each batch commits, as messaging's do
        with django_capture_on_commit_callbacks(execute=True):
            send(world.church, segments)

    batch(4990)
    assert fake_stripe.state.meter_events == {}
    batch(30)  # 20 over
    batch(5)  # 25 over
    # Stripe takes the next event but the answer is lost: the report stays unsent...
    fake_stripe.fail_next(1, status=500, path_prefix="/v1/billing/meter_events", after_processing=True)
    batch(75)  # 100 over
    events = fake_stripe.state.meter_events
    assert [e["payload"]["value"] for e in events.values()] == ["20", "5", "75"]
    assert {e["payload"]["stripe_customer_id"] for e in events.values()} == {sub.stripe_customer_id}
    assert MeterReport.objects.filter(sent_at__isnull=True).count() == 1
    # ...until the sweep resends it; Stripe's identifier dedupe proves it had arrived: still 100, once each.
    MeterReport.objects.update(created_at=timezone.now().replace(year=2000))
    with django_capture_on_commit_callbacks(execute=True):
        tasks.retry_pending_billing_work.delay()
        tasks.retry_pending_billing_work.delay()
        tasks.report_overage.delay(UsagePeriod.objects.get(church=world.church).pk)
    assert sum(int(e["payload"]["value"]) for e in fake_stripe.state.meter_events.values()) == 100
    assert len(fake_stripe.state.meter_events) == 3
    assert MeterReport.objects.filter(sent_at__isnull=True).count() == 0
    assert UsagePeriod.objects.get(church=world.church).overage_reported == 100


def test_support_credits_come_off_the_overage(client, world, fake_stripe, django_capture_on_commit_callbacks):
    from billing import services

    subscribe_and_deliver(client, world, fake_stripe, "growth")
    services.credit_grant(church=world.church, acting_user=world.owner, segments=50, reason="carrier outage")
    with django_capture_on_commit_callbacks(execute=True):
        send(world.church, 5100)
    assert [e["payload"]["value"] for e in fake_stripe.state.meter_events.values()] == ["50"]
    assert policy.current().usage_summary(church=world.church)["allowance"] == 5050


def test_the_trial_is_never_metered(world, fake_stripe, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        send(world.church, 700)
    assert fake_stripe.state.meter_events == {} and not MeterReport.objects.exists()
