"""Where reads go (koinonia/db_router.py), decided without a replica: these run on every database. The
same behaviour against a live standby is tests/koinonia/test_replica_reads.py."""

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.http import HttpResponse, StreamingHttpResponse
from django.test import RequestFactory

from churches.models import ApiKey, Member, StaffMembership, User
from koinonia import db_router
from koinonia.celery import app

router = db_router.PrimaryReplicaRouter()


@pytest.fixture
def replica(monkeypatch):
    """A replica that is configured and healthy, as far as the middleware can tell."""
    state = {"usable": True}
    monkeypatch.setattr(db_router, "replica_configured", lambda: True)
    monkeypatch.setattr(db_router, "replica_usable", lambda: state["usable"])
    return state


def _run(request, respond=None):
    """Pass ``request`` through the middleware; returns (where the view read, response)."""
    seen = {}

    def view(req):
        seen["reads"] = db_router.reads_from()
        seen["member"] = router.db_for_read(Member)
        return respond(req) if respond else HttpResponse("ok")

    response = db_router.ReplicaReadsMiddleware(view)(request)
    return seen, response


def _get(path, **extra):
    request = RequestFactory().get(path, **extra)
    request.COOKIES.update(extra.pop("cookies", {}))
    return request


def test_reads_use_the_primary_unless_a_request_chose_the_replica():
    assert router.db_for_read(Member) == "default"
    token = db_router._read_target.set(db_router.REPLICA)
    try:
        assert router.db_for_read(Member) == "replica"
        # Sign-in state never lags: sessions, users, memberships, API keys.
        for model in (Session, User, StaffMembership, ApiKey):
            assert router.db_for_read(model) == "default", model
    finally:
        db_router._read_target.reset(token)


def test_a_write_goes_to_the_primary_and_later_reads_follow_it():
    token = db_router._read_target.set(db_router.REPLICA)
    try:
        assert router.db_for_write(Member) == "default"
        assert router.db_for_read(Member) == "default"
    finally:
        db_router._read_target.reset(token)


def test_reads_inside_a_transaction_on_the_primary_stay_there(db):
    # The test itself runs in a transaction on the primary: what it wrote is only there.
    token = db_router._read_target.set(db_router.REPLICA)
    try:
        assert router.db_for_read(Member) == "default"
    finally:
        db_router._read_target.reset(token)


def test_lag_tolerant_pages_and_api_gets_read_the_replica(replica):
    for path in ("/members/", "/dashboard/", "/analytics/", "/members/export.csv", "/api/v1/members"):
        seen, _ = _run(_get(path))
        assert (seen["reads"], seen["member"]) == ("replica", "replica"), path
    for path in ("/members/new/", "/login/", "/inbox/", "/members/1/"):
        seen, _ = _run(_get(path))
        assert seen["reads"] == "default", path


def test_unsafe_methods_read_the_primary_and_pin_the_session(replica):
    cookies = {settings.SESSION_COOKIE_NAME: "session-one"}
    post = RequestFactory().post("/members/new/", {"phone": "1"})
    post.COOKIES.update(cookies)
    seen, _ = _run(post)
    assert seen["reads"] == "default"
    # The redirect's GET, from the same session, reads its write from the primary.
    assert _run(_get("/members/", cookies=cookies))[0]["reads"] == "default"
    # Someone else still reads the replica.
    assert _run(_get("/members/", cookies={settings.SESSION_COOKIE_NAME: "session-two"}))[0]["reads"] == "replica"


def test_a_get_that_wrote_pins_too(replica):
    cookies = {settings.SESSION_COOKIE_NAME: "session-three"}

    def writes(request):
        router.db_for_write(Member)
        return HttpResponse("ok")

    _run(_get("/dashboard/", cookies=cookies), respond=writes)
    assert _run(_get("/dashboard/", cookies=cookies))[0]["reads"] == "default"


def test_sign_in_pins_the_new_session_the_response_sets(replica):
    def signs_in(request):
        response = HttpResponse("ok")
        response.set_cookie(settings.SESSION_COOKIE_NAME, "fresh-session")
        return response

    _run(RequestFactory().post("/login/"), respond=signs_in)
    assert _run(_get("/dashboard/", cookies={settings.SESSION_COOKIE_NAME: "fresh-session"}))[0]["reads"] == "default"


