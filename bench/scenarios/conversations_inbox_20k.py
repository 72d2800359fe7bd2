"""The inbox on a church with 20,000 conversations: the list page with each filter and a search, the API
list and the live-update poll; p50/p95 and query counts, against the bare indexed SELECT of one page and
the truly minimal signed-in page (/bench-minimal/, bench/scenarios/_minimal_urls.py) measured in the same
run; the dashboard is one more case against it.

Conversations (one per member, with one inbound message each) are seeded set-based; about a fifth are
unread, a tenth assigned, one in fifty restricted, a quarter closed."""

import time

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse

from bench import messaging_support as support
from bench.scenarios._support import MINIMAL_PAGE_DEFINITION, MINIMAL_URLCONF, minimal_page, ms, timed

CONVERSATIONS = 20_000
REQUESTS = 30


def _seed(church, owner) -> float | None:
    from conversations.models import Conversation

    if Conversation.objects.filter(church=church).count() == CONVERSATIONS:
        return None  # seeded by an earlier run
    started = time.perf_counter()
    support.seed_members(church, CONVERSATIONS)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM conversations_consentreview WHERE church_id = %s", [church.pk])
        cursor.execute("DELETE FROM conversations_conversationmessage WHERE church_id = %s", [church.pk])
        cursor.execute("DELETE FROM conversations_conversation WHERE church_id = %s", [church.pk])
        # One conversation per member; the latest message spread over the last 90 days.
        cursor.execute(
            "INSERT INTO conversations_conversation (church_id, member_id, visitor_phone_hash, visitor_opted_out, "
            "status, assignee_id, restricted, unread_count, last_message_at, last_message_preview, "
            "last_message_direction, created_at) "
            "SELECT m.church_id, m.id, '', false, "
            "CASE WHEN m.id %% 4 = 0 THEN 'closed' ELSE 'open' END, "
            "CASE WHEN m.id %% 10 = 0 THEN %s END, m.id %% 50 = 0, "
            "CASE WHEN m.id %% 5 = 0 THEN 1 + m.id %% 3 ELSE 0 END, "
            "now() - (m.id %% 129600) * interval '1 minute', "
            "'Thanks for the reminder, see you Sunday ' || m.first_name, 'inbound', now() "
            "FROM churches_member m WHERE m.church_id = %s ORDER BY m.id LIMIT %s",
            [owner.pk, church.pk, CONVERSATIONS],
        )
        cursor.execute(
            "INSERT INTO conversations_conversationmessage (church_id, conversation_id, direction, kind, body, media, "
            "consent_intent, provider, provider_message_id, dedupe_key, status, error_reason, created_at) "
            "SELECT c.church_id, c.id, 'inbound', 'text', c.last_message_preview, '[]', 'none', 'telnyx', "
            "'bench-' || c.id, '', 'received', '', c.last_message_at "
            "FROM conversations_conversation c WHERE c.church_id = %s",
            [church.pk],
        )
        cursor.execute("ANALYZE conversations_conversation")
        cursor.execute("ANALYZE conversations_conversationmessage")
    return round(time.perf_counter() - started, 2)


def _bare_select(church) -> dict:
    sql = (
        "SELECT id, member_id, status, unread_count, last_message_at, last_message_preview "
        "FROM conversations_conversation WHERE church_id = %s AND status = 'open' "
        "ORDER BY last_message_at DESC LIMIT 51"
    )
    with connection.cursor() as cursor:
        for _ in range(3):
            cursor.execute(sql, [church.pk])
            cursor.fetchall()

        def once():
            cursor.execute(sql, [church.pk])
            cursor.fetchall()

        return ms(timed(once, REQUESTS * 3))


def run() -> dict:
    with override_settings(ROOT_URLCONF=MINIMAL_URLCONF):
        return _run()


def _run() -> dict:
    church, owner = support.open_church("bench-inbox", "Inbox Bench Church")
    seeded_s = _seed(church, owner)
    client = Client()
    client.force_login(owner)
    session = client.session
    session["current_church_id"] = church.pk
    session.save()

    from churches.models import Member

    sample = Member.objects.filter(church=church).order_by("pk")[CONVERSATIONS // 2]
    inbox = reverse("conversations_home")
    cases = {
        "inbox open": (inbox, {"filter": "open"}),
        "inbox mine": (inbox, {"filter": "mine"}),
        "inbox unassigned": (inbox, {"filter": "unassigned"}),
        "inbox restricted": (inbox, {"filter": "restricted"}),
        "inbox all": (inbox, {"filter": "all"}),
        "inbox search name": (inbox, {"filter": "all", "q": sample.first_name}),
        "inbox search phone": (inbox, {"filter": "all", "q": sample.phone}),
        "inbox list fragment (live)": (inbox, {"filter": "open", "fragment": "list"}),
        "poll (live updates)": (reverse("conversations_poll"), {}),
        "API list open": ("/api/v1/conversations", {"filter": "open"}),
        "dashboard": (reverse("dashboard"), {}),
    }
    floor = _bare_select(church)
    minimal = minimal_page(client, REQUESTS)
    rows = []
    for name, (url, params) in cases.items():
        for _ in range(2):
            assert client.get(url, params).status_code == 200, name  # warm up
        with CaptureQueriesContext(connection) as queries:
            client.get(url, params)
        query_count = len(queries)  # now: the captured list is a view of a log later requests reset
        stats = ms(timed(lambda url=url, params=params: client.get(url, params), REQUESTS))
        rows.append(
            {
                "case": name,
                **stats,
                "queries": query_count,
                "x_bare_select": round(stats["p50_ms"] / floor["p50_ms"], 1),
                "x_minimal_page": round(stats["p50_ms"] / minimal["p50_ms"], 2),
            }
        )
    worst = max(rows, key=lambda row: row["p95_ms"])
    return {
        "rows": rows,
        "conversations": CONVERSATIONS,
        "requests_per_case": REQUESTS,
        "seed_seconds": seeded_s,
        "bare_select": floor,
        "minimal_page": minimal,
        "ratio_definition": (
            "x_bare_select = p50 / p50 of the bare indexed SELECT of one page of 51 open conversations (raw SQL, "
            "ORDER BY last_message_at DESC). " + MINIMAL_PAGE_DEFINITION + "."
        ),
        "summary": (
            f"Inbox on {CONVERSATIONS:,} conversations: worst case {worst['case']} p95 {worst['p95_ms']} ms "
            f"({worst['queries']} queries); bare SELECT p50 {floor['p50_ms']} ms, "
            f"minimal signed-in page p50 {minimal['p50_ms']} ms ({minimal['queries']} queries)."
        ),
    }


if __name__ == "__main__":
    from bench.run import main

    raise SystemExit(main(["conversations_inbox_20k"]))
