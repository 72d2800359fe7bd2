"""Member list page on a church with 100,000 members: default sort, search, filters, deep page."""

import random
import time
from datetime import timedelta

from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse
from django.utils import timezone

from bench.scenarios._support import (
    MINIMAL_PAGE_DEFINITION,
    MINIMAL_URLCONF,
    bench_church,
    minimal_page,
    ms,
    raw_cursor,
    timed,
)

MEMBERS = 100_000
REQUESTS = 30
FIRST = ["Mary", "John", "Grace", "Samuel", "Ruth", "David", "Esther", "Paul", "Lydia", "Peter", "Anna", "Mark",
         "Joy", "Levi", "Naomi", "Caleb", "Miriam", "Jonah", "Tabitha", "Isaac"]  # fmt: skip
LAST = ["Smith", "Johnson", "Okafor", "Nguyen", "Garcia", "Kim", "Brown", "ONeil", "Muller", "Taylor", "Lee",
        "Adams", "Baker", "Clark", "Diaz", "Evans", "Fisher", "Gray", "Hughes", "Irwin", "James", "Kelly", "Lopez",
        "Morgan", "Nash", "Owens", "Price", "Quinn", "Reyes", "Turner", "Walker", "Young", "Zimmerman"]  # fmt: skip


def run() -> dict:
    with override_settings(ROOT_URLCONF=MINIMAL_URLCONF):
        return _run()


def _run() -> dict:
    from churches import listing
    from churches.crypto import phone_hash
    from churches.models import Branch, Group, Member

    church, owner = bench_church("bench-100k", "Bench 100k Church")
    seeded_s = _seed(church)
    client = Client()
    client.force_login(owner)
    session = client.session
    session["current_church_id"] = church.pk
    session.save()

    group = Group.objects.filter(church=church).order_by("pk").first()
    branch = Branch.objects.filter(church=church).order_by("pk").first()
    sample = Member.objects.filter(church=church).order_by("pk")[MEMBERS // 2]
    deep = (
        Member.objects.filter(church=church)
        .order_by("last_name", "first_name", "id")
        .values_list("last_name", "first_name", "id")[MEMBERS - 5_000]
    )
    cases = {
        "default (name A-Z)": {},
        "search name prefix": {"q": "tay"},
        "search full name": {"q": "grace tur"},
        "search phone": {"q": sample.phone},
        "filter status": {"status": "unsubscribed"},
        "filter group + branch": {"group": group.pk, "branch": branch.pk},
        "sort newest": {"sort": "-created"},
        "deep page (row 95,000)": {"after": listing._cursor_encode(list(deep))},
    }
    url = reverse("members_home")
    # Query counts are fixed by tests (tests/churches/test_member_pages.py), not measured here.
    rows = []
    floor = _bare_select(church)
    minimal = minimal_page(client, REQUESTS)
    pages = {name: (url, params) for name, params in cases.items()}
    pages["dashboard (100,000 members)"] = (reverse("dashboard"), {})
    for name, (url, params) in pages.items():
        for _ in range(2):
            assert client.get(url, params).status_code == 200  # warm up
        response = client.get(url, params)
        samples = timed(lambda url=url, params=params: client.get(url, params), REQUESTS)
        stats = ms(samples)
        rows.append(
            {
                "case": name,
                **stats,
                "rows_shown": response.content.count(b'name="member_ids"'),
                "x_bare_select": round(stats["p50_ms"] / floor["p50_ms"], 1),
                "x_minimal_page": round(stats["p50_ms"] / minimal["p50_ms"], 2),
            }
        )
    assert phone_hash(sample.phone) == sample.phone_hash
    worst = max(rows, key=lambda row: row["p95_ms"])
    return {
        "rows": rows,
        "members": MEMBERS,
        "requests_per_case": REQUESTS,
        "seed_seconds": seeded_s,
        "bare_select": floor,
        "minimal_page": minimal,
        "ratio_definition": (
            "x_bare_select = page p50 / p50 of the bare indexed SELECT of one page of 50 members (raw SQL, same "
            "church, ORDER BY last_name, first_name, id LIMIT 50). " + MINIMAL_PAGE_DEFINITION + "."
        ),
        "summary": (
            f"Member list on {MEMBERS:,} members: worst case {worst['case']} p95 {worst['p95_ms']} ms; "
            f"bare SELECT p50 {floor['p50_ms']} ms, minimal signed-in page p50 {minimal['p50_ms']} ms "
            f"({minimal['queries']} queries)."
        ),
    }


def _seed(church) -> float | None:
    """100k members with groups and branches, set-based (COPY + INSERT ... SELECT), once."""
    from churches.crypto import email_local_hash, encrypt, phone_hash
    from churches.models import Branch, Group, Member

    if Member.objects.filter(church=church).count() == MEMBERS:
        return None  # seeded by an earlier run
    started = time.perf_counter()
    from churches.models import ConsentEvent, GroupMembership

    for model in (GroupMembership, ConsentEvent, Member, Group, Branch):
        model.objects.filter(church=church).delete()
    branches = [Branch.objects.create(church=church, name=name) for name in ("Downtown", "Northside", "West")]
    for name in ("Youth", "Choir", "Volunteers", "Men"):
        Group.objects.create(church=church, name=name)
    rng = random.Random(100)
    now = timezone.now()
    statuses = ["subscribed"] * 18 + ["unsubscribed", "never_consented"]
    cursor = raw_cursor()
    with cursor.copy(
        "COPY churches_member (church_id, first_name, last_name, phone, phone_hash, email, email_local_hash, "
        "branch_id, sms_status, timezone, created_at, updated_at) FROM STDIN"
    ) as copy:
        for i in range(MEMBERS):
            e164 = f"+1312{200 + i // 10_000:03d}{i % 10_000:04d}"
            created = now - timedelta(minutes=rng.randint(0, 2 * 365 * 24 * 60))
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first}.{last}{i}@example.org".lower()
            copy.write_row(
                (church.pk, first, last, encrypt(e164), phone_hash(e164), encrypt(email), email_local_hash(email),
                 branches[i % 4].pk if i % 4 < 3 else None, rng.choice(statuses), "America/Chicago", created, created)
            )  # fmt: skip
    # About a third of members in each group, spread by id.
    cursor.execute(
        "INSERT INTO churches_groupmembership (church_id, group_id, member_id, created_at) "
        "SELECT m.church_id, g.id, m.id, now() FROM churches_member m "
        "JOIN churches_group g ON g.church_id = m.church_id WHERE m.church_id = %s AND (m.id + g.id) %% 3 = 0",
        [church.pk],
    )
    cursor.execute("ANALYZE churches_member")
    cursor.execute("ANALYZE churches_groupmembership")
    return round(time.perf_counter() - started, 2)


def _bare_select(church) -> dict:
    cursor = raw_cursor()
    sql = (
        "SELECT id, first_name, last_name, phone, email, branch_id, sms_status FROM churches_member "
        "WHERE church_id = %s ORDER BY last_name, first_name, id LIMIT 50"
    )
    for _ in range(3):
        cursor.execute(sql, [church.pk]).fetchall()
    return ms(timed(lambda: cursor.execute(sql, [church.pk]).fetchall(), REQUESTS * 3))
