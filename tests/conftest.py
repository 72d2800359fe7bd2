"""The shared test base: two churches with a user of every role, API clients, and the helpers that
every endpoint test uses to prove "another church's id is a 404" and "a lower role is refused"."""

import os
import tempfile
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.test import Client
from rest_framework.test import APIClient

from churches import services
from churches.models import Church, Role, User
from tests import network_guard
from tests.factories import ChurchFactory, StaffMembershipFactory, UserFactory

network_guard.install()


def _isolate_xdist_worker() -> None:
    """Under pytest-xdist (``make test`` runs ``-n 2``) each worker is a separate process running the
    same settings. pytest-django gives each its own test database (``test_<name>_gwN``); this gives the
    rest the same treatment before any test touches them:

    - Redis: the cache is flushed before every test (``_clear_cache``) and the rate-limit buckets have
      global keys, so worker ``gwN`` uses database ``(configured db + N) % 16`` of the same server
      (``gw0`` keeps the configured one). Tests that stop Redis run a private redis-server already.
    - MEDIA_ROOT: a temporary directory per worker, so uploads and fetched pictures never collide.

    Everything else a test opens (live servers, fakes, private Redis) binds a free port of its own."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return
    from django.conf import settings

    index = int(worker[2:])
    settings.MEDIA_ROOT = tempfile.mkdtemp(prefix=f"koinonia-media-{worker}-")
    if not settings.REDIS_URL or index == 0:
        return
    parts = urlsplit(settings.REDIS_URL)
    db = int(parts.path.strip("/") or 0)
    worker_url = urlunsplit(parts._replace(path=f"/{(db + index) % 16}"))
    if settings.CACHES["default"].get("LOCATION") == settings.REDIS_URL:
        settings.CACHES["default"]["LOCATION"] = worker_url
    if getattr(settings, "CELERY_BROKER_URL", "") == settings.REDIS_URL:
        settings.CELERY_BROKER_URL = worker_url  # the Celery app reads the Django setting
    settings.REDIS_URL = worker_url


_isolate_xdist_worker()

PASSWORD = "correct-horse-battery"


@dataclass
class ChurchWorld:
    """One church with a user of each role and an admin API key."""

    church: Church
    users: dict[str, User] = field(default_factory=dict)
    api_key: str = ""

    @property
    def owner(self) -> User:
        return self.users[Role.OWNER]

    @property
    def admin(self) -> User:
        return self.users[Role.ADMIN]

    @property
    def staff(self) -> User:
        return self.users[Role.STAFF]

    @property
    def viewer(self) -> User:
        return self.users[Role.VIEWER]

    def page_client(self, role: str = Role.OWNER) -> Client:
        client = Client()
        client.force_login(self.users[role])
        session = client.session
        session["current_church_id"] = self.church.pk
        session.save()
        return client

    def api_client(self, role: str = Role.ADMIN) -> APIClient:
        """An API client using a key with ``role`` (admin, staff or viewer)."""
        client = APIClient()
        _, raw_key = services.api_key_create(church=self.church, acting_user=None, name=f"{role} key", role=role)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
        return client

    def session_api_client(self, role: str = Role.OWNER) -> APIClient:
        client = APIClient()
        client.force_login(self.users[role])
        return client


def build_world(name: str) -> ChurchWorld:
    church = ChurchFactory(name=name)
    world = ChurchWorld(church=church)
    for role in (Role.OWNER, Role.ADMIN, Role.STAFF, Role.VIEWER):
        user = UserFactory(email=f"{role}@{church.slug}.test", name=f"{role.title()} of {name}")
        StaffMembershipFactory(church=church, user=user, role=role)
        world.users[role] = user
    return world


@pytest.fixture
def world(db) -> ChurchWorld:
    return build_world("Grace Chapel")


@pytest.fixture
def other_world(db) -> ChurchWorld:
    return build_world("Hope Fellowship")


@pytest.fixture
def outsider(db) -> User:
    return UserFactory(email="outsider@example.test")


def assert_error_shape(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, getattr(response, "content", b"")[:500])
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "details"} <= set(body["error"]), body
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


def assert_other_church_404(client, url: str, method: str = "get", data=None) -> None:
    """``client`` belongs to one church and ``url`` names another church's object."""
    response = (
        getattr(client, method)(url, data=data, format="json") if data is not None else getattr(client, method)(url)
    )
    assert response.status_code == 404, (url, response.status_code)


def assert_role_refused(client, url: str, method: str = "post", data=None) -> None:
    response = getattr(client, method)(url, data=data or {}, format="json")
    assert response.status_code == 403, (url, response.status_code)


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _seeded_plans(request, django_db_blocker):
    """The plans a migration seeds (billing 0002) are data every billing rule reads. A transactional
    test (live server, worker processes) ends by flushing every table, migration data included. Serially
    pytest-django runs those last; under xdist a worker can be handed another file after one, so a test
    that finds the plans gone gets them back first (one query when they are there)."""
    marker = request.node.get_closest_marker("django_db")
    if not (marker or {"db", "transactional_db"} & set(request.fixturenames)):
        yield
        return
    request.getfixturevalue("django_db_setup")  # the test database, never the configured one
    with django_db_blocker.unblock():
        import importlib

        from django.apps import apps

        from billing.models import Plan

        seed = importlib.import_module("billing.migrations.0002_seed_plans")
        if Plan.objects.count() < len(seed.PLANS):
            seed.seed(apps, None)
    yield


@pytest.fixture
def postgres_only():
    """For tests that need real concurrency (live servers, worker processes): PostgreSQL only. The
    CI's PostgreSQL pass runs them; the embedded-default (SQLite) pass skips them."""
    from django.conf import settings

    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        pytest.skip("needs PostgreSQL (runs in the PostgreSQL pass of CI)")
