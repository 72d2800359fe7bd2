"""Batched inbound ingest with a real Celery worker (PostgreSQL only): a STOP posted behind a backlog of
stored texts takes effect before the next broadcast hands that number to the provider; every text is
stored once; a worker killed mid-batch loses nothing (the sweeper and the re-queued task apply the rest)."""

import json
import tempfile
import time
from pathlib import Path

import pytest

from churches.crypto import phone_hash
from churches.models import Member, SmsStatus
from conversations.models import Conversation, ConversationMessage
from conversations.tasks import sweep_inbound_events
from messaging.broadcasts import services
from messaging.models import Message, ProviderEvent
from tests.messaging.support import (
    PrivateRedis,
    Worker,
    bulk_members,
    grant_segments,
    phone_for,
    point_celery_at,
    process_env,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.pipeline]

TEXTS = 300


@pytest.fixture
def ingest(postgres_only, telnyx, hooks, live_server, settings, world):
    """This process posts webhooks (the web tier) and hands tasks to a private Redis; workers apply."""
    world.church.quiet_hours_start = world.church.quiet_hours_end
    world.church.save()
    grant_segments(world, 2000)
    redis = PrivateRedis().start()
    settings.REDIS_URL = redis.url
    previous = point_celery_at(redis.url, eager=False)
    log_dir = Path(tempfile.mkdtemp(prefix="koinonia-inbound-"))
    env = process_env(redis_url=redis.url, telnyx=telnyx, public_base_url=live_server.url)
    workers: list[Worker] = []

    def start_worker(concurrency=2):
        worker = Worker(env, concurrency=concurrency, log_path=log_dir / f"worker{len(workers)}.log").start()
        workers.append(worker)
        return worker

    yield world, telnyx, hooks, start_worker
    for worker in workers:
        worker.stop()
    point_celery_at(previous[0], eager=previous[1])
    redis.stop()


def _received() -> int:
    return ProviderEvent.objects.filter(event_type="message.received", outcome="received").count()


def _sent_numbers(fake, text: str) -> list[str]:
    bodies = [json.loads(r.body) for r in fake.requests if r.path.endswith("/messages")]
    return [body["to"] for body in bodies if body.get("text") == text]


def _sweep() -> None:
    """What celery-beat does for broadcasts, compressed: the sweeper finishes a message that is done."""
    from messaging.broadcasts import tasks

    tasks.sweep()


def test_a_stop_behind_a_backlog_takes_effect_before_the_next_send(ingest, django_capture_on_commit_callbacks):
    world, telnyx, hooks, start_worker = ingest
    bulk_members(world.church, TEXTS)
    quitter = phone_for(7)
    for n in range(TEXTS):  # no worker yet: every text waits for its batch
        assert hooks.telnyx_text(phone_for(n), f"See you Sunday ({n})")[0].status_code == 200
    started = time.monotonic()
    response, _ = hooks.telnyx_text(quitter, "STOP")
    opt_out_seconds = time.monotonic() - started
    assert response.status_code == 200
    # Effective when the webhook answered, with the whole backlog still waiting for a worker.
    assert Member.objects.get(church=world.church, phone_hash=phone_hash(quitter)).sms_status == SmsStatus.UNSUBSCRIBED
    assert _received() == TEXTS
    assert opt_out_seconds < 30  # a sanity bound, not a timing claim (the bench measures it)

    with django_capture_on_commit_callbacks(execute=True):
        message = services.message_send(
            church=world.church, author=world.staff, body="Service at 10", audience={"all": True}
        )
    start_worker()
    wait_until(lambda: _received() == 0, timeout=180, interval=0.5, what="the backlog to be applied")
    wait_until(
        lambda: Message.objects.get(pk=message.pk).status == "sent",
        timeout=180,
        interval=0.5,
        tick=_sweep,
        what="the broadcast",
    )
    sent = _sent_numbers(telnyx, "Service at 10")
    assert quitter not in sent
    assert set(sent) == {phone_for(n) for n in range(TEXTS)} - {quitter}
    assert ConversationMessage.objects.filter(direction="inbound").count() == TEXTS + 1


def test_each_text_is_stored_once_and_a_killed_worker_loses_nothing(ingest):
    world, _telnyx, hooks, start_worker = ingest
    bulk_members(world.church, TEXTS)
    posted = []
    for n in range(TEXTS):
        response, signed = hooks.telnyx_text(phone_for(n), f"Count me in ({n})")
        assert response.status_code == 200
        posted.append(signed)
    for body, headers in posted[::10]:  # the provider's retries: 10 % again
        assert hooks.post_telnyx(body, headers).status_code == 200

    first = start_worker(concurrency=1)
    wait_until(lambda: _received() < TEXTS, timeout=120, interval=0.05, what="a first batch")
    first.kill()  # mid-batch, most likely: its transaction rolls back and its texts wait again
    assert _received() > 0

    start_worker()
    # Playing celery-beat: the sweeper's task, every half second.
    wait_until(lambda: _received() == 0, timeout=180, interval=0.5, tick=sweep_inbound_events.delay, what="all")
    inbound = ConversationMessage.objects.filter(church=world.church, direction="inbound")
    assert inbound.count() == TEXTS
    assert inbound.values("provider_message_id").distinct().count() == TEXTS
    assert ProviderEvent.objects.filter(event_type="message.received").count() == TEXTS
    assert not ProviderEvent.objects.exclude(outcome="applied").exists()
    assert sum(Conversation.objects.filter(church=world.church).values_list("unread_count", flat=True)) == TEXTS
