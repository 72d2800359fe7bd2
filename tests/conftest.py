"""The shared test base: two churches with a user of every role, API clients, and the helpers that
every endpoint test uses to prove "another church's id is a 404" and "a lower role is refused"."""

from dataclasses import dataclass, field

import pytest
from django.test import Client
from rest_framework.test import APIClient

from churches import services
from churches.models import Church, Role, User
from tests import network_guard
from tests.factories import ChurchFactory, StaffMembershipFactory, UserFactory

network_guard.install()

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


@pytest.fixture
def postgres_only():
    """For tests that need real concurrency (live servers, worker processes): PostgreSQL only. The
    CI's PostgreSQL pass runs them; the embedded-default (SQLite) pass skips them."""
    from django.conf import settings

    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        pytest.skip("needs PostgreSQL (runs in the PostgreSQL pass of CI)")
