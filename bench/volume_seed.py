"""Set-based seeding for the ``data_volume_10k`` scenario: churches, members, broadcasts, recipient rows,
conversations — INSERT … SELECT generate_series (COPY for the measured churches' members, whose phones
the pages decrypt). Every function works on a list of church ids, so the same rows can be written for
the two measured churches into a database of their own and, with 10,000 churches around them, into the
big one.

Shape (at scale 1): 10,000 churches, 2,000,000 members, every church sent ``MESSAGES`` broadcasts to all
its members (20,000,000 recipient rows: 98% delivered, 2% failed), one conversation per ten members with
two texts each. The measured churches: one of ``SMALL_MEMBERS`` members and one of 100,000 × scale."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from bench.messaging_support import seed_members

MESSAGES = 10  # broadcasts per church, each to every member: recipients = 10 × members
SMALL_MEMBERS = 50
FILLER_PREFIX = "bench-filler-"
CHUNK = 500  # churches per INSERT … SELECT: progress lines, and no single 20-million-row statement


@dataclass(frozen=True)
class Shape:
    scale: float
    churches: int
    members: int
    big_members: int

    @classmethod
    def at(cls, scale: float, big_members: int | None = None) -> Shape:
        churches = max(4, round(10_000 * scale))
        big = big_members or max(200, round(100_000 * scale))
        members = max(churches * 5 + big, round(2_000_000 * scale))
        return cls(scale=scale, churches=churches, members=members, big_members=big)

    @property
    def filler_churches(self) -> int:
        return self.churches - 2

    @property
    def members_per_filler(self) -> int:
        return max(1, (self.members - self.big_members - SMALL_MEMBERS) // self.filler_churches)

    @property
    def recipients(self) -> int:
        filler = self.filler_churches * self.members_per_filler
        return MESSAGES * (filler + self.big_members + SMALL_MEMBERS)


def _log(text: str) -> None:
    print(f"  [seed {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def measured_churches(big_members: int):
    """The two churches the pages are measured for (ORM: owner, plan, sender), members by COPY."""
    from bench.messaging_support import open_church

    small, small_owner = open_church("bench-volume-small", "Small Volume Church")
    big, big_owner = open_church("bench-volume-big", "Big Volume Church")
    seed_members(small, SMALL_MEMBERS)
    seed_members(big, big_members)
    return (small, small_owner), (big, big_owner)


def filler_churches(cursor, template_id: int, count: int) -> list[int]:
    """``count`` churches copied from the template row (every column but id, slug and name)."""
    from churches.models import Church

    columns = [f.column for f in Church._meta.concrete_fields if f.column not in ("id", "slug", "name")]
    listed = ", ".join(columns)
    cursor.execute(
        f"INSERT INTO churches_church (slug, name, {listed}) SELECT %s || i, 'Filler Church ' || i, {listed} "
        "FROM churches_church t CROSS JOIN generate_series(1, %s) i WHERE t.id = %s",
        [FILLER_PREFIX, count, template_id],
    )
    cursor.execute("SELECT id FROM churches_church WHERE slug LIKE %s ORDER BY id", [FILLER_PREFIX + "%"])
    return [row[0] for row in cursor.fetchall()]


def filler_members(cursor, church_ids: list[int], per_church: int, phone_ciphertext) -> None:
    """Members nobody displays: one shared ciphertext, a unique blind index per (church, n)."""
    for start in range(0, len(church_ids), CHUNK):
        chunk = church_ids[start : start + CHUNK]
        cursor.execute(
            "INSERT INTO churches_member (church_id, first_name, last_name, phone, phone_hash, email, "
            "email_local_hash, sms_status, timezone, created_at, updated_at) "
            "SELECT c, 'Member' || i, 'Filler', %s, substr(md5(c || '-' || i), 1, 32), '', '', 'subscribed', '', "
            "now() - make_interval(days => i %% 700), now() FROM unnest(%s::bigint[]) c CROSS JOIN "
            "generate_series(1, %s) i",
            [phone_ciphertext, chunk, per_church],
        )
        _log(f"members: {min(start + CHUNK, len(church_ids)):,}/{len(church_ids):,} churches")


def broadcasts(cursor, church_ids: list[int], phone_ciphertext, label: str) -> None:
    """``MESSAGES`` sent broadcasts per church (weekly), each to every member, with their recipient rows
    and the message counters the rows imply."""
    for start in range(0, len(church_ids), CHUNK):
        chunk = church_ids[start : start + CHUNK]
        cursor.execute(
            "INSERT INTO messaging_message (church_id, body, media_urls, audience, status, status_detail, encoding, "
            "segments, idempotency_key, recipient_count, queued_count, sent_count, delivered_count, failed_count, "
            "skipped_count, segments_sent, created_at, prepared_at, completed_at) "
            "SELECT c.c, 'Volume broadcast ' || n, '[]', '{\"all\": true}'::jsonb, 'sent', '', 'GSM-7', 1, '', "
            "c.members, 0, 0, c.members - c.members / 50, c.members / 50, 0, c.members, t, t, "
            "t + interval '10 minutes' "
            "FROM (SELECT u.c, (SELECT count(*) FROM churches_member m WHERE m.church_id = u.c) AS members "
            "FROM unnest(%s::bigint[]) u(c)) c CROSS JOIN generate_series(0, %s - 1) n "
            "CROSS JOIN LATERAL (SELECT now() - make_interval(days => 7 * n, hours => 2) AS t) s",
            [chunk, MESSAGES],
        )
        # 98% delivered, 2% failed (the message page lists failures); queued_at/sent_at = the send.
        cursor.execute(
            "INSERT INTO messaging_recipient (church_id, message_id, member_id, phone, status, provider_message_id, "
            "segments, error_code, error_reason, attempts, queued_at, sent_at) "
            "SELECT m.church_id, m.id, mem.id, %s, CASE WHEN mem.id %% 50 = 0 THEN 'failed' ELSE 'delivered' END, "
            "'', 1, CASE WHEN mem.id %% 50 = 0 THEN '30003' ELSE '' END, "
            "CASE WHEN mem.id %% 50 = 0 THEN 'Unreachable handset' ELSE '' END, 1, m.created_at, m.created_at "
            "FROM messaging_message m JOIN churches_member mem ON mem.church_id = m.church_id "
            "WHERE m.church_id = ANY(%s::bigint[])",
            [phone_ciphertext, chunk],
        )
        _log(f"broadcasts ({label}): {min(start + CHUNK, len(church_ids)):,}/{len(church_ids):,} churches")


def conversations(cursor, church_ids: list[int]) -> None:
    """One conversation per ten members (a fifth unread, a quarter closed), two texts each."""
    for start in range(0, len(church_ids), CHUNK):
        chunk = church_ids[start : start + CHUNK]
        cursor.execute(
            "INSERT INTO conversations_conversation (church_id, member_id, visitor_phone_hash, visitor_opted_out, "
            "status, restricted, unread_count, last_message_at, last_message_preview, last_message_direction, "
            "created_at) SELECT church_id, id, '', false, CASE WHEN id %% 4 = 0 THEN 'closed' ELSE 'open' END, "
            "false, CASE WHEN id %% 5 = 0 THEN 1 ELSE 0 END, now() - (id %% 129600) * interval '1 minute', "
            "'Thanks for the reminder, see you Sunday', 'inbound', now() FROM churches_member "
            "WHERE church_id = ANY(%s::bigint[]) AND id %% 10 = 0",
            [chunk],
        )
        cursor.execute(
            "INSERT INTO conversations_conversationmessage (church_id, conversation_id, direction, kind, body, media, "
            "consent_intent, provider, provider_message_id, dedupe_key, status, error_reason, created_at) "
            "SELECT c.church_id, c.id, 'inbound', 'text', c.last_message_preview, '[]', 'none', 'telnyx', "
            "'', '', 'received', '', c.last_message_at - k * interval '1 hour' "
            "FROM conversations_conversation c CROSS JOIN generate_series(0, 1) k "
            "WHERE c.church_id = ANY(%s::bigint[])",
            [chunk],
        )


def analyze(cursor) -> None:
    for table in ("churches_church", "churches_member", "messaging_message", "messaging_recipient",
                  "conversations_conversation", "conversations_conversationmessage"):  # fmt: skip
        cursor.execute(f"VACUUM ANALYZE {table}")


def seed(shape: Shape, *, with_filler: bool) -> dict:
    """The measured churches (and, ``with_filler``, every other church) into the current database.
    Returns seconds per step."""
    from django.db import connection

    from churches.crypto import encrypt

    timings: dict[str, float] = {}
    started = time.perf_counter()
    (small, _), (big, _) = measured_churches(shape.big_members)
    timings["measured_members_s"] = round(time.perf_counter() - started, 1)
    phone = encrypt("+13125550100")  # one ciphertext for rows nobody decrypts (filler members, recipients)
    # Autocommit, one statement at a time (each INSERT … SELECT commits on its own).
    connection.ensure_connection()
    with connection.cursor() as cursor:
        measured = [small.pk, big.pk]
        step = time.perf_counter()
        broadcasts(cursor, measured, phone, "measured")
        conversations(cursor, measured)
        timings["measured_rows_s"] = round(time.perf_counter() - step, 1)
        if with_filler:
            step = time.perf_counter()
            ids = filler_churches(cursor, small.pk, shape.filler_churches)
            timings["filler_churches_s"] = round(time.perf_counter() - step, 1)
            step = time.perf_counter()
            filler_members(cursor, ids, shape.members_per_filler, phone)
            timings["filler_members_s"] = round(time.perf_counter() - step, 1)
            step = time.perf_counter()
            broadcasts(cursor, ids, phone, "filler")
            timings["filler_recipients_s"] = round(time.perf_counter() - step, 1)
            step = time.perf_counter()
            conversations(cursor, ids)
            timings["filler_conversations_s"] = round(time.perf_counter() - step, 1)
        step = time.perf_counter()
        analyze(cursor)
        timings["vacuum_analyze_s"] = round(time.perf_counter() - step, 1)
    timings["total_s"] = round(time.perf_counter() - started, 1)
    return timings


def counts() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        found = {}
        for name, table in (("churches", "churches_church"), ("members", "churches_member"),
                            ("messages", "messaging_message"), ("recipients", "messaging_recipient"),
                            ("conversations", "conversations_conversation"),
                            ("conversation_messages", "conversations_conversationmessage")):  # fmt: skip
            cursor.execute(f"SELECT count(*) FROM {table}")
            found[name] = cursor.fetchone()[0]
    return found
