"""Webhook ingest: signed Telnyx ``message.finalized`` delivery callbacks (10% duplicates) posted to
/hooks/telnyx/ on gunicorn, callbacks per second and p50/p99, nothing lost or double-counted; the ratio
to the same server's /health (no database) measured in the same run.

A broadcast of 20,000 recipients already handed to the provider (status ``sent``, provider ids) is created
set-based. The callbacks are built and Ed25519-signed by the test fake's own builder (the real wire format,
signed with its key, which the server is given as TELNYX_PUBLIC_KEY). gunicorn runs the production shape
(``koinonia.wsgi``, base settings, DEBUG off) with 4 workers x 4 threads; the client is 2 forked processes x
8 threads, each thread one keep-alive connection.
"""

import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from django.db import connection

from bench import messaging_support as support
from bench.scenarios._support import percentile

RECIPIENTS = int(os.environ.get("BENCH_WEBHOOK_RECIPIENTS", "20000"))  # smaller for a quick look
DUPLICATE_SHARE = 0.10
HEALTH_REQUESTS = 10_000
TARGET_PER_S = 500.0
SENDER = "+15550100003"
GUNICORN = {"workers": 4, "threads": 4}
CLIENT = {"processes": 2, "threads": 8}


def _setup():
    from django.utils import timezone

    from messaging.models import Message

    church, _owner = support.open_church("bench-webhooks", "Webhook Bench Church")
    support.seed_members(church, RECIPIENTS)
    sender = support.sender_for(church, SENDER)
    support.delete_messages(church)
    now = timezone.now()
    message = Message.objects.create(
        church=church,
        sender=sender,
        body="Bench: status callbacks",
        audience={"all": True},
        status=Message.Status.SENT,
        recipient_count=RECIPIENTS,
        sent_count=RECIPIENTS,
        segments_sent=RECIPIENTS,
        prepared_at=now,
        completed_at=now,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO messaging_recipient (church_id, message_id, member_id, phone, status, provider_message_id, "
            "segments, error_code, error_reason, attempts, queued_at, sent_at) "
            "SELECT m.church_id, %s, m.id, m.phone, 'sent', gen_random_uuid()::text, 1, '', '', 1, now(), now() "
            "FROM churches_member m WHERE m.church_id = %s ORDER BY m.id LIMIT %s",
            [message.pk, church.pk, RECIPIENTS],
        )
        cursor.execute("SELECT provider_message_id FROM messaging_recipient WHERE message_id = %s", [message.pk])
        provider_ids = [row[0] for row in cursor.fetchall()]
        cursor.execute("ANALYZE messaging_recipient")
    return church, message, provider_ids


def _callbacks(provider_ids: list[str], webhook_url: str):
    """(FakeTelnyx public key, its signer, [(method, path, body, None)]): one delivered callback per id,
    built by the fake; the client signs each just before sending it (Telnyx-Timestamp must be fresh)."""
    from messaging.segments import segment_info
    from tests.fakes.base import FakeMessage
    from tests.fakes.telnyx import FakeTelnyx

    fake = FakeTelnyx()
    try:
        text = "Bench: status callbacks"
        segments = segment_info(text)
        sent_at = datetime.now(UTC)
        items = []
        for i, provider_id in enumerate(provider_ids):
            message = FakeMessage(
                id=provider_id,
                account=fake.api_key,
                from_number=SENDER,
                to_number=support.phone_number(i),
                text=text,
                media_urls=[],
                webhook_url=webhook_url,
                segments=segments,
                received_at=sent_at,
                extra={"messaging_profile_id": fake.messaging_profile_id},
            )
            build = fake.status_webhook(
                message, status="delivered", error_code=None, occurred_at=sent_at + timedelta(seconds=2)
            )
            body, _headers = build(1)
            items.append(("POST", "/hooks/telnyx/", body, None))
        return fake.public_key_b64, fake._signed_headers, items
    finally:
        fake.stop()


def _latency_ms(samples) -> dict:
    durations = [end - start for start, end, _, _ in samples]
    return {
        "p50_ms": round(statistics.median(durations) * 1000, 2),
        "p95_ms": round(percentile(durations, 95) * 1000, 2),
        "p99_ms": round(percentile(durations, 99) * 1000, 2),
        "max_ms": round(max(durations) * 1000, 2),
    }


def _load(server, items, meter_groups, sign=None) -> dict:
    meter = support.CpuMeter(meter_groups).start()
    started = time.perf_counter()
    samples = support.http_load(server.port, items, sign=sign, **CLIENT)
    wall = time.perf_counter() - started
    cpu = meter.stop()
    sustained, window = support.steady_rate([end for _, end, _, _ in samples], head_s=1.0, tail_s=0.5)
    statuses: dict[str, int] = {}
    outcomes: dict[str, int] = {}
    for _, _, status, outcome in samples:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if outcome:
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return {
        "requests": len(samples),
        "wall_s": round(wall, 2),
        "overall_per_s": round(len(samples) / wall, 1),
        "sustained_per_s": round(sustained, 1),
        "steady_window_s": round(window, 2),
        **_latency_ms(samples),
        "statuses": statuses,
        "outcomes": outcomes,
        "cpu": cpu,
        "cpu_ms_per_request": {
            name.removesuffix("_cores"): round(cores * wall / len(samples) * 1000, 3)
            for name, cores in cpu.items()
            if name.endswith("_cores") and name != "machine_cores"
        },
    }


def _verify(message, provider_ids, duplicates: int, result: dict) -> dict:
    from messaging.models import Message, Recipient

    counts = Message.objects.filter(pk=message.pk).values("sent_count", "delivered_count").get()
    delivered = Recipient.objects.filter(message=message, status="delivered").count()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT e.event_id), count(*) FILTER (WHERE e.outcome = 'applied') "
            "FROM messaging_providerevent e WHERE e.provider = 'telnyx' AND e.provider_message_id IN "
            "(SELECT r.provider_message_id FROM messaging_recipient r WHERE r.message_id = %s)",
            [message.pk],
        )
        events, distinct_events, applied_events = cursor.fetchone()
    expected = len(provider_ids)
    checks = {
        "delivered_count": counts["delivered_count"],
        "sent_count_left": counts["sent_count"],
        "recipients_delivered": delivered,
        "events_stored": events,
        "distinct_events": distinct_events,
        "events_applied": applied_events,
        "answers_accepted": result["outcomes"].get("accepted", 0),
        "answers_duplicate": result["outcomes"].get("duplicate", 0),
        "non_200_answers": sum(n for status, n in result["statuses"].items() if status != "200"),
    }
    checks["ok"] = (
        counts["delivered_count"] == expected
        and counts["sent_count"] == 0
        and delivered == expected
        and events == distinct_events == applied_events == expected
        and checks["answers_accepted"] == expected
        and checks["answers_duplicate"] == duplicates
        and checks["non_200_answers"] == 0
    )
    return checks


