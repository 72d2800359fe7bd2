"""/analytics/ and GET /api/v1/analytics: every role reads its own church only, a branch of another
church is a 404, bad input a 400, writes are refused, and the query count does not grow with the range
or the data."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics import services
from churches.models import ConsentEvent, Role
from tests.analytics.conftest import broadcast, consent, inbound
from tests.conftest import assert_error_shape, assert_other_church_404, assert_role_refused
from tests.factories import BranchFactory, MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def activity(world):
    church = world.church
    north = BranchFactory(church=church, name="North")
    member = MemberFactory(church=church, branch=north)
    now = timezone.now()
    broadcast(
        church, started=now - dt.timedelta(days=2), audience={"branch_ids": [north.pk]}, delivered_count=5,
        sent_count=1, segments_sent=6, reasons=[("30003", "Unreachable handset")],
    )  # fmt: skip
    broadcast(church, started=now - dt.timedelta(days=40), delivered_count=10, segments_sent=10)
    consent(member, ConsentEvent.Kind.OPT_OUT, now)
    inbound(church, member, now)
    services.daily_stats_backfill(church=church, days=90)
    return {"north": north}


def test_every_role_reads_the_page_with_charts_a_table_and_totals(world, activity):
    for role in (Role.OWNER, Role.ADMIN, Role.STAFF, Role.VIEWER):
        response = world.page_client(role).get("/analytics/")
        assert response.status_code == 200, role
    html = response.content.decode()
    assert html.count('<svg viewBox="0 0 320 120" width="100%"') == 3
    assert '<title id="chart-delivery-title">Texts per day</title>' in html and "<desc id=" in html
    assert "<table>" in html and "Unreachable handset: <strong>1</strong>" in html
    assert 'href="/analytics/"' in html  # the nav link (include)
    seven = world.page_client(Role.VIEWER).get("/analytics/", {"days": 7}).context["report"]
    thirty = response.context["report"]
    ninety = world.page_client(Role.VIEWER).get("/analytics/", {"days": 90}).context["report"]
    assert (len(seven["series"]), len(thirty["series"]), len(ninety["series"])) == (7, 30, 90)
    assert seven["totals"]["delivered"] == 5 and ninety["totals"]["delivered"] == 15
    assert (seven["totals"]["sent"], seven["totals"]["failed"], seven["totals"]["delivery_rate"]) == (6, 1, 0.7143)
    assert (seven["totals"]["opt_outs"], seven["totals"]["replies"], seven["totals"]["new_members"]) == (1, 1, 1)


def test_the_branch_filter_shows_that_branch_and_another_churchs_branch_is_404(world, other_world, activity):
    viewer = world.page_client(Role.VIEWER)
    report = viewer.get("/analytics/", {"days": 90, "branch": activity["north"].pk}).context["report"]
    assert report["branch"] == activity["north"] and report["totals"]["delivered"] == 5  # not the church-wide 10
    foreign = BranchFactory(church=other_world.church)
    assert_other_church_404(viewer, f"/analytics/?branch={foreign.pk}")
    assert viewer.get("/analytics/", {"days": "12"}).status_code == 400
    assert viewer.get("/analytics/", {"branch": "x"}).status_code == 400


def test_another_churchs_figures_never_show(world, other_world, activity):
    report = other_world.page_client(Role.VIEWER).get("/analytics/", {"days": 90}).context["report"]
    assert report["totals"]["delivered"] == 0 and report["failed_by_reason"] == []
    body = other_world.api_client(Role.VIEWER).get("/api/v1/analytics?days=90").json()
    assert body["totals"]["delivered"] == 0


def test_writes_are_refused_below_the_role_and_strangers_are_sent_away(client, world, outsider):
    assert world.page_client(Role.VIEWER).post("/analytics/").status_code == 403
    assert_role_refused(world.api_client(Role.VIEWER), "/api/v1/analytics")
    assert client.get("/analytics/").status_code == 302
    client.force_login(outsider)
    assert client.get("/analytics/")["Location"] == "/no-church/"
    assert client.get("/api/v1/analytics").status_code in (401, 403)


def test_the_api_returns_the_series_and_totals(world, other_world, activity):
    api = world.api_client(Role.VIEWER)
    body = api.get("/api/v1/analytics?days=7").json()
    assert body["days"] == 7 and len(body["series"]) == 7 and body["branch_id"] is None
    assert body["totals"]["delivered"] == 5 and body["totals"]["replies"] == 1
    assert body["failed_by_reason"] == [{"reason": "Unreachable handset", "count": 1}]
    assert body["series"][-1]["day"] == services.local_today(world.church).isoformat()
    assert body["price_per_1000_cents"] is None and "no per-text price" in body["cost_basis"]
    assert sum(day["delivered"] for day in body["series"]) == 5
    from analytics.api import AnalyticsOutput

    assert AnalyticsOutput(data=body).is_valid(), AnalyticsOutput(data=body).errors  # the documented shape
    assert set(body) == set(AnalyticsOutput().fields)
    assert set(body["series"][0]) == set(AnalyticsOutput().fields["series"].child.fields)
    assert set(body["totals"]) == set(AnalyticsOutput().fields["totals"].fields)
    branch = api.get(f"/api/v1/analytics?days=90&branch_id={activity['north'].pk}").json()
    assert branch["branch_id"] == activity["north"].pk and branch["totals"]["delivered"] == 5
    foreign = BranchFactory(church=other_world.church)
    assert_error_shape(api.get(f"/api/v1/analytics?branch_id={foreign.pk}"), 404)
    for bad in ("days=12", "days=x", "branch_id=x", "branch_id=0"):
        error = assert_error_shape(api.get(f"/api/v1/analytics?{bad}"), 400)
        assert set(error["details"]) <= {"days", "branch_id"} and error["details"], bad


def test_query_counts_do_not_grow_with_range_or_data(world, activity):
    page, api = world.page_client(Role.VIEWER), world.api_client(Role.VIEWER)
    north = activity["north"].pk

    def count(client, url) -> int:
        client.get(url)  # warm caches (session, key)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    page_counts = {count(page, f"/analytics/?days={days}") for days in (7, 30, 90)}
    api_counts = {count(api, f"/api/v1/analytics?days={days}") for days in (7, 30, 90)}
    services.daily_stats_backfill(church=world.church, days=90)  # again: more data changes nothing
    broadcast(world.church, started=timezone.now(), delivered_count=3)
    services.daily_stats_backfill(church=world.church, days=3)
    page_counts.add(count(page, "/analytics/?days=90"))
    api_counts.add(count(api, "/api/v1/analytics?days=90"))
    assert len(page_counts) == 1 and len(api_counts) == 1, (page_counts, api_counts)
    # A branch costs one more query (its access function), whatever the range.
    assert count(page, f"/analytics/?days=90&branch={north}") == page_counts.pop() + 1
    assert count(api, f"/api/v1/analytics?days=7&branch_id={north}") == api_counts.pop() + 1


def test_the_schema_documents_the_endpoint(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/analytics/"]["get"]
    assert {param["name"] for param in operation["parameters"]} >= {"days", "branch_id"}
