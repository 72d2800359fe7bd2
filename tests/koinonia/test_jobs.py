"""Job visibility for support: task failures recorded (scrubbed of phone numbers), runs of the jobs beat
schedules, beat's heartbeat, queue depths, and the admin page that shows them."""

from datetime import timedelta

import pytest
from django.utils import timezone

from koinonia.jobs import monitor as jobs
from koinonia.models import BeatHeartbeat, PeriodicJobRun, TaskFailure
from messaging.providers.console import report_statuses
from messaging.recurring import tasks as recurring_tasks
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_scrub_removes_phone_numbers_but_keeps_dates_and_ids():
    text = (
        "Telnyx 40310: +13125550100 is not reachable; (312) 555-0101 and 312.555.0102 too, at 2026-03-08 07:30, id 42"
    )
    assert jobs.scrub(text) == (
        "Telnyx 40310: [number] is not reachable; [number] and [number] too, at 2026-03-08 07:30, id 42"
    )
    assert jobs.scrub("+44 20 7946 0958") == "[number]"
    assert jobs.scrub("13125550100 or 1-312-555-0100") == "[number] or [number]"


def test_scrub_keeps_hex_ids_whose_digits_look_like_a_number():
    # A provider message id or UUID with ten digits in a row is an id support searches for, not a phone.
    ids = "console-1d9df4c4-5e7f-4411-a1d5-a8654448650d and 12345678-1234-4234-8234-123456789012"
    assert jobs.scrub(ids) == ids


def test_arguments_are_summarized_by_shape():
    summary = jobs.summarize_args(
        (7, [1, 2], "telnyx", "+13125550100", [{"to": "+13125550100"}] * 8),
        {"payload": {"to": "+13125550100", "text": "hi"}, "note": "Call Ruth at 312 555 0100"},
    )
    assert summary == "7, [1, 2], 'telnyx', str(len=12), list(len=8), payload=dict(keys=[to, text]), note=str(len=25)"
    assert "555" not in summary


def test_a_failed_task_is_recorded_with_its_error_and_no_phone_numbers():
    result = report_statuses.apply(args=([{"to": "+13125550100"}],), throw=False)  # not a delivery report
    assert result.failed()
    failure = TaskFailure.objects.get()
    assert failure.task_name == "messaging.providers.console.tasks.report_statuses" and failure.task_id == result.id
    assert failure.args_summary == "[dict(keys=[to])]"
    assert failure.exception_type and "Traceback" not in failure.traceback and "tasks.py" in failure.traceback
    assert "+1312" not in failure.exception_message + failure.traceback + failure.args_summary


def test_runs_of_beat_scheduled_jobs_are_recorded_with_their_outcome():
    recurring_tasks.recurring_tick.apply(headers={jobs.BEAT_HEADER: "web-1:4242"})
    recurring_tasks.recurring_tick.apply()  # run by hand: not a beat job run
    run = PeriodicJobRun.objects.get()
    assert run.job == "messaging.recurring.tasks.recurring_tick" and run.scheduled_by == "web-1:4242"
    assert run.outcome == "ok" and run.finished_at is not None and "'fired': 0" in run.detail

    report_statuses.apply(args=([{}],), headers={jobs.BEAT_HEADER: "web-1:4242"}, throw=False)
    failed = PeriodicJobRun.objects.get(job="messaging.providers.console.tasks.report_statuses")
    assert failed.outcome == "failed" and failed.detail


def test_the_beat_process_marks_what_it_sends_and_records_its_ticks(monkeypatch):
    headers = {}
    jobs.on_before_task_publish(sender="messaging.broadcasts.tasks.sweep", headers=headers)  # not the beat process
    assert headers == {} and not BeatHeartbeat.objects.exists()

    monkeypatch.setattr(jobs, "_beat_instance", None)
    jobs.on_beat_init()
    for name in ("messaging.broadcasts.tasks.sweep", "messaging.recurring.tasks.recurring_tick"):
        jobs.on_before_task_publish(sender=name, headers=headers)
    beat = BeatHeartbeat.objects.get()
    assert headers[jobs.BEAT_HEADER] == beat.instance == jobs.instance_name()
    assert beat.ticks == 2 and beat.last_task == "messaging.recurring.tasks.recurring_tick"


def test_old_records_are_pruned():
    old = timezone.now() - timedelta(days=40)
    TaskFailure.objects.create(task_name="x", exception_type="E", occurred_at=old)
    TaskFailure.objects.create(task_name="y", exception_type="E")
    PeriodicJobRun.objects.create(job="x", started_at=old)
    jobs.jobs_prune()
    assert list(TaskFailure.objects.values_list("task_name", flat=True)) == ["y"]
    assert not PeriodicJobRun.objects.exists()


def test_queue_depths_answer_for_the_configured_broker():
    depths = jobs.queue_depths()
    assert set(depths) == {"priority", "sends", "webhooks", "default", "unacked"}
    assert all(value is None or value >= 0 for value in depths.values())


def test_support_page_shows_queues_beat_jobs_and_failures(client):
    support = UserFactory(is_staff=True, is_superuser=True)
    BeatHeartbeat.objects.create(instance="beat-host:77", last_task="messaging.recurring.tasks.recurring_tick", ticks=5)
    PeriodicJobRun.objects.create(job="messaging.broadcasts.tasks.sweep", outcome="ok", detail="prepared 2")
    TaskFailure.objects.create(task_name="messaging.broadcasts.tasks.send_message", exception_type="TimeoutError")
    client.force_login(support)
    page = client.get("/admin/koinonia/backgroundjobs/")
    assert page.status_code == 200
    html = page.content.decode()
    for text in (
        "Queues",
        "sends",
        "beat-host:77",
        "messaging.recurring.tasks.recurring_tick",
        "prepared 2",
        "TimeoutError",
    ):
        assert text in html
    assert client.get(f"/admin/koinonia/taskfailure/{TaskFailure.objects.get().pk}/change/").status_code == 200


def test_the_support_page_is_for_support_staff_only(client, world):
    client.force_login(world.owner)  # a church owner is not our support staff
    assert client.get("/admin/koinonia/backgroundjobs/").status_code == 302
