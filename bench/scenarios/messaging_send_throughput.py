"""Send throughput: real Celery workers sending a broadcast through the fake Telnyx (100 ms latency) under a
200 msg/s provider limit (achieved / allowed), then with no limits (the ceiling, and what bounds it).

Production shape: one worker process (``celery worker -Q sends,webhooks,default``, prefork, 2 children),
base settings (SEND_CONCURRENCY 32 threads per send task, SEND_PARALLELISM 2 tasks per broadcast,
SEND_BATCH_SIZE recipients per fair turn), the Redis token buckets set to the provider's limit
(SMS_RATE_ACCOUNT/SENDER).
The broadcast goes in through ``message_send`` (prepare task published to Redis); the fake, in a process
of its own, records the time and status of every answer. Sustained rate = accepted sends per second
from 2 s after the first to 0.5 s before the last (ramp-up, initial bursts and tail excluded).
"""

import os
import time

from bench import messaging_support as support

LATENCY = 0.1
RATE = 200.0
LIMITED_RECIPIENTS = 3000
CEILING_RECIPIENTS = 6000
TARGET = 0.95
SENDER = "+15550100002"


def _setup():
    church, owner = support.open_church("bench-send", "Send Bench Church")
    support.seed_members(church, CEILING_RECIPIENTS)
    sender = support.sender_for(church, SENDER)
    support.delete_messages(church)
    from churches.models import Member

    ids = list(Member.objects.filter(church=church).order_by("id").values_list("id", flat=True))
    return church, owner, sender, ids


def _broadcast(church, owner, member_ids: list[int]):
    from messaging.broadcasts import services

    with support.tasks_to_broker():
        return services.message_send(
            church=church,
            author=owner,
            body="Hi {first_name}, the food drive starts Saturday at 9.",
            audience={"member_ids": member_ids},
            idempotency_key=support.unique_key("bench-send"),
        )


def _phase(church, owner, member_ids, *, fake_rate, our_rate, extra_env=None) -> dict:
    from messaging.models import Message, Recipient

    count = len(member_ids)
    fake = support.FakeTelnyxProcess(latency=LATENCY, rate=fake_rate).start()
    workers = None
    try:
        env = support.app_env(
            **fake.env(), SMS_RATE_ACCOUNT=str(our_rate), SMS_RATE_SENDER=str(our_rate), **(extra_env or {})
        )
        support.purge_queues()
        support.reset_rate_limits(SENDER)
        workers = support.Workers(env, processes=1, concurrency=2).start()
        # Warm-up: a one-recipient broadcast proves the worker is consuming (and is not measured).
        warmup = _broadcast(church, owner, member_ids[:1])
        support.wait_for(lambda: support.finished_count(warmup.pk) >= 1, timeout=120, interval=0.1, what="warm-up")
        support.reset_rate_limits(SENDER)
        time.sleep(1.5)  # the provider's bucket refills too: both limiters start full
        warm_answers = len(fake.stats()["answers"])

        meter = support.CpuMeter(
            {
                "workers": workers.pids,
                "fake_provider": [fake.pid],
                "postgres": support.database_backends,
                "redis": "redis-server",
                "bench_process": lambda: [os.getpid()],  # alone: the fake and the workers are its children
            }
        ).start()
        started_wall = time.time()
        started = time.perf_counter()
        message = _broadcast(church, owner, member_ids)
        accepted_s = time.perf_counter() - started
        done_at = support.wait_for(
            lambda: support.finished_count(message.pk) >= count,
            timeout=count / min(fake_rate or 400, 400) * 4 + 60,
            interval=0.05,
            what=f"{count} sends",
        )
        cpu = meter.stop()
        answers = fake.stats()["answers"][warm_answers:]
    finally:
        if workers is not None:
            workers.stop()
        fake.stop()
        support.purge_queues()

    message = Message.objects.get(pk=message.pk)
    ok_times = [t for t, status in answers if status == 200 and t >= started_wall]
    statuses: dict[str, int] = {}
    for _, status in answers:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    sustained, window = support.steady_rate(ok_times)
    total_s = done_at - started
    first_send_s = (min(ok_times) - started_wall) if ok_times else None
    retried = Recipient.objects.filter(message=message, attempts__gt=1).count()
    return {
        "recipients": count,
        "provider_limit_per_s": fake_rate,
        "our_limit_per_s": our_rate,
        "sustained_per_s": round(sustained, 1),
        "steady_window_s": round(window, 2),
        "end_to_end_s": round(total_s, 2),
        "end_to_end_per_s": round(count / total_s, 1),
        "post_to_first_send_s": round(first_send_s, 3) if first_send_s is not None else None,
        "message_send_s": round(accepted_s, 4),
        "provider_answers": statuses,
        "recipients_retried": retried,
        "counts": message.counts,
        # CPU per send (cores x seconds / sends): steadier than rates on a shared machine.
        "cpu_ms_per_send": {
            name.removesuffix("_cores"): round(cores * total_s / count * 1000, 3)
            for name, cores in cpu.items()
            if name.endswith("_cores") and name not in ("machine_cores", "machine_busy_cores", "bench_process_cores")
        },
        "accepted_per_second": support.per_second(ok_times),
        "cpu": cpu,
    }


