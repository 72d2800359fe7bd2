"""Helpers shared by scenarios: a bench church with an owner and room for many members, timing."""

import statistics
import time

from django.db import connection


def bench_church(slug: str, name: str):
    """A church (created once) with an owner, on a plan that allows a million members, so the
    plan-limit check stays in the measured path without refusing the benchmark's rows."""
    from churches.models import Church, Role, StaffMembership, User

    church, _ = Church.objects.get_or_create(slug=slug, defaults={"name": name, "timezone": "America/Chicago"})
    owner, created = User.objects.get_or_create(email=f"owner@{slug}.bench", defaults={"name": "Bench Owner"})
    if created:
        owner.set_password("bench-password-123")
        owner.save(update_fields=["password"])
    StaffMembership.objects.get_or_create(church=church, user=owner, defaults={"role": Role.OWNER})
    _unlimited_plan(church)
    return church, owner


def bench_plan(code: str, name: str, *, overage_cents_per_1000: int | None):
    """A private plan with room for any benchmark (a million members, ten million segments)."""
    from billing.models import Plan

    plan, _ = Plan.objects.update_or_create(
        code=code,
        defaults={
            "name": name,
            "price_cents": 0,
            "max_members": 1_000_000,
            "max_branches": 100,
            "max_staff_seats": 100,
            "included_segments": 10_000_000,
            "overage_cents_per_1000": overage_cents_per_1000,
            "is_public": False,
        },
    )
    return plan


def _unlimited_plan(church) -> None:
    try:
        from billing.models import Subscription
    except ImportError:  # billing not installed: no limits to lift
        return
    from datetime import timedelta

    from django.utils import timezone

    # Like a large church's paid plan: overage on and no spend cap (the cap is opt-in), so nothing caps
    # a send's size while the plan check itself stays in the measured path.
    plan = bench_plan("bench", "Bench", overage_cents_per_1000=1200)
    now = timezone.now()
    Subscription.objects.update_or_create(
        church=church,
        defaults={
            "plan": plan,
            "status": "active",
            "current_period_start": now - timedelta(days=1),
            "current_period_end": now + timedelta(days=365),
        },
    )


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def timed(function, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return samples


def ms(samples: list[float]) -> dict:
    return {
        "p50_ms": round(statistics.median(samples) * 1000, 2),
        "p95_ms": round(percentile(samples, 95) * 1000, 2),
    }


def raw_cursor():
    """The psycopg cursor under Django's connection (for COPY)."""
    connection.ensure_connection()
    return connection.connection.cursor()


MINIMAL_URLCONF = "bench.scenarios._minimal_urls"
MINIMAL_PAGE = "/bench-minimal/"
MINIMAL_PAGE_DEFINITION = (
    "x_minimal_page = p50 / p50 of /bench-minimal/ through the same client: a ChurchPageMixin page "
    "(session, sign-in, church resolution, role check, middleware) answering 'ok' with no template and no "
    "query of its own, the floor every signed-in page pays (not the dashboard, which counts members)"
)


def minimal_page(client, repeat: int) -> dict:
    """p50/p95 of the truly minimal signed-in page and its query count. The caller runs under
    ``override_settings(ROOT_URLCONF=MINIMAL_URLCONF)`` (the project's URLs plus that page)."""
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        assert client.get(MINIMAL_PAGE).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        client.get(MINIMAL_PAGE)
    query_count = len(queries)
    return {**ms(timed(lambda: client.get(MINIMAL_PAGE), repeat)), "queries": query_count}
