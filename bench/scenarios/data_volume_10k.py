"""Data volume: the pages of a small and a 100,000-member church among 10,000 churches (2,000,000 members,
20,000,000 recipient rows) against the same churches in a database of their own; p95 and query counts.

Two databases of its own (never the runner's): ``BENCH_VOLUME_DATABASE`` (default
``koinonia_bench_volume``) holds every church; ``<that>_alone`` holds only the two measured churches,
seeded with the same rows (bench/volume_seed.py). Both are created and migrated when missing and seeded
once per scale (a marker table remembers it). ``BENCH_VOLUME_SCALE`` (default 1) scales churches,
members, recipients and the big church together (``BENCH_VOLUME_BIG_MEMBERS`` sets the big church's
size on its own): 0.001 is a smoke run.

Measured per church and database, ``BENCH_VOLUME_REQUESTS`` (default 30) times after a warm-up, in
interleaved rounds (every page of both churches in both databases per round, so both sides of a ratio
see the same load on a shared machine): member list, message list, message detail (the newest
broadcast), dashboard, inbox, API member list. Goal:
p95(all churches) / p95(alone) ≤ 1.3 and identical query counts. The plans of each page's SELECTs on the
big database (``EXPLAIN``) name the relations and indexes scanned — partitions, once recipients are
partitioned, show there as the pruned-to child tables."""

import json
import os
import time

from django.core.cache import cache
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bench import volume_seed
from bench.scenarios._support import ms

GOAL_RATIO = 1.3


def _scale() -> float:
    return float(os.environ.get("BENCH_VOLUME_SCALE", "1"))


def _requests() -> int:
    return int(os.environ.get("BENCH_VOLUME_REQUESTS", "30"))


