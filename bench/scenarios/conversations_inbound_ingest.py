"""Inbound webhook throughput: signed Telnyx ``message.received`` texts (10% duplicates, 1% STOPs) from
2,000 members posted to /hooks/telnyx/ on gunicorn; texts per second and p50/p99, every text stored once
in its thread; the ratio to the same server's /health (no database) measured in the same run.

The webhook verifies the signature and stores the raw event once (``INSERT … ON CONFLICT DO NOTHING``),
then answers; a real Celery worker (queue ``webhooks`` only) applies the stored texts in batches
(``conversations/services/inbound_batch.py``): church by number, member by blind index, thread append,
consent. STOPs are applied in the request (the legal promise: effective before the next hand-off), so
the opt-out-to-effect time is the STOP request's own latency, reported separately. The time from the last
answer until the worker has applied every text is the ingest lag. The staff notifications and the STOP
confirmations the worker enqueues (queues ``default`` and ``priority``) are purged afterwards.

CPU is attributed to gunicorn (master and workers), the Celery worker (parent and pool children) and
only this database's PostgreSQL backends (``pg_stat_activity``), not every postgres process on the box.
The payloads are built and Ed25519-signed by the test fake's own builder (the real wire format).
"""

import os
import random
import statistics
import time

from django.db import connection

from bench import messaging_support as support
from bench.scenarios._support import percentile
from tests.messaging.support import Worker

MEMBERS = 2_000
TEXTS = 5_000
DUPLICATE_SHARE = 0.10
HEALTH_REQUESTS = 5_000
STOP_SHARE = 0.01
TARGET_PER_S = 300.0
TARGET_P99_MS = 200.0
DRAIN_TIMEOUT_S = 300
CHURCH_NUMBER = "+15550100007"
GUNICORN = {"workers": 4, "threads": 4}
CLIENT = {"processes": 2, "threads": 8}
WORDS = ["See you Sunday", "Thanks for the reminder", "Can I bring a friend?", "Praying for you", "What time?",
         "Is there parking?", "Amen!", "Running late", "Count me in", "Who is leading worship?"]  # fmt: skip


def _setup():
    church, _owner = support.open_church("bench-inbound", "Inbound Bench Church")
    support.seed_members(church, MEMBERS)
    support.sender_for(church, CHURCH_NUMBER)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM conversations_consentreview WHERE church_id = %s", [church.pk])
        cursor.execute("DELETE FROM conversations_conversationmessage WHERE church_id = %s", [church.pk])
        cursor.execute("DELETE FROM conversations_conversation WHERE church_id = %s", [church.pk])
        cursor.execute("DELETE FROM messaging_providerevent WHERE event_type = 'message.received'")
        cursor.execute("DELETE FROM churches_consentevent WHERE church_id = %s", [church.pk])
        cursor.execute("UPDATE churches_member SET sms_status = 'subscribed' WHERE church_id = %s", [church.pk])
    return church


def _texts(webhook_url: str):
    """(public key, signer, [(method, path, body, None)]): one inbound text each, built by the fake."""
    from tests.fakes.telnyx import FakeTelnyx

    fake = FakeTelnyx()
    try:
        rng = random.Random(11)
        items = []
        for i in range(TEXTS):
            stop = i % int(1 / STOP_SHARE) == 0
            build = fake.inbound_webhook(
                message_id=f"00000000-0000-4000-9000-{i:012d}",
                from_number=support.phone_number(i % MEMBERS),
                to_number=CHURCH_NUMBER,
                text="STOP" if stop else f"{rng.choice(WORDS)} ({i})",
                media=(),
                keyword=None,
                url=webhook_url,
            )
            body, _headers = build(1)
            items.append(("POST", "/hooks/telnyx/", body, None))
        return fake.public_key_b64, fake._signed_headers, items
    finally:
        fake.stop()


def _load(server, items, groups, sign=None) -> dict:
    meter = support.CpuMeter(groups).start()
    started = time.perf_counter()
    samples = support.http_load(server.port, items, sign=sign, **CLIENT)
    wall = time.perf_counter() - started
    cpu = meter.stop()
    sustained, _window = support.steady_rate([end for _, end, _, _ in samples], head_s=1.0, tail_s=0.5)
    durations = [end - start for start, end, _, _ in samples]
    # The webhook answers with the handler's outcome: "opt-out" for a STOP applied in the request.
    stops = [end - start for start, end, _, outcome in samples if outcome.startswith("opt-out")]
    statuses: dict[str, int] = {}
    for _, _, status, _ in samples:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "requests": len(samples),
        "wall_s": round(wall, 2),
        "sustained_per_s": round(sustained, 1),
        "p50_ms": round(statistics.median(durations) * 1000, 2),
        "p99_ms": round(percentile(durations, 99) * 1000, 2),
        "statuses": statuses,
        "cpu": cpu,
        "last_answer": max((end for _, end, _, _ in samples), default=started),
        "stop_requests": len(stops),
        "stop_p50_ms": round(statistics.median(stops) * 1000, 2) if stops else None,
        "stop_p99_ms": round(percentile(stops, 99) * 1000, 2) if stops else None,
    }


def _waiting() -> int:
    from messaging.models import ProviderEvent

    return ProviderEvent.objects.filter(event_type="message.received", outcome="received").count()


