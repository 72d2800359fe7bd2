"""Replica reads against a live streaming standby (``.ci/replica.sh``, which CI's PgBouncer pass points
``DATABASE_REPLICA_URL`` at). The standby replays with ``recovery_min_apply_delay`` (2 s in CI), so a read
that wrongly went to it right after a write would miss the write. Skipped without a replica; the routing
decisions themselves are tests/koinonia/test_db_router.py and run everywhere."""

import os
import time

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from churches import services
from churches.models import Church, Member, Role
from koinonia import db_router

pytestmark = [
    pytest.mark.skipif(not os.environ.get("DATABASE_REPLICA_URL"), reason="needs DATABASE_REPLICA_URL (a standby)"),
    pytest.mark.django_db(transaction=True, databases=["default", "replica"]),
]


@pytest.fixture(autouse=True)
def replica_reads(settings, postgres_only):
    settings.DATABASE_REPLICA_READS = True
    settings.DATABASE_REPLICA_CHECK_SECONDS = 0  # look at the standby on every request
    db_router.forget_replica_state()
    yield
    db_router.forget_replica_state()


def _replica_has(model, **lookup) -> bool:
    return model.objects.using("replica").filter(**lookup).exists()


def _wait_for(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _caught_up() -> bool:
    return db_router.replica_lag_seconds() == 0


def _in_recovery(alias: str) -> bool:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        return cursor.fetchone()[0]


def test_the_replica_is_a_standby_with_the_primarys_data(world):
    assert _in_recovery("replica") and not _in_recovery("default")
    _wait_for(lambda: _replica_has(Church, pk=world.church.pk), "the church to replicate")


def test_a_member_created_on_a_page_shows_on_the_next_page(world, other_world):
    client = world.page_client(Role.STAFF)
    response = client.post(reverse("member_create"), {"phone": "(312) 555-0160", "first_name": "Priscilla"})
    assert response.status_code == 302
    listing = client.get(reverse("members_home"))
    assert listing.status_code == 200
    assert "Priscilla" in listing.content.decode()
    assert listing.wsgi_request.db_reads_from == "default"  # pinned by the write
    # Another church's staff reads the replica (their session wrote nothing) and never sees her. On a slow
    # machine the standby may still be applying the POST past the lag threshold: wait until it has.
    _wait_for(_caught_up, "the standby to catch up")
    elsewhere = other_world.page_client(Role.STAFF).get(reverse("members_home"))
    assert elsewhere.wsgi_request.db_reads_from == "replica"
    assert "Priscilla" not in elsewhere.content.decode()


def test_the_api_list_after_an_api_create_shows_it(world):
    client = world.api_client(Role.STAFF)
    created = client.post("/api/v1/members", {"phone": "+1 312 555 0177", "first_name": "Aquila"}, format="json")
    assert created.status_code == 201, created.content
    listing = client.get("/api/v1/members")
    assert listing.status_code == 200
    assert created.json()["id"] in [row["id"] for row in listing.json()["results"]]
    assert listing.wsgi_request.db_reads_from == "default"


def test_a_report_page_is_served_by_the_replica(world):
    member = services.member_create(church=world.church, acting_user=None, phone="312-555-0161", first_name="Lydia")
    client = world.page_client(Role.STAFF)
    _wait_for(lambda: _replica_has(Member, pk=member.pk) and _caught_up(), "the member to replicate")
    with CaptureQueriesContext(connections["replica"]) as on_replica:
        response = client.get(reverse("members_home"))
    assert response.status_code == 200 and "Lydia" in response.content.decode()
    assert response.wsgi_request.db_reads_from == "replica"
    assert any("churches_member" in query["sql"] for query in on_replica.captured_queries)
    assert _in_recovery("replica")  # the connection that answered is the standby's
    assert client.get(reverse("dashboard")).wsgi_request.db_reads_from == "replica"


def test_a_replica_behind_the_threshold_is_skipped(world, settings):
    settings.DATABASE_REPLICA_MAX_LAG_SECONDS = 0.5
    client = world.page_client(Role.STAFF)
    services.member_create(church=world.church, acting_user=None, phone="312-555-0162", first_name="Tabitha")
    # The standby holds the new commit back for its apply delay: it lags past 0.5 s until it applies it.
    _wait_for(lambda: (db_router.replica_lag_seconds() or 0) > 0.5, "the standby to fall behind")
    response = client.get(reverse("members_home"))
    assert response.wsgi_request.db_reads_from == "default"
    assert "Tabitha" in response.content.decode()


def test_a_replica_that_is_down_leaves_pages_served(world, client):
    replica = connections["replica"]
    replica.close()
    saved = dict(replica.settings_dict)
    replica.settings_dict["PORT"] = 1  # nothing listens there: connection refused
    try:
        db_router.forget_replica_state()
        response = world.page_client(Role.STAFF).get(reverse("members_home"))
        assert response.status_code == 200
        assert response.wsgi_request.db_reads_from == "default"
        ready = client.get("/health/ready").json()
        assert ready["replica"] == {"status": "down", "lag_seconds": None}
        assert "database" not in ready["failed"]
    finally:
        replica.close()
        replica.settings_dict.update(saved)


def test_health_ready_reports_the_lag(client, world):
    _wait_for(_caught_up, "the standby to catch up")
    body = client.get("/health/ready").json()
    assert body["replica"]["status"] == "ok"
    assert body["replica"]["lag_seconds"] == 0
