"""Analytics page and API on a church with 1,000,000 recipient rows over 90 days: p95 against a minimal
signed-in page and a bare SELECT of the rollup measured in the same run; the rollup's own cost.

Seeded set-based (INSERT … SELECT generate_series): 3 branches, 20,000 members (a fifth joined in the
last 90 days), 360 broadcasts (4 a day, every 4th to one branch) with 2,778 recipients each — 90%
delivered, 6% sent without a report, 4% failed over four reasons —, their counters set from the rows in
one UPDATE, an opt-out or opt-in a day per 400 members, and 40 inbound texts a day. Then
``analytics_backfill`` over 90 days (timed), and the beat's refresh (today and yesterday, timed)."""

import os
import time

from django.test import Client
from django.test.utils import override_settings

from bench.scenarios._support import bench_church, ms, raw_cursor, timed

DAYS = 90
PER_DAY = 4
PER_MESSAGE = 2_778  # 360 broadcasts x 2,778 = 1,000,080 recipient rows
MEMBERS = 20_000
REQUESTS = 40
REASONS = ["Carrier filtered the message", "Unreachable handset", "Landline or invalid number", "Opted out at carrier"]


def run() -> dict:
    from analytics import services
    from analytics.models import DailyStat
    from churches.models import Branch

    church, owner = bench_church("bench-analytics", "Bench Analytics Church")
    seeded_s = _seed(church)
    started = time.perf_counter()
    services.daily_stats_backfill(church=church, days=DAYS)
    backfill_s = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    services.daily_stats_refresh(church=church, days=_today_and_yesterday(church))
    refresh_s = round(time.perf_counter() - started, 3)
    rollup_rows = DailyStat.objects.for_church(church).count()
    branch = Branch.objects.for_church(church).order_by("pk").first()

    client = Client()
    client.force_login(owner)
    session = client.session
    session["current_church_id"] = church.pk
    session.save()
    cases = {
        "page 90 days": "/analytics/?days=90",
        "page 30 days (default)": "/analytics/",
        "page 90 days, one branch": f"/analytics/?days=90&branch={branch.pk}",
        "API 90 days": "/api/v1/analytics?days=90",
        "API 90 days, one branch": f"/api/v1/analytics?days=90&branch_id={branch.pk}",
    }
    rows = []
    load_before = os.getloadavg()
    with override_settings(ROOT_URLCONF="bench.scenarios._minimal_urls"):
        floor = _bare_select(church)
        minimal = _measure(client, "/bench-minimal/")
        for name, url in cases.items():
            stats = _measure(client, url)
            rows.append(
                {
                    "case": name,
                    **stats,
                    "x_bare_select": round(stats["p50_ms"] / floor["p50_ms"], 1),
                    "x_minimal_page": round(stats["p50_ms"] / minimal["p50_ms"], 2),
                }
            )
    load_after = os.getloadavg()
    worst = max(rows, key=lambda row: row["p95_ms"])
    goal_ms = 60
    return {
        "rows": rows,
        "recipients": DAYS * PER_DAY * PER_MESSAGE,
        "broadcasts": DAYS * PER_DAY,
        "members": MEMBERS,
        "rollup_rows": rollup_rows,
        "requests_per_case": REQUESTS,
        "seed_seconds": seeded_s,
        "backfill_90_days_seconds": backfill_s,
        "refresh_today_and_yesterday_seconds": refresh_s,
        "bare_select": floor,
        "minimal_page": minimal,
        "machine_load": {
            "loadavg_1_5_15_before": [round(x, 2) for x in load_before],
            "loadavg_1_5_15_after": [round(x, 2) for x in load_after],
            "cpus": os.cpu_count(),
            "note": "The machine is shared with other work: a 1-minute load near or above the core count means "
            "requests waited for a core; ratios (same run) are the comparable figures.",
        },
        "goal_p95_ms": goal_ms,
        "goal_met": worst["p95_ms"] <= goal_ms,
        "ratio_definition": (
            "x_bare_select = p50 / p50 of the bare indexed SELECT of the rollup rows the page reads (raw SQL: "
            "90 DailyStat rows of one church and scope). x_minimal_page = p50 / p50 of a ChurchPageMixin page "
            "answering 'ok' (session, sign-in, church resolution, role check; no template, no query of its own) "
            "through the same client. cpu_ms = process CPU per request (client and server share the process)."
        ),
        "summary": (
            f"Analytics over {DAYS * PER_DAY * PER_MESSAGE:,} recipients: worst {worst['case']} p95 "
            f"{worst['p95_ms']} ms (goal {goal_ms} ms: {'met' if worst['p95_ms'] <= goal_ms else 'NOT met'}); "
            f"minimal page p50 {minimal['p50_ms']} ms, bare SELECT p50 {floor['p50_ms']} ms; backfill of 90 days "
            f"{backfill_s} s, beat refresh {refresh_s} s; load {load_before[0]:.2f}->{load_after[0]:.2f} "
            f"on {os.cpu_count()} cores."
        ),
    }