def _drain(last_answer: float) -> dict:
    """Wait for the worker to apply every stored text; the lag is measured from the last answer."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    waiting_at_last_answer = _waiting()
    while _waiting() and time.monotonic() < deadline:
        time.sleep(0.1)
    return {
        "waiting_when_load_ended": waiting_at_last_answer,
        "lag_after_last_answer_s": round(time.time() - last_answer, 2),
        "drained": _waiting() == 0,
    }


def _verify(church, stop_senders: int) -> dict:
    from churches.models import Member
    from conversations.models import Conversation, ConversationMessage
    from messaging.models import ProviderEvent

    inbound = ConversationMessage.objects.filter(church=church, direction="inbound")
    checks = {
        "messages_stored": inbound.count(),
        "distinct_provider_ids": inbound.values("provider_message_id").distinct().count(),
        "events_stored": ProviderEvent.objects.filter(event_type="message.received").count(),
        "events_not_applied": ProviderEvent.objects.filter(event_type="message.received")
        .exclude(outcome="applied")
        .count(),
        "conversations": Conversation.objects.filter(church=church).count(),
        "unread_total": sum(Conversation.objects.filter(church=church).values_list("unread_count", flat=True)),
        "opted_out_members": Member.objects.filter(church=church, sms_status="unsubscribed").count(),
    }
    checks["ok"] = (
        checks["messages_stored"] == checks["distinct_provider_ids"] == checks["events_stored"] == TEXTS
        and checks["events_not_applied"] == 0
        and checks["conversations"] == MEMBERS
        and checks["unread_total"] == TEXTS
        and checks["opted_out_members"] == stop_senders
    )
    return checks


def run() -> dict:
    load_at_start = os.getloadavg()
    church = _setup()
    server = worker = None
    try:
        support.purge_queues()
        server = support.Gunicorn(support.app_env(), **GUNICORN)
        public_key, sign, texts = _texts(f"http://127.0.0.1:{server.port}/hooks/telnyx/")
        server.env["TELNYX_PUBLIC_KEY"] = public_key
        server.start()
        support.LOG_DIR.mkdir(parents=True, exist_ok=True)
        worker = Worker(
            support.app_env(), concurrency=1, queues="webhooks", log_path=support.LOG_DIR / "inbound-worker.log"
        ).start()
        rng = random.Random(7)
        items = texts + rng.sample(texts, int(len(texts) * DUPLICATE_SHARE))
        rng.shuffle(items)
        groups = {
            "gunicorn": [server.pid],  # the master and its workers
            "celery": [worker.pid],  # the worker and its pool children
            "postgres_this_database": support.database_backends,
            "client_and_bench": [os.getpid()],
        }
        health = _load(server, [("GET", "/health", None, {})] * HEALTH_REQUESTS, groups)
        meter = support.CpuMeter(groups).start()
        inbound = _load(server, items, groups, sign=sign)
        drain = _drain(inbound.pop("last_answer"))
        drain["cpu_load_and_drain"] = meter.stop()
        health.pop("last_answer")
    finally:
        if worker is not None:
            worker.stop()
        if server is not None:
            server.stop()
        support.purge_queues()
    stop_senders = len({i % MEMBERS for i in range(0, TEXTS, int(1 / STOP_SHARE))})
    checks = _verify(church, stop_senders)
    ratio = inbound["sustained_per_s"] / health["sustained_per_s"] if health["sustained_per_s"] else 0.0
    passed = (
        inbound["sustained_per_s"] >= TARGET_PER_S
        and inbound["p99_ms"] <= TARGET_P99_MS
        and checks["ok"]
        and set(inbound["statuses"]) == {"200"}
    )
    rows = [
        {
            "endpoint": name,
            "requests": result["requests"],
            "sustained/s": result["sustained_per_s"],
            "p50_ms": result["p50_ms"],
            "p99_ms": result["p99_ms"],
            "statuses": result["statuses"],
        }
        for name, result in (("GET /health (no database)", health), ("POST /hooks/telnyx/ (inbound)", inbound))
    ]
    return {
        "parameters": {
            "members": MEMBERS,
            "texts": TEXTS,
            "duplicate_share": DUPLICATE_SHARE,
            "gunicorn": f"{GUNICORN['workers']} workers x {GUNICORN['threads']} threads, base settings",
            "client": f"{CLIENT['processes']} processes x {CLIENT['threads']} keep-alive connections",
            "load_average_at_start": [round(v, 1) for v in load_at_start],
        },
        "measurements": {"health": health, "inbound": inbound, "apply": drain, "checks": checks},
        "ratios": {"inbound_over_health": round(ratio, 3)},
        "target_per_s": TARGET_PER_S,
        "target_p99_ms": TARGET_P99_MS,
        "passed": passed,
        "rows": rows,
        "summary": (
            f"inbound texts: {inbound['sustained_per_s']:.0f}/s (target ≥ {TARGET_PER_S:.0f}), p50 "
            f"{inbound['p50_ms']} ms, p99 {inbound['p99_ms']} ms (target ≤ {TARGET_P99_MS:.0f}); /health "
            f"{health['sustained_per_s']:.0f}/s (ratio {ratio:.2f}); opt-out effective when its webhook "
            f"answers: p50 {inbound['stop_p50_ms']} ms, p99 {inbound['stop_p99_ms']} ms; batches applied "
            f"the backlog {drain['lag_after_last_answer_s']} s after the last answer; each text stored once "
            f"and applied: {checks['ok']}"
        ),
    }


if __name__ == "__main__":
    from bench.run import main

    raise SystemExit(main(["conversations_inbound_ingest"]))