def test_an_api_key_that_wrote_reads_its_writes(replica):
    writer, other = "Bearer kn_abc_secret", "Bearer kn_def_secret"
    _run(RequestFactory().post("/api/v1/members", HTTP_AUTHORIZATION=writer))
    assert _run(_get("/api/v1/members", HTTP_AUTHORIZATION=writer))[0]["reads"] == "default"
    assert _run(_get("/api/v1/members", HTTP_AUTHORIZATION=other))[0]["reads"] == "replica"


def test_the_pin_lasts_the_configured_seconds(replica, monkeypatch):
    stored = {}
    monkeypatch.setattr(db_router.cache, "set_many", lambda values, timeout: stored.update(timeout=timeout))
    db_router.pin(["k"])
    assert stored["timeout"] == settings.DATABASE_REPLICA_PIN_SECONDS
    assert settings.DATABASE_REPLICA_PIN_SECONDS > settings.DATABASE_REPLICA_MAX_LAG_SECONDS


def test_an_unreadable_pin_means_the_primary(replica, monkeypatch):
    def broken(keys):
        raise ConnectionError("cache down")

    monkeypatch.setattr(db_router.cache, "get_many", broken)
    assert _run(_get("/members/", cookies={settings.SESSION_COOKIE_NAME: "s"}))[0]["reads"] == "default"


def test_a_replica_down_or_behind_is_skipped(replica):
    replica["usable"] = False
    assert _run(_get("/members/"))[0]["reads"] == "default"


@pytest.mark.parametrize(
    ("lag", "usable"), [(0.0, True), (9.5, True), (10.5, False), (float("inf"), False), (None, False)]
)
def test_usable_means_reachable_and_within_the_lag_threshold(monkeypatch, settings, lag, usable):
    settings.DATABASE_REPLICA_MAX_LAG_SECONDS = 10
    monkeypatch.setattr(db_router, "replica_lag_seconds", lambda: lag)
    db_router.forget_replica_state()
    assert db_router.replica_usable() is usable


def test_the_replica_is_checked_at_most_every_check_seconds(monkeypatch, settings):
    settings.DATABASE_REPLICA_CHECK_SECONDS = 60
    calls = []
    monkeypatch.setattr(db_router, "replica_lag_seconds", lambda: calls.append(1) or 0.0)
    db_router.forget_replica_state()
    assert db_router.replica_usable() and db_router.replica_usable()
    assert len(calls) == 1
    db_router.forget_replica_state()


def test_a_streamed_export_reads_the_replica_chunk_by_chunk(replica):
    def chunks():
        for _ in range(3):
            yield router.db_for_read(Member)

    _, response = _run(_get("/members/export.csv"), respond=lambda request: StreamingHttpResponse(chunks()))
    assert db_router.reads_from() == "default"
    assert b"".join(response.streaming_content) == b"replica" * 3
    assert db_router.reads_from() == "default"


@app.task
def _where_a_task_reads():
    return db_router.reads_from()


def test_task_work_reads_the_primary_even_when_run_eagerly_inside_a_replica_request(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    token = db_router._read_target.set(db_router.REPLICA)
    try:
        assert _where_a_task_reads.delay().get() == "default"
        assert db_router.reads_from() == "replica"  # the request's choice is back
    finally:
        db_router._read_target.reset(token)


def test_without_a_replica_the_middleware_changes_nothing(monkeypatch):
    monkeypatch.setattr(db_router, "replica_configured", lambda: False)
    seen, _ = _run(_get("/members/"))
    assert seen["reads"] == "default"


def test_the_middleware_decides_before_session_and_auth_read():
    order = settings.MIDDLEWARE
    mine = order.index("koinonia.db_router.ReplicaReadsMiddleware")
    assert mine < order.index("django.contrib.sessions.middleware.SessionMiddleware")
    assert mine < order.index("django.contrib.auth.middleware.AuthenticationMiddleware")


def test_an_outage_is_logged_once_not_on_every_check(monkeypatch, settings, caplog):
    settings.DATABASE_REPLICA_CHECK_SECONDS = 0
    lags = iter([None, None, 0.0, 99.0])
    monkeypatch.setattr(db_router, "replica_lag_seconds", lambda: next(lags))
    db_router.forget_replica_state()
    with caplog.at_level("WARNING", logger="koinonia.db_router"):
        usable = [db_router.replica_usable() for _ in range(4)]
    assert usable == [False, False, True, False]
    assert [r.getMessage() for r in caplog.records].count("replica skipped: reads use the primary") == 2
    db_router.forget_replica_state()