def _measure(client, url: str) -> dict:
    for _ in range(3):
        assert client.get(url).status_code == 200, url  # warm up
    cpu = time.process_time()
    stats = ms(timed(lambda: client.get(url), REQUESTS))
    stats["cpu_ms"] = round((time.process_time() - cpu) / REQUESTS * 1000, 2)
    return stats


def _today_and_yesterday(church):
    import datetime as dt

    from analytics.services import local_today

    today = local_today(church)
    return [today, today - dt.timedelta(days=1)]


def _seed(church) -> float | None:
    from churches.crypto import encrypt
    from churches.models import Branch
    from conversations.models import ConversationMessage
    from messaging.broadcasts.models import Recipient

    if Recipient.objects.for_church(church).count() == DAYS * PER_DAY * PER_MESSAGE and (
        ConversationMessage.objects.for_church(church).count() == 4_000  # the last table seeded
    ):
        return None  # seeded by an earlier run (the dates move with it: the last day is the seeding day)
    started = time.perf_counter()
    cursor = raw_cursor()
    tables = ("analytics_dailystat", "messaging_recipient", "messaging_message", "conversations_conversationmessage",
              "conversations_conversation", "churches_consentevent", "churches_member")  # fmt: skip
    for table in tables:
        cursor.execute(f"DELETE FROM {table} WHERE church_id = %s", [church.pk])
    Branch.objects.for_church(church).delete()
    branches = [Branch.objects.create(church=church, name=name).pk for name in ("Downtown", "Northside", "West")]
    phone = encrypt("+13125550100")  # every row the same ciphertext: the rollup never reads phones
    # Members: a fifth joined in the last 90 days; three in four have a branch.
    cursor.execute(
        "INSERT INTO churches_member (church_id, first_name, last_name, phone, phone_hash, email, email_local_hash, "
        "branch_id, sms_status, timezone, created_at, updated_at) "
        "SELECT %s, 'Member', 'No ' || i, %s, substr(md5('bench-analytics-' || i), 1, 32), '', '', "
        "(ARRAY[%s, %s, %s, NULL]::bigint[])[1 + i %% 4], 'subscribed', 'America/Chicago', "
        "now() - make_interval(mins => CASE WHEN i %% 5 = 0 THEN (i * 7) %% (%s * 1440) ELSE %s * 1440 + i END), "
        "now() FROM generate_series(1, %s) i",
        [church.pk, phone, *branches, DAYS, DAYS, MEMBERS],
    )
    # Broadcasts: 4 a day, the day's first at 9:00 in Chicago, every 4th to one branch.
    cursor.execute(
        "INSERT INTO messaging_message (church_id, body, media_urls, audience, status, status_detail, encoding, "
        "segments, idempotency_key, recipient_count, queued_count, sent_count, delivered_count, failed_count, "
        "skipped_count, segments_sent, created_at, prepared_at, completed_at) "
        "SELECT %s, 'Bench broadcast ' || n, '[]', CASE WHEN n %% 4 = 0 THEN jsonb_build_object('branch_ids', "
        "jsonb_build_array(%s::bigint)) ELSE '{\"all\": true}'::jsonb END, 'sent', '', 'GSM-7', 1, '', %s, 0, 0, 0, "
        "0, 0, %s, t, t, t + interval '10 minutes' "
        "FROM (SELECT n, date_trunc('day', now() AT TIME ZONE 'America/Chicago') AT TIME ZONE 'America/Chicago' "
        "- make_interval(days => n / %s) + make_interval(hours => 9 + (n %% %s) * 3) AS t "
        "FROM generate_series(0, %s - 1) n) s",
        [church.pk, branches[0], PER_MESSAGE, PER_MESSAGE, PER_DAY, PER_DAY, DAYS * PER_DAY],
    )
    # Recipients: 90% delivered, 6% sent, 4% failed over four reasons.
    cursor.execute(
        "INSERT INTO messaging_recipient (church_id, message_id, member_id, phone, status, provider_message_id, "
        "segments, error_code, error_reason, attempts, queued_at, sent_at) "
        "SELECT m.church_id, m.id, i, %s, CASE WHEN i %% 50 < 45 THEN 'delivered' WHEN i %% 50 < 48 THEN 'sent' "
        "ELSE 'failed' END, '', 1, CASE WHEN i %% 50 >= 48 THEN (30003 + (i / 50) %% 4)::text ELSE '' END, "
        "CASE WHEN i %% 50 >= 48 THEN (%s::text[])[1 + (i / 50) %% 4] ELSE '' END, 1, m.created_at, m.created_at "
        "FROM messaging_message m CROSS JOIN generate_series(1, %s) i WHERE m.church_id = %s",
        [phone, REASONS, PER_MESSAGE, church.pk],
    )
    cursor.execute(
        "UPDATE messaging_message m SET sent_count = c.sent, delivered_count = c.delivered, failed_count = c.failed "
        "FROM (SELECT message_id, count(*) FILTER (WHERE status = 'sent') sent, count(*) FILTER (WHERE status = "
        "'delivered') delivered, count(*) FILTER (WHERE status = 'failed') failed FROM messaging_recipient "
        "WHERE church_id = %s GROUP BY message_id) c WHERE m.id = c.message_id",
        [church.pk],
    )
    # Consent: about 50 changes a day (mostly opt-outs); 40 inbound texts a day in 2,000 conversations.
    cursor.execute(
        "INSERT INTO churches_consentevent (church_id, member_id, kind, source, raw_text, created_at) "
        "SELECT church_id, id, CASE WHEN id %% 3 = 0 THEN 'opt_in' ELSE 'opt_out' END, 'keyword', 'STOP', "
        "now() - make_interval(mins => ((id * 13) %% (%s * 1440))::int) FROM churches_member WHERE church_id = %s "
        "AND id %% 4 = 0",
        [DAYS, church.pk],
    )
    cursor.execute(
        "INSERT INTO conversations_conversation (church_id, member_id, visitor_phone_hash, visitor_opted_out, "
        "status, restricted, unread_count, last_message_at, last_message_preview, last_message_direction, "
        "created_at) SELECT church_id, id, '', false, 'open', false, 0, now(), 'Thanks', 'inbound', now() "
        "FROM churches_member WHERE church_id = %s ORDER BY id LIMIT 2000",
        [church.pk],
    )
    cursor.execute(
        "INSERT INTO conversations_conversationmessage (church_id, conversation_id, direction, kind, body, media, "
        "consent_intent, provider, provider_message_id, dedupe_key, status, error_reason, created_at) "
        "SELECT c.church_id, c.id, 'inbound', 'text', 'Thanks', '[]', '', 'telnyx', '', '', 'received', '', "
        "now() - make_interval(mins => ((c.id * 31 + k * 997) %% (%s * 1440))::int) "
        "FROM conversations_conversation c CROSS JOIN generate_series(1, 2) k WHERE c.church_id = %s",
        [DAYS, church.pk],
    )
    for table in ("churches_member", "messaging_message", "messaging_recipient", "churches_consentevent",
                  "conversations_conversationmessage"):  # fmt: skip
        cursor.execute(f"ANALYZE {table}")
    return round(time.perf_counter() - started, 2)


def _bare_select(church) -> dict:
    cursor = raw_cursor()
    sql = (
        "SELECT * FROM analytics_dailystat WHERE church_id = %s AND branch_key = 0 AND day >= current_date - 89 "
        "ORDER BY day"
    )
    for _ in range(3):
        cursor.execute(sql, [church.pk]).fetchall()
    return ms(timed(lambda: cursor.execute(sql, [church.pk]).fetchall(), REQUESTS * 3))
