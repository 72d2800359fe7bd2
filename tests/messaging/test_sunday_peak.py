"""The Sunday-morning peak with real processes on PostgreSQL: a reply overtakes a running broadcast, a
small church's broadcast finishes while a large one is still going (fair turns across churches), and two
worker nodes share one broadcast with no duplicates and no losses.

Production's shape: a ``sends`` worker and a ``priority,webhooks,default`` worker (Procfile), the fake
Telnyx with latency, Redis token buckets at a shared account limit. The test plays beat (the sweeper)."""

import json
import re
import tempfile
from pathlib import Path

import pytest

from conversations.models import ConversationMessage
from conversations.services.outbound import reply_send
from messaging.broadcasts import services, tasks
from messaging.models import Message, SenderNumber
from tests.conversations.factories import ConversationFactory
from tests.messaging.support import (
    PrivateRedis,
    Worker,
    bulk_members,
    grant_segments,
    point_celery_at,
    process_env,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.pipeline]


@pytest.fixture
def private_redis(postgres_only):
    redis = PrivateRedis().start()
    yield redis
    redis.stop()


@pytest.fixture
def peak(private_redis, telnyx, live_server, settings, world, other_world):
    for n, church_world in enumerate((world, other_world)):
        church_world.church.quiet_hours_start = church_world.church.quiet_hours_end  # no quiet hours
        church_world.church.save()
        SenderNumber.objects.create(church=church_world.church, phone_number=f"+1312555010{n}", provider="telnyx")
        grant_segments(church_world, 10000)
    telnyx.set_latency(0.05, 0.02)
    settings.PUBLIC_BASE_URL = live_server.url
    settings.REDIS_URL = private_redis.url
    previous = point_celery_at(private_redis.url, eager=False)
    log_dir = Path(tempfile.mkdtemp(prefix="koinonia-peak-"))
    env = process_env(
        redis_url=private_redis.url,
        telnyx=telnyx,
        public_base_url=live_server.url,
        SMS_RATE_ACCOUNT="100",
        SMS_RATE_SENDER="1000",
        SEND_BATCH_SIZE="25",
        SEND_CONCURRENCY="8",
        SEND_PARALLELISM="4",
    )
    workers: list[Worker] = []

    def start_worker(*, queues: str, hostname: str, concurrency: int = 2, **overrides: str) -> Worker:
        log = log_dir / f"{hostname.split('@')[0]}.log"
        worker = Worker(
            {**env, **overrides}, concurrency=concurrency, queues=queues, hostname=hostname, log_path=log
        ).start()
        worker.log = log
        workers.append(worker)
        return worker

    yield start_worker
    for worker in workers:
        worker.stop()
    point_celery_at(previous[0], eager=previous[1])


def _beat():
    tasks.sweep()


def _broadcast(church_world, capture) -> Message:
    with capture(execute=True):
        return services.message_send(
            church=church_world.church, author=church_world.staff, body="Hi {first_name}", audience={"all": True}
        )


def _sent_to(fake) -> list[str]:
    return [json.loads(r.body)["to"] for r in fake.requests if r.path.endswith("/messages")]


def _refreshed(message: Message) -> Message:
    message.refresh_from_db()
    return message


def test_a_reply_overtakes_a_running_broadcast(peak, world, telnyx, django_capture_on_commit_callbacks):
    members = bulk_members(world.church, 2500)
    peak(queues="sends", hostname="sends@%h", concurrency=2)
    peak(queues="priority,webhooks,default", hostname="default@%h", concurrency=2)
    message = _broadcast(world, django_capture_on_commit_callbacks)
    wait_until(lambda: _refreshed(message).sent_count + message.delivered_count >= 200, timeout=120, tick=_beat)

    conversation = ConversationFactory(
        church=world.church, member=members[7], sender=SenderNumber.objects.for_church(world.church).get()
    )
    with django_capture_on_commit_callbacks(execute=True):
        reply = reply_send(church=world.church, conversation=conversation, acting_user=world.staff, body="See you!")

    def reply_sent() -> bool:
        reply.refresh_from_db()
        return reply.status in (ConversationMessage.Status.SENT, ConversationMessage.Status.DELIVERED)

    wait_until(reply_sent, timeout=60, what="the reply to be handed to the provider")
    # The broadcast still had most of its texts to send when the reply went out.
    assert _refreshed(message).status == "sending" and message.queued_count > 1000, message.counts
    bodies = [json.loads(r.body)["text"] for r in telnyx.requests if r.path.endswith("/messages")]
    assert "See you!" in bodies


def test_a_small_church_finishes_while_a_large_one_is_still_sending(
    peak, world, other_world, telnyx, django_capture_on_commit_callbacks
):
    bulk_members(world.church, 3000)
    bulk_members(other_world.church, 50, start=20000)
    peak(queues="sends", hostname="sends@%h", concurrency=2)
    peak(queues="priority,webhooks,default", hostname="default@%h", concurrency=2)
    large = _broadcast(world, django_capture_on_commit_callbacks)
    wait_until(lambda: _refreshed(large).sent_count + large.delivered_count >= 300, timeout=120, tick=_beat)
    small = _broadcast(other_world, django_capture_on_commit_callbacks)
    wait_until(
        lambda: _refreshed(small).status == "sent",
        timeout=120,
        interval=0.5,
        tick=_beat,
        what="the small church's broadcast to finish",
    )
    assert small.counts["queued"] == 0 and small.sent_count + small.delivered_count == 50
    assert _refreshed(large).status == "sending" and large.queued_count > 1000, large.counts


def test_two_worker_nodes_share_one_broadcast_without_duplicates_or_losses(
    peak, world, telnyx, django_capture_on_commit_callbacks
):
    bulk_members(world.church, 1500)
    nodes = [peak(queues="sends", hostname=f"{name}@%h", concurrency=2, SEND_TASK_TIME_BUDGET="3") for name in "ab"]
    peak(queues="priority,webhooks,default", hostname="default@%h", concurrency=2)
    message = _broadcast(world, django_capture_on_commit_callbacks)
    wait_until(
        lambda: _refreshed(message).status == "sent" and message.delivered_count == 1500,
        timeout=240,
        interval=1.0,
        tick=_beat,
        what="1500 deliveries",
    )
    assert message.counts == {"recipients": 1500, "queued": 0, "sent": 0, "delivered": 1500, "failed": 0, "skipped": 0}
    sent = _sent_to(telnyx)
    assert len(sent) == len(set(sent)) == 1500
    served = []
    for node in nodes:
        counts = [int(n) for n in re.findall(r"send task served (\d+) recipients", node.log.read_text())]
        served.append(sum(counts))
    # Both nodes did work (claimed rows; a retried row would count twice, so at least every recipient).
    assert all(served) and sum(served) >= 1500, served