def run() -> dict:
    from django.conf import settings as django_settings

    load_at_start = os.getloadavg()
    church, owner, _sender, ids = _setup()
    limited = _phase(church, owner, ids[:LIMITED_RECIPIENTS], fake_rate=RATE, our_rate=RATE)
    ceiling = _phase(church, owner, ids[:CEILING_RECIPIENTS], fake_rate=None, our_rate=1_000_000)
    support.delete_messages(church)

    concurrency, parallelism = 32, 2  # base settings (not overridden here)
    in_flight_bound = concurrency * parallelism / LATENCY
    ratio = limited["sustained_per_s"] / RATE
    targets = {
        "sustained_over_limit": {"value": round(ratio, 3), "target": f">= {TARGET}", "pass": ratio >= TARGET},
        "nothing_lost": {
            "value": limited["counts"]["sent"] + ceiling["counts"]["sent"],
            "target": LIMITED_RECIPIENTS + CEILING_RECIPIENTS,
            "pass": limited["counts"]["sent"] == LIMITED_RECIPIENTS and ceiling["counts"]["sent"] == CEILING_RECIPIENTS,
        },
    }
    rows = [
        {
            "phase": name,
            "recipients": phase["recipients"],
            "limit": phase["provider_limit_per_s"] or "none",
            "sustained/s": phase["sustained_per_s"],
            "end_to_end/s": phase["end_to_end_per_s"],
            "429s": phase["provider_answers"].get("429", 0),
            "retried": phase["recipients_retried"],
            "workers_cores": phase["cpu"]["workers_cores"],
            "worker_cpu_ms/send": phase["cpu_ms_per_send"]["workers"],
            "fake_cores": phase["cpu"]["fake_provider_cores"],
            "pg_cores": phase["cpu"]["postgres_cores"],
            "machine_busy": phase["cpu"]["machine_busy_cores"],
        }
        for name, phase in (("limited 200/s", limited), ("no limits (ceiling)", ceiling))
    ]
    rows += [
        {"phase": f"target {n}", "sustained/s": t["value"], "limit": t["target"], "retried": t["pass"]}
        for n, t in targets.items()
    ]
    return {
        "parameters": {
            "provider_latency_s": LATENCY,
            "provider_limit_per_s": RATE,
            "our_limits": "SMS_RATE_ACCOUNT = SMS_RATE_SENDER = provider limit (Redis token buckets)",
            "workers": "1 celery worker, prefork concurrency 2, queues sends,webhooks,default",
            "settings": (
                f"koinonia.settings.base: SEND_CONCURRENCY {django_settings.SEND_CONCURRENCY}, "
                f"SEND_PARALLELISM {django_settings.SEND_PARALLELISM}, "
                f"SEND_BATCH_SIZE {django_settings.SEND_BATCH_SIZE}, "
                f"SMS_RATE_PRIORITY_SHARE {django_settings.SMS_RATE_PRIORITY_SHARE} (lent while no reply is sent)"
            ),
            "in_flight_bound_per_s": in_flight_bound,
            "status_callbacks": "off in the fake (this scenario measures sending)",
            "load_average_at_start": [round(v, 1) for v in load_at_start],
        },
        "measurements": {"limited": limited, "ceiling": ceiling},
        "ratios": {
            "achieved_over_allowed": round(ratio, 3),
            "ceiling_over_in_flight_bound": round(ceiling["sustained_per_s"] / in_flight_bound, 3),
        },
        "targets": targets,
        "passed": all(t["pass"] for t in targets.values()),
        "rows": rows,
        "summary": (
            f"limited: {limited['sustained_per_s']:.1f}/s of {RATE:.0f}/s allowed "
            f"(ratio {ratio:.3f}, target ≥ {TARGET}); "
            f"ceiling with no limits: {ceiling['sustained_per_s']:.1f}/s "
            f"(in-flight bound {in_flight_bound:.0f}/s; machine busy {ceiling['cpu']['machine_busy_cores']} of "
            f"{ceiling['cpu']['machine_cores']} cores)"
        ),
    }


if __name__ == "__main__":
    from bench.run import main

    raise SystemExit(main(["messaging_send_throughput"]))
