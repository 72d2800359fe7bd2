"""The rollup against raw rows: day boundaries in the church's time zone, branch attribution, failure
reasons, cost, idempotence, and the beat's choice of churches."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from analytics import services
from analytics.models import DailyStat, RefreshMark
from billing.models import Plan, Subscription
from churches.models import ConsentEvent
from conversations.models import ConversationMessage
from messaging.broadcasts.models import Recipient
from tests.analytics.conftest import at, broadcast, consent, inbound
from tests.factories import BranchFactory, MemberFactory

pytestmark = pytest.mark.django_db

JAN9, JAN10 = dt.date(2026, 1, 9), dt.date(2026, 1, 10)
OPT_OUT, OPT_IN = ConsentEvent.Kind.OPT_OUT, ConsentEvent.Kind.OPT_IN


@pytest.fixture
def scene(world):
    church = world.church  # America/Chicago: UTC-6 in January
    north, south = BranchFactory(church=church, name="North"), BranchFactory(church=church, name="South")
    alice = MemberFactory(church=church, branch=north, created_at=at("2026-01-10", 5, 59))  # Jan 9, 23:59
    bob = MemberFactory(church=church, branch=south, created_at=at("2026-01-10", 6, 0))  # Jan 10, 00:00
    MemberFactory(church=church, branch=None, created_at=at("2026-01-10", 20))  # Jan 10
    # Jan 9 (local): a church-wide broadcast with two failures, an opt-out in North, a reply from Alice.
    everyone = broadcast(
        church, started=at("2026-01-10", 5, 30), sent_count=3, delivered_count=5, segments_sent=20,
        reasons=[("30007", "Carrier filtered the message"), ("30005", "")],
    )  # fmt: skip
    consent(alice, OPT_OUT, at("2026-01-10", 5, 59))
    inbound(church, alice, at("2026-01-09", 18))
    # Jan 10 (local): a North-only broadcast (the branch's), a North+South one (the church's only), one
    # never prepared (counted on its creation day), an opt-in in South, replies from Bob and a visitor.
    north_only = broadcast(
        church, started=at("2026-01-10", 6, 30), audience={"branch_ids": [north.pk]}, delivered_count=4,
        segments_sent=8, reasons=[("30007", "Carrier filtered the message")],
    )  # fmt: skip
    broadcast(church, started=at("2026-01-10", 7), audience={"branch_ids": [north.pk, south.pk]}, delivered_count=2)
    broadcast(church, started=at("2026-01-10", 23), prepared=False, sent_count=1, segments_sent=1)
    consent(bob, OPT_IN, at("2026-01-10", 12))
    consent(bob, ConsentEvent.Kind.HELP, at("2026-01-10", 12))  # not a consent change
    inbound(church, bob, at("2026-01-10", 13))
    inbound(church, None, at("2026-01-10", 14))
    inbound(church, bob, at("2026-01-10", 15), direction=ConversationMessage.Direction.OUTBOUND)  # ours
    # Outside the days refreshed: the day after, local.
    broadcast(church, started=at("2026-01-11", 6, 1), delivered_count=99)
    return {"church": church, "north": north, "south": south, "north_only": north_only, "everyone": everyone}


def _rows(church) -> dict:
    return {(row.branch_id, row.day): row for row in DailyStat.objects.for_church(church)}


FIELDS = ("sent", "delivered", "failed", "opt_outs", "opt_ins", "replies", "new_members", "segments")


def _zero() -> dict:
    return dict.fromkeys(FIELDS, 0)


def _figures(row) -> dict:
    return {field: getattr(row, field) for field in FIELDS}


def test_days_follow_the_church_time_zone_and_broadcasts_their_one_branch(scene):
    church, north, south = scene["church"], scene["north"], scene["south"]
    written = services.daily_stats_refresh(church=church, days=[JAN9, JAN10])
    rows = _rows(church)
    assert written == len(rows)
    assert set(rows) == {(None, JAN9), (None, JAN10), (north.pk, JAN9), (north.pk, JAN10), (south.pk, JAN10)}
    assert _figures(rows[(None, JAN9)]) == {
        "sent": 8, "delivered": 5, "failed": 2, "opt_outs": 1, "opt_ins": 0, "replies": 1, "new_members": 1,
        "segments": 20,
    }  # fmt: skip
    assert rows[(None, JAN9)].failed_by_reason == {"Carrier filtered the message": 1, "Error 30005": 1}
    assert _figures(rows[(None, JAN10)]) == {
        "sent": 4 + 2 + 1, "delivered": 6, "failed": 1, "opt_outs": 0, "opt_ins": 1, "replies": 2, "new_members": 2,
        "segments": 9,
    }  # fmt: skip
    # North: its member's opt-out, reply and sign-up on Jan 9; its own broadcast on Jan 10.
    assert _figures(rows[(north.pk, JAN9)]) == _zero() | {"opt_outs": 1, "replies": 1, "new_members": 1}
    assert _figures(rows[(north.pk, JAN10)]) == _zero() | {
        "sent": 4, "delivered": 4, "failed": 1, "segments": 8,
    }  # fmt: skip
    assert rows[(north.pk, JAN10)].failed_by_reason == {"Carrier filtered the message": 1}
    assert _figures(rows[(south.pk, JAN10)]) == _zero() | {"opt_ins": 1, "replies": 1, "new_members": 1}


def test_failures_by_reason_add_up_to_the_failed_recipients(scene):
    church = scene["church"]
    services.daily_stats_refresh(church=church, days=[JAN9, JAN10])
    church_rows = DailyStat.objects.for_church(church).filter(branch__isnull=True)
    rolled = sum(sum(row.failed_by_reason.values()) for row in church_rows)
    raw = Recipient.objects.for_church(church).filter(status=Recipient.Status.FAILED).aggregate(n=Count("id"))["n"]
    assert rolled == raw == sum(row.failed for row in church_rows)


def test_refresh_is_idempotent_and_drops_rows_nothing_supports(scene):
    church, north = scene["church"], scene["north"]
    services.daily_stats_refresh(church=church, days=[JAN9, JAN10])
    first = {key: (_figures(row), row.failed_by_reason) for key, row in _rows(church).items()}
    services.daily_stats_refresh(church=church, days=[JAN10, JAN9, JAN10])
    assert {key: (_figures(row), row.failed_by_reason) for key, row in _rows(church).items()} == first
    # The North-only broadcast is re-aimed at everyone: North's Jan 10 row has nothing left and goes.
    scene["north_only"].audience = {"all": True}
    scene["north_only"].save(update_fields=["audience"])
    services.daily_stats_refresh(church=church, days=[JAN10])
    rows = _rows(church)
    assert (north.pk, JAN10) not in rows and (north.pk, JAN9) in rows
    assert rows[(None, JAN10)].failed_by_reason == {"Carrier filtered the message": 1}


def test_a_quiet_day_has_a_zero_row_and_other_churches_are_untouched(scene, other_world):
    broadcast(other_world.church, started=at("2026-01-10", 12), delivered_count=7)
    services.daily_stats_refresh(church=scene["church"], days=[dt.date(2025, 12, 25)])
    (row,) = DailyStat.objects.for_church(scene["church"])
    assert row.day == dt.date(2025, 12, 25) and _figures(row) == dict.fromkeys(FIELDS, 0)
    assert not DailyStat.objects.for_church(other_world.church).exists()


def test_cost_is_segments_at_the_plans_per_segment_price(scene):
    church = scene["church"]
    services.daily_stats_refresh(church=church, days=[JAN9])
    assert _rows(church)[(None, JAN9)].cost_cents == 0  # the trial has no per-text price
    now = timezone.now()
    Subscription.objects.update_or_create(
        church=church,
        defaults={"plan": Plan.objects.get(code="growth"), "status": "active", "current_period_start": now,
                  "current_period_end": now + dt.timedelta(days=30)},
    )  # fmt: skip
    services.daily_stats_refresh(church=church, days=[JAN9])
    assert _rows(church)[(None, JAN9)].cost_cents == 24  # 20 segments at $12 per 1,000, rounded up


def test_the_beat_refreshes_churches_with_new_activity_only(world, other_world):
    quiet = other_world.church
    member = MemberFactory(church=world.church)
    consent(member, OPT_OUT, timezone.now())
    written = services.daily_stats_refresh_recent()
    assert set(written) == {world.church.pk}  # the member was new, and opted out
    today = services.local_today(world.church)
    row = DailyStat.objects.for_church(world.church).get(branch__isnull=True, day=today)
    assert (row.opt_outs, row.new_members) == (1, 1)
    assert not DailyStat.objects.for_church(quiet).exists()
    assert RefreshMark.objects.get(source="consent").last_id == ConsentEvent.objects.for_church(world.church).get().pk
    # Nothing new: nobody is refreshed. A reply in the other church: only it.
    assert services.daily_stats_refresh_recent() == {}
    inbound(quiet, None, timezone.now())
    assert set(services.daily_stats_refresh_recent()) == {quiet.pk}


def test_the_beat_follows_a_broadcast_still_sending_back_to_its_start_day(world):
    started = timezone.now() - dt.timedelta(days=5)
    message = broadcast(world.church, started=started, delivered_count=3)
    message.status = "sending"
    message.save(update_fields=["status"])
    services.daily_stats_refresh_recent()
    start_day = started.astimezone(world.church.tzinfo).date()
    assert DailyStat.objects.for_church(world.church).get(branch__isnull=True, day=start_day).delivered == 3


def test_backfill_command_writes_every_day_and_can_run_again(scene, capsys):
    call_command("analytics_backfill", "--days", "3", "--church", str(scene["church"].pk))
    call_command("analytics_backfill", "--days", "3")
    assert DailyStat.objects.for_church(scene["church"]).filter(branch__isnull=True).count() == 3
    assert "rows over 3 days" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_two_refreshes_at_once_write_one_correct_set_of_rows(postgres_only, scene):
    import threading

    from django.db import connection

    church = scene["church"]
    services.daily_stats_refresh(church=church, days=[JAN9, JAN10])
    expected = {key: (_figures(row), row.failed_by_reason) for key, row in _rows(church).items()}
    DailyStat.objects.for_church(church).delete()
    barrier, errors = threading.Barrier(2), []

    def refresh() -> None:
        try:
            barrier.wait(timeout=10)
            services.daily_stats_refresh(church=church, days=[JAN9, JAN10])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert {key: (_figures(row), row.failed_by_reason) for key, row in _rows(church).items()} == expected


def test_the_refresh_is_a_scheduled_beat_task(world, settings):
    from analytics import tasks

    entry = settings.CELERY_BEAT_SCHEDULE["analytics-refresh"]
    assert entry["task"] == tasks.refresh_daily_stats.name and entry["schedule"] == 300
    MemberFactory(church=world.church)
    assert set(tasks.refresh_daily_stats.delay().get(timeout=10)) == {world.church.pk}
