"""Naive baseline: 500 recipients, one ORM INSERT and one synchronous send at a time, against our pipeline
sending the same 500 (same fake Telnyx, 100 ms latency, no rate limits), in the same run.

Naive: for each subscribed member (ORM, phones decrypted), ``Recipient.objects.create`` then a blocking
``requests`` POST to the provider, then the result saved on the row. Ours: ``message_send`` (prepare
task published to Redis) and one real Celery worker (base settings) until every recipient is ``sent``;
the worker is warmed up first with a one-recipient broadcast (not measured).
"""

import os
import time

import requests

from bench import messaging_support as support

RECIPIENTS = 500
LATENCY = 0.1
SENDER = "+15550100004"


def _naive(church, sender, fake) -> dict:
    from django.utils import timezone

    from churches.models import Member, SmsStatus
    from messaging.broadcasts.services import render_body
    from messaging.models import Message, Recipient

    session = requests.Session()
    headers = {"Authorization": f"Bearer {fake.info['api_key']}"}
    body = "Hi {first_name}, the food drive starts Saturday at 9."
    started = time.perf_counter()
    message = Message.objects.create(
        church=church, sender=sender, body=body, audience={"all": True}, status=Message.Status.SENDING
    )
    sent = 0
    for member in Member.objects.filter(church=church, sms_status=SmsStatus.SUBSCRIBED).order_by("id"):
        recipient = Recipient.objects.create(church=church, message=message, member=member, phone=member.phone)
        text = render_body(body, first_name=member.first_name, last_name=member.last_name, church_name=church.name)
        response = session.post(
            f"{fake.base_url}/v2/messages",
            json={"from": sender.phone_number, "to": member.phone, "text": text},
            headers=headers,
            timeout=10,
        )
        response.raise_for_status()
        recipient.status = Recipient.Status.SENT
        recipient.provider_message_id = response.json()["data"]["id"]
        recipient.sent_at = timezone.now()
        recipient.save(update_fields=["status", "provider_message_id", "sent_at"])
        sent += 1
    elapsed = time.perf_counter() - started
    session.close()
    return {"seconds": round(elapsed, 3), "sent": sent, "per_s": round(sent / elapsed, 1)}


def _ours(church, owner, fake) -> dict:
    from messaging.broadcasts import services
    from messaging.models import Message

    env = support.app_env(**fake.env(), SMS_RATE_ACCOUNT="1000000", SMS_RATE_SENDER="1000000")
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
        naive = _naive(church, sender, fake)
        ours = _ours(church, owner, fake)
    finally:
        fake.stop()
    support.delete_messages(church)
    speedup = naive["seconds"] / ours["seconds"]
    floor = RECIPIENTS * LATENCY  # one at a time can't beat the provider's latency
    rows = [
        {"design": "naive (INSERT + synchronous send, one at a time)", **naive},
        {"design": "ours (materialize + worker pipeline)", **{k: ours[k] for k in ("seconds", "sent", "per_s")}},
        {"design": "speed-up (naive / ours)", "seconds": round(speedup, 1)},
    ]
    return {
        "parameters": {
            "recipients": RECIPIENTS,
            "provider_latency_s": LATENCY,
            "rate_limits": "none (fake unlimited; ours 1,000,000/s)",
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