def use_database(name: str) -> None:
    """Point Django's default connection at ``name`` (created and migrated if missing)."""
    import psycopg
    from django.contrib.contenttypes.models import ContentType
    from django.core.management import call_command

    settings_dict = connections["default"].settings_dict
    admin = psycopg.connect(
        host=settings_dict["HOST"] or "127.0.0.1",
        port=settings_dict["PORT"] or 5432,
        user=settings_dict["USER"] or "postgres",
        password=settings_dict["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )
    with admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')  # our own configured name
    connections["default"].close()
    settings_dict["NAME"] = name
    ContentType.objects.clear_cache()
    cache.clear()  # cached rows (sessions, church lookups) name the other database's ids
    call_command("migrate", verbosity=0, interactive=False)


def _seeded(shape: volume_seed.Shape, *, with_filler: bool) -> dict | None:
    """Seed once per scale; the marker table (the bench database's own, not a model) remembers it."""
    marker = f"{shape.scale}/{shape.big_members}"
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_volume_seed (scale text PRIMARY KEY, timings jsonb)")
        cursor.execute("SELECT timings FROM bench_volume_seed WHERE scale = %s", [marker])
        row = cursor.fetchone()
    if row:
        return None
    from churches.models import Church

    if Church.objects.exists():
        raise SystemExit(
            f"{connection.settings_dict['NAME']} holds rows from another scale: drop it (dropdb) and run again."
        )
    timings = volume_seed.seed(shape, with_filler=with_filler)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_volume_seed VALUES (%s, %s)", [marker, json.dumps(timings)])
    return timings


def _client_for(church, owner) -> Client:
    client = Client()
    client.force_login(owner)
    session = client.session
    session["current_church_id"] = church.pk
    session.save()
    return client


def _cases(church) -> dict[str, str]:
    from messaging.models import Message

    newest = Message.objects.for_church(church).order_by("-created_at", "-pk").first()
    return {
        "member list": reverse("members_home"),
        "message list": reverse("messaging_home"),
        "message detail": reverse("message_detail", args=[newest.pk]),
        "dashboard": reverse("dashboard"),
        "inbox": reverse("conversations_home"),
        "API member list": "/api/v1/members",
    }


def _relations(queries: list[dict]) -> list[str]:
    """Relations and indexes the plans of the page's SELECTs scan (EXPLAIN, not ANALYZE: no side effects)."""
    found: set[str] = set()
    with connection.cursor() as cursor:
        for query in queries:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
            stack = [cursor.fetchone()[0][0]["Plan"]]
            while stack:
                node = stack.pop()
                if "Relation Name" in node:
                    index = f" via {node['Index Name']}" if "Index Name" in node else ""
                    found.add(f"{node['Node Type']} {node['Relation Name']}{index}")
                stack.extend(node.get("Plans", []))
    return sorted(found)


def measure(church, owner, *, requests: int, explain: bool) -> dict[str, dict]:
    """One church's pages in the current database (the smoke test's entry)."""
    pages = _Pages(church, owner)
    for _ in range(requests):
        pages.round()
    return pages.results(explain=explain)


class _Pages:
    """A signed-in client and its pages; each ``round`` requests every page once, timed and counted."""

    def __init__(self, church, owner):
        self.client = _client_for(church, owner)
        self.cases = _cases(church)
        self.samples: dict[str, list[float]] = {name: [] for name in self.cases}
        self.counts: dict[str, list[int]] = {name: [] for name in self.cases}
        self.last_queries: dict[str, list[dict]] = {}
        for name, url in self.cases.items():
            for _ in range(3):
                response = self.client.get(url)
                assert response.status_code == 200, (name, response.status_code)  # warm up

    def round(self) -> None:
        for name, url in self.cases.items():
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                self.client.get(url)
                self.samples[name].append(time.perf_counter() - started)
            self.last_queries[name] = list(captured.captured_queries)  # copied: the next request resets it
            self.counts[name].append(len(self.last_queries[name]))

    def results(self, *, explain: bool) -> dict[str, dict]:
        found = {}
        for name, counts in self.counts.items():
            found[name] = {
                **ms(self.samples[name]),
                # The usual count (a throttled write, e.g. a session touch, adds one now and then).
                "queries": max(set(counts), key=counts.count),
                "query_counts_seen": sorted(set(counts)),
                **({"plan_relations": _relations(self.last_queries[name])} if explain else {}),
            }
        return found


def _measured_churches():
    from churches.models import Church, StaffMembership

    found = []
    for slug in ("bench-volume-small", "bench-volume-big"):
        church = Church.objects.get(slug=slug)
        owner = StaffMembership.objects.for_church(church).select_related("user").first().user
        found.append((church, owner))
    return found


def run() -> dict:
    big = os.environ.get("BENCH_VOLUME_BIG_MEMBERS")
    shape = volume_seed.Shape.at(_scale(), int(big) if big else None)
    requests = _requests()
    big_name = os.environ.get("BENCH_VOLUME_DATABASE", "koinonia_bench_volume")
    databases = {"alone": f"{big_name}_alone", "all": big_name}
    original = connections["default"].settings_dict["NAME"]
    seeding: dict[str, dict | None] = {}
    rows_in: dict[str, dict] = {}
    pages: dict[str, _Pages] = {}
    try:
        for key, database in databases.items():
            use_database(database)
            seeding[database] = _seeded(shape, with_filler=key == "all")
            rows_in[database] = volume_seed.counts()
        # Interleaved: each round requests every page of both churches in both databases, so the two
        # sides of a ratio see the same machine load (this box is shared).
        for key, database in databases.items():
            _switch(database)
            for church, owner in _measured_churches():
                pages[f"{key}:{church.slug}"] = _Pages(church, owner)
        for _ in range(requests):
            for key, database in databases.items():
                _switch(database)
                for name, page in pages.items():
                    if name.startswith(key + ":"):
                        page.round()
        measured = {}
        for key, database in databases.items():
            _switch(database)
            for name, page in pages.items():
                if name.startswith(key + ":"):
                    measured[name] = page.results(explain=key == "all")
    finally:
        connections["default"].close()
        connections["default"].settings_dict["NAME"] = original
        cache.clear()
    return _report(shape, requests, measured, seeding, rows_in, big_name)


def _switch(name: str) -> None:
    """Point the default connection at another (migrated) bench database, connected before timing."""
    from django.contrib.contenttypes.models import ContentType

    connections["default"].close()
    connections["default"].settings_dict["NAME"] = name
    ContentType.objects.clear_cache()
    connection.ensure_connection()


def _report(shape, requests, measured, seeding, rows_in, big_name) -> dict:
    rows, plans = [], {}
    for slug, label in (("bench-volume-small", "small"), ("bench-volume-big", "big")):
        alone, among = measured[f"alone:{slug}"], measured[f"all:{slug}"]
        for case, stats in among.items():
            base = alone[case]
            rows.append(
                {
                    "church": label,
                    "case": case,
                    "p95_ms_all": stats["p95_ms"],
                    "p95_ms_alone": base["p95_ms"],
                    "ratio_p95": round(stats["p95_ms"] / base["p95_ms"], 2),
                    "p50_ms_all": stats["p50_ms"],
                    "p50_ms_alone": base["p50_ms"],
                    "queries_all": stats["queries"],
                    "queries_alone": base["queries"],
                    "counts_seen_all": stats["query_counts_seen"],
                    "counts_seen_alone": base["query_counts_seen"],
                }
            )
            plans[f"{label}: {case}"] = stats["plan_relations"]
    worst = max(rows, key=lambda row: row["ratio_p95"])
    same_queries = all(row["queries_all"] == row["queries_alone"] for row in rows)
    met = worst["ratio_p95"] <= GOAL_RATIO and same_queries
    big_rows = rows_in[big_name]
    return {
        "rows": rows,
        "scale": shape.scale,
        "shape": {
            "churches": shape.churches,
            "members": shape.members,
            "big_church_members": shape.big_members,
            "small_church_members": volume_seed.SMALL_MEMBERS,
            "broadcasts_per_church": volume_seed.MESSAGES,
        },
        "rows_in_databases": rows_in,
        "seed_seconds": seeding,
        "requests_per_case": requests,
        "goal": f"p95 ratio <= {GOAL_RATIO} and identical query counts",
        "goal_met": met,
        "plan_relations_all_churches": plans,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "ratio_definition": (
            "ratio_p95 = p95 of the page for the church among every church / p95 of the same page for the "
            "same church (same rows) in a database holding only the two measured churches, same run, same client."
        ),
        "summary": (
            f"{big_rows['churches']:,} churches, {big_rows['members']:,} members, {big_rows['recipients']:,} "
            f"recipient rows: worst ratio {worst['ratio_p95']} ({worst['church']} church, {worst['case']}: "
            f"{worst['p95_ms_all']} ms vs {worst['p95_ms_alone']} ms alone); query counts "
            f"{'identical' if same_queries else 'DIFFER'}; goal {'met' if met else 'NOT met'}."
        ),
    }


if __name__ == "__main__":
    from bench.run import main

    raise SystemExit(main(["data_volume_10k"]))
