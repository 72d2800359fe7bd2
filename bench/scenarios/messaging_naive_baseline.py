"""Naive baseline: 500 recipients sent the way the original system did — one Celery task per recipient
(each a blocking provider POST and a row update) — against our pipeline sending the same 500 (same fake
Telnyx, 100 ms latency, no rate limits, the same single Celery worker of 2 prefork processes), in the
same run.

Naive: the message row, then for each subscribed member one ORM ``Recipient.objects.create`` and one task
``bench.naive_send_one`` published to Redis (``bench/naive_tasks.py``, loaded by the worker with ``-I``);
timed until every recipient is ``sent``. Ours: ``message_send`` (prepare task published to Redis) and the
worker until every recipient is ``sent``. The worker is warmed up first with a one-recipient broadcast
(not measured). The speed-up therefore measures the pipeline's design (batched claims, concurrent sends
inside a task), not merely concurrency against a one-at-a-time loop.
"""

import os
import time

from bench import messaging_support as support
from tests.messaging.support import Worker

RECIPIENTS = 500
LATENCY = 0.1
SENDER = "+15550100004"


class _NaiveWorker(Worker):
    def command(self) -> list[str]:
        return [*super().command(), "-I", "bench.naive_tasks"]


def _naive(church, sender, fake, env) -> dict:
    from bench.naive_tasks import naive_send_one
    from churches.models import Member, SmsStatus
    from messaging.models import Message, Recipient

    body = "Hi {first_name}, the food drive starts Saturday at 9."
    support.purge_queues()
    support.LOG_DIR.mkdir(parents=True, exist_ok=True)
    worker = _NaiveWorker(env, concurrency=2, log_path=support.LOG_DIR / "naive-worker.log").start()
    try:
        # Warm-up (not measured): one recipient of a message of its own, sent once the worker is up.
        first = Member.objects.filter(church=church).order_by("id").first()
        warmup = Message.objects.create(
            church=church, sender=sender, body=body, audience={"member_ids": [first.pk]}, status=Message.Status.SENDING
        )
        one = Recipient.objects.create(church=church, message=warmup, member=first, phone=first.phone)
        with support.tasks_to_broker():
            naive_send_one.delay(one.pk, fake.base_url, fake.info["api_key"], sender.phone_number, body)
        support.wait_for(
            lambda: Recipient.objects.filter(pk=one.pk, status=Recipient.Status.SENT).exists(),
            timeout=120,
            interval=0.1,
            what="naive warm-up",
        )
        started = time.perf_counter()
        message = Message.objects.create(
            church=church, sender=sender, body=body, audience={"all": True}, status=Message.Status.SENDING
        )
        with support.tasks_to_broker():
            for member in Member.objects.filter(church=church, sms_status=SmsStatus.SUBSCRIBED).order_by("id"):
                recipient = Recipient.objects.create(church=church, message=message, member=member, phone=member.phone)
                naive_send_one.delay(recipient.pk, fake.base_url, fake.info["api_key"], sender.phone_number, body)
        enqueued = time.perf_counter() - started
        sent = Recipient.objects.filter(message=message, status=Recipient.Status.SENT)
        done = support.wait_for(lambda: sent.count() >= RECIPIENTS, timeout=600, interval=0.1, what="naive sends")
    finally:
        worker.stop()
        support.purge_queues()
    elapsed = done - started
    return {
        "seconds": round(elapsed, 3),
        "sent": sent.count(),
        "per_s": round(RECIPIENTS / elapsed, 1),
        "tasks_enqueued_s": round(enqueued, 3),
    }


def _ours(church, owner, fake, env) -> dict:
    from messaging.broadcasts import services
    from messaging.models import Message

    support.purge_queues()
    support.reset_rate_limits(SENDER)
    workers = support.Workers(env, processes=1, concurrency=2).start()
    try:
        with support.tasks_to_broker():
            warmup = services.message_send(
                church=church, author=owner, body="Warm-up", audience={"member_ids": [church_first_member(church)]}
            )
        support.wait_for(lambda: support.finished_count(warmup.pk) >= 1, timeout=120, interval=0.1, what="warm-up")
        started = time.perf_counter()
        with support.tasks_to_broker():
            message = services.message_send(
                church=church,
                author=owner,
                body="Hi {first_name}, the food drive starts Saturday at 9.",
                audience={"all": True},
                idempotency_key=support.unique_key("bench-naive"),
            )
        answered = time.perf_counter() - started
        done = support.wait_for(
            lambda: support.finished_count(message.pk) >= RECIPIENTS, timeout=300, interval=0.02, what="our sends"
        )
    finally:
        workers.stop()
        support.purge_queues()
    elapsed = done - started
    counts = Message.objects.get(pk=message.pk).counts
    return {
        "seconds": round(elapsed, 3),
        "sent": counts["sent"],
        "per_s": round(RECIPIENTS / elapsed, 1),
        "message_send_answered_s": round(answered, 4),
        "counts": counts,
    }


def church_first_member(church) -> int:
    from churches.models import Member

    return Member.objects.filter(church=church).order_by("id").values_list("id", flat=True).first()


def run() -> dict:
    load_at_start = os.getloadavg()
    church, owner = support.open_church("bench-naive", "Naive Bench Church")
    support.seed_members(church, RECIPIENTS)
    sender = support.sender_for(church, SENDER)
    support.delete_messages(church)
    fake = support.FakeTelnyxProcess(latency=LATENCY).start()
    try:
        env = support.app_env(**fake.env(), SMS_RATE_ACCOUNT="1000000", SMS_RATE_SENDER="1000000")
        naive = _naive(church, sender, fake, env)
        support.delete_messages(church)
        ours = _ours(church, owner, fake, env)
    finally:
        fake.stop()
    support.delete_messages(church)
    speedup = naive["seconds"] / ours["seconds"]
    floor = RECIPIENTS * LATENCY / 2  # two worker processes, one blocking send each
    rows = [
        {"design": "naive (one Celery task per recipient, 2 worker processes)", **naive},
        {"design": "ours (materialize + worker pipeline)", **{k: ours[k] for k in ("seconds", "sent", "per_s")}},
        {"design": "speed-up (naive / ours)", "seconds": round(speedup, 1)},
    ]
    return {
        "parameters": {
            "recipients": RECIPIENTS,
            "provider_latency_s": LATENCY,
            "rate_limits": "none (fake unlimited; ours 1,000,000/s)",
            "naive": "1 celery worker (prefork 2), one task per recipient: blocking POST, row update",
            "ours": "1 celery worker (prefork 2), base settings: SEND_CONCURRENCY 32, SEND_PARALLELISM 2",
            "load_average_at_start": [round(v, 1) for v in load_at_start],
        },
        "measurements": {
            "naive": naive,
            "ours": ours,
            "naive_floor_s": floor,
            "naive_overhead_over_latency_floor": round(naive["seconds"] / floor, 3),
        },
        "ratios": {"speedup_naive_over_ours": round(speedup, 1)},
        "targets": {"ours_faster": {"value": round(speedup, 1), "target": "> 1", "pass": speedup > 1}},
        "passed": speedup > 1 and ours["sent"] == RECIPIENTS and naive["sent"] == RECIPIENTS,
        "rows": rows,
        "summary": (
            f"500 recipients: naive {naive['seconds']:.1f} s, ours {ours['seconds']:.2f} s "
            f"(speed-up {speedup:.1f}x; POST answered in {ours['message_send_answered_s'] * 1000:.0f} ms)"
        ),
    }


if __name__ == "__main__":
    from bench.run import main

    raise SystemExit(main(["messaging_naive_baseline"]))