def run() -> dict:
    load_at_start = os.getloadavg()
    church, message, provider_ids = _setup()
    server = workers = None
    drain_s = None
    try:
        # The webhook stores and answers; workers on the `webhooks` queue apply the callbacks in
        # batches. They run throughout, as in production, and the drain time after the load is reported.
        support.purge_queues()
        workers = support.Workers(support.app_env(), processes=1, concurrency=2).start()
        server = support.Gunicorn(support.app_env(), **GUNICORN)  # key set below, once the fake made it
        public_key, sign, callbacks = _callbacks(provider_ids, f"http://127.0.0.1:{server.port}/hooks/telnyx/")
        server.env["TELNYX_PUBLIC_KEY"] = public_key
        server.start()
        rng = random.Random(7)
        duplicates = rng.sample(callbacks, int(len(callbacks) * DUPLICATE_SHARE))
        items = callbacks + duplicates
        rng.shuffle(items)
        groups = {
            "gunicorn": [server.pid],
            "postgres": support.database_backends,
            # the bench process and (once reaped) its forked clients; not gunicorn, also its child
            "client_and_bench": lambda: [os.getpid()],
        }
        health = _load(server, [("GET", "/health", None, {})] * HEALTH_REQUESTS, groups)
        groups["workers"] = lambda: workers.pids
        webhooks = _load(server, items, groups, sign=sign)
        load_done = time.perf_counter()
        from messaging.models import Message

        expected = len(provider_ids)
        applied_at = support.wait_for(
            lambda: Message.objects.filter(pk=message.pk, delivered_count=expected).exists(),
            timeout=300,
            interval=0.2,
            what="the workers to apply every callback",
        )
        drain_s = round(applied_at - load_done, 2)
    finally:
        if server is not None:
            server.stop()
        if workers is not None:
            workers.stop()
    checks = _verify(message, provider_ids, len(duplicates), webhooks)
    support.delete_messages(church)

    ratio = webhooks["sustained_per_s"] / health["sustained_per_s"]
    targets = {
        "callbacks_per_s": {
            "value": webhooks["sustained_per_s"],
            "target": f">= {TARGET_PER_S:.0f}",
            "pass": webhooks["sustained_per_s"] >= TARGET_PER_S,
        },
        "nothing_lost_or_double_counted": {"value": checks["ok"], "target": True, "pass": checks["ok"]},
    }
    rows = [
        {
            "endpoint": name,
            "requests": result["requests"],
            "sustained/s": result["sustained_per_s"],
            "p50_ms": result["p50_ms"],
            "p99_ms": result["p99_ms"],
            "gunicorn_cores": result["cpu"]["gunicorn_cores"],
            "pg_cores": result["cpu"]["postgres_cores"],
            "client_cores": result["cpu"]["client_and_bench_cores"],
            "machine_busy": result["cpu"]["machine_busy_cores"],
        }
        for name, result in (("GET /health (no database)", health), ("POST /hooks/telnyx/ (status)", webhooks))
    ]
    rows += [
        {"endpoint": f"target {name}", "sustained/s": t["value"], "requests": t["target"], "p50_ms": t["pass"]}
        for name, t in targets.items()
    ]
    return {
        "parameters": {
            "recipients": RECIPIENTS,
            "duplicate_share": DUPLICATE_SHARE,
            "callbacks_posted": len(items),
            "gunicorn": f"{GUNICORN['workers']} workers x {GUNICORN['threads']} threads (gthread), base settings",
            "client": f"{CLIENT['processes']} processes x {CLIENT['threads']} keep-alive connections (http.client)",
            "load_average_at_start": [round(v, 1) for v in load_at_start],
        },
        "measurements": {"health": health, "webhooks": webhooks, "checks": checks, "apply_drain_s": drain_s},
        "ratios": {"webhooks_over_health": round(ratio, 3)},
        "targets": targets,
        "passed": all(t["pass"] for t in targets.values()),
        "rows": rows,
        "summary": (
            f"status callbacks: {webhooks['sustained_per_s']:.0f}/s (target ≥ {TARGET_PER_S:.0f}), "
            f"p50 {webhooks['p50_ms']} ms, p99 {webhooks['p99_ms']} ms; /health {health['sustained_per_s']:.0f}/s "
            f"(ratio {ratio:.2f}); workers finished applying {drain_s} s after the last callback; "
            f"nothing lost or double-counted: {checks['ok']}"
        ),
    }


if __name__ == "__main__":
    from bench.run import main

    raise SystemExit(main(["messaging_webhook_ingest"]))
