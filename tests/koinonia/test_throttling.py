"""Rate limits: API keys per key (sustained + burst, by plan, ``API_RATE_LIMIT`` overriding), staff
sessions per user, and sign-in / sign-up / password reset / invitations per IP and per account. The test
settings keep every limit high; each test lowers the one it proves."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from billing import services as billing_services
from billing.models import Plan
from churches import services
from churches.models import Role, StaffMembership
from koinonia.api import throttling as api_throttling
from tests.conftest import PASSWORD, assert_error_shape

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    # Fixed windows: freeze the clock so a test never straddles a window boundary.
    with time_machine.travel(NOON, tick=False) as traveller:
        yield traveller


def set_rates(settings, **rates):
    settings.REST_FRAMEWORK = {
        **django_settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **rates},
    }


# --- API keys -------------------------------------------------------------------------------------


def test_api_key_sustained_limit_answers_429_with_headers(world, settings, frozen):
    settings.API_RATE_LIMIT = "3/min"
    client = world.api_client(Role.ADMIN)
    for remaining in (2, 1, 0):
        response = client.get("/api/v1/church/")
        assert response.status_code == 200
        assert response["RateLimit-Limit"] == "3"
        assert response["RateLimit-Remaining"] == str(remaining)
        assert 0 < int(response["RateLimit-Reset"]) <= 60
    response = client.get("/api/v1/church/")
    error = assert_error_shape(response, 429, "throttled")
    assert "try again" in error["message"].lower()
    assert 0 < int(response["Retry-After"]) <= 60
    assert response["RateLimit-Remaining"] == "0"
    assert response["RateLimit-Limit"] == "3"
    # The next window lets the key in again.
    frozen.shift(60)
    assert client.get("/api/v1/church/").status_code == 200


def test_api_key_burst_limit(world, settings, frozen):
    settings.API_RATE_LIMIT = "1000/min"
    settings.API_BURST_RATE_LIMIT = "2/s"
    client = world.api_client(Role.ADMIN)
    assert [client.get("/api/v1/church/").status_code for _ in range(3)] == [200, 200, 429]
    frozen.shift(1)
    assert client.get("/api/v1/church/").status_code == 200


def test_each_key_has_its_own_budget(world, settings, frozen):
    settings.API_RATE_LIMIT = "1/min"
    first, second = world.api_client(Role.ADMIN), world.api_client(Role.ADMIN)
    assert first.get("/api/v1/church/").status_code == 200
    assert first.get("/api/v1/church/").status_code == 429
    assert second.get("/api/v1/church/").status_code == 200


def test_api_key_limit_follows_the_church_plan(world, settings, frozen):
    settings.API_RATE_LIMIT = ""
    settings.API_BURST_RATE_LIMIT = ""
    settings.API_PLAN_RATE_LIMITS = {
        "default": ("1/min", "100/s"),
        "trial": ("2/min", "100/s"),
        "pro": ("4/min", "100/s"),
    }
    sub = billing_services.subscription_start_trial(church=world.church)
    client = world.api_client(Role.ADMIN)
    assert [client.get("/api/v1/church/").status_code for _ in range(3)] == [200, 200, 429]

    sub.plan = Plan.objects.get(code="pro")
    sub.save(update_fields=["plan"])
    frozen.shift(120)  # a new window
    # The plan is cached for a minute; Redis expires keys on the real clock, not the frozen one.
    cache.delete(api_throttling.plan_cache_key(world.church))
    codes = [client.get("/api/v1/church/").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 200, 429]


def test_api_rate_limit_setting_overrides_every_plan(world, settings, frozen):
    settings.API_RATE_LIMIT = "1/min"
    settings.API_PLAN_RATE_LIMITS = {"default": ("100/min", "100/s"), "trial": ("100/min", "100/s")}
    client = world.api_client(Role.ADMIN)
    assert [client.get("/api/v1/church/").status_code for _ in range(2)] == [200, 429]


def test_session_api_calls_are_throttled_per_user(world, settings, frozen):
    set_rates(settings, session="2/min")
    owner, admin = world.session_api_client(Role.OWNER), world.session_api_client(Role.ADMIN)
    assert [owner.get("/api/v1/church/").status_code for _ in range(3)] == [200, 200, 429]
    assert admin.get("/api/v1/church/").status_code == 200
    assert_error_shape(owner.get("/api/v1/church/"), 429, "throttled")


def test_unauthenticated_api_calls_are_not_counted_against_a_key(world, settings, frozen):
    settings.API_RATE_LIMIT = "1/min"
    anonymous = Client()
    for _ in range(3):
        assert anonymous.get("/api/v1/church/").status_code == 401
    assert world.api_client(Role.ADMIN).get("/api/v1/church/").status_code == 200


# --- Sign-in --------------------------------------------------------------------------------------


def test_five_failed_sign_ins_lock_the_account(client, world, settings):
    settings.AXES_FAILURE_LIMIT = 5
    for _ in range(4):
        response = client.post(reverse("login"), {"username": world.staff.email, "password": "wrong-wrong-wrong"})
        assert response.status_code == 200
    # The fifth failure locks; then even the right password is refused, from anywhere, with a clear message.
    response = client.post(reverse("login"), {"username": world.staff.email.upper(), "password": "nope-nope-nope"})
    assert response.status_code == 429
    other_ip = Client(REMOTE_ADDR="203.0.113.9")
    response = other_ip.post(reverse("login"), {"username": world.staff.email, "password": PASSWORD})
    assert response.status_code == 429
    assert "too many failed sign-ins" in response.content.decode().lower()
    assert "_auth_user_id" not in other_ip.session
    # Another account is unaffected.
    response = client.post(reverse("login"), {"username": world.admin.email, "password": PASSWORD})
    assert response.status_code == 302


def test_admin_login_shares_the_lockout(client, world, settings):
    settings.AXES_FAILURE_LIMIT = 5
    superuser = get_user_model().objects.create_superuser(email="root@example.test", password=PASSWORD)
    for _ in range(5):
        client.post("/admin/login/", {"username": superuser.email, "password": "wrong-wrong-wrong"})
    response = client.post("/admin/login/?next=/admin/", {"username": superuser.email, "password": PASSWORD})
    assert response.status_code == 429
    assert "too many failed sign-ins" in response.content.decode().lower()
    response = client.post(reverse("login"), {"username": superuser.email, "password": PASSWORD})
    assert response.status_code == 429


def test_a_successful_sign_in_resets_the_failures(client, world, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        client.post(reverse("login"), {"username": world.staff.email, "password": "wrong-wrong-wrong"})
    assert client.post(reverse("login"), {"username": world.staff.email, "password": PASSWORD}).status_code == 302
    client.post(reverse("logout"))
    for _ in range(2):
        client.post(reverse("login"), {"username": world.staff.email, "password": "wrong-wrong-wrong"})
    assert client.post(reverse("login"), {"username": world.staff.email, "password": PASSWORD}).status_code == 302


def test_sign_in_attempts_are_throttled_per_ip(world, settings, frozen):
    set_rates(settings, login_ip="3/15m")
    client = Client(REMOTE_ADDR="198.51.100.7")
    for n in range(3):
        response = client.post(reverse("login"), {"username": f"nobody{n}@example.test", "password": "x" * 12})
        assert response.status_code == 200
    response = client.post(reverse("login"), {"username": world.staff.email, "password": PASSWORD})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert client.post("/admin/login/", {"username": "a@example.test", "password": "x"}).status_code == 429
    # Reading the page is not an attempt; another address is unaffected.
    assert client.get(reverse("login")).status_code == 200
    other = Client(REMOTE_ADDR="198.51.100.8")
    assert other.post(reverse("login"), {"username": world.staff.email, "password": PASSWORD}).status_code == 302


# --- Sign-up, password reset, invitations ---------------------------------------------------------


def test_sign_up_is_throttled_per_ip(settings, frozen, db):
    set_rates(settings, signup_ip="2/h")
    client = Client(REMOTE_ADDR="198.51.100.20")
    for n in range(2):
        client.post(reverse("signup"), {"church_name": f"C{n}", "email": "bad"})
    response = client.post(
        reverse("signup"),
        {
            "church_name": "Grace",
            "timezone": "America/Chicago",
            "owner_name": "Ann",
            "email": "ann@example.test",
            "password": "a-long-passphrase-9",
        },
    )
    assert response.status_code == 429
    assert not get_user_model().objects.filter(email="ann@example.test").exists()


def test_sign_up_is_throttled_per_address(world, settings, frozen):
    set_rates(settings, signup_email="2/h")
    for n in range(2):
        response = Client(REMOTE_ADDR=f"198.51.100.{70 + n}").post(reverse("signup"), {"email": world.owner.email})
        assert response.status_code == 200
    response = Client(REMOTE_ADDR="198.51.100.79").post(reverse("signup"), {"email": world.owner.email.upper()})
    assert response.status_code == 429
    assert "already exists" not in response.content.decode()


def test_password_reset_to_one_address_is_capped_silently(world, settings, frozen):
    set_rates(settings, password_reset_email="2/h")
    for n in range(5):
        response = Client(REMOTE_ADDR=f"198.51.100.{30 + n}").post(
            reverse("password_reset"), {"email": world.viewer.email.upper()}
        )
        assert response.status_code == 302
        assert response["Location"] == reverse("password_reset_done")
    assert len(mail.outbox) == 2
    # An unknown address is answered exactly the same way.
    response = Client().post(reverse("password_reset"), {"email": "nobody@example.test"})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    frozen.shift(3600)
    Client().post(reverse("password_reset"), {"email": world.viewer.email})
    assert len(mail.outbox) == 3


def test_password_reset_is_throttled_per_ip(world, settings, frozen):
    set_rates(settings, password_reset_ip="2/h")
    client = Client(REMOTE_ADDR="198.51.100.40")
    for n in range(2):
        assert client.post(reverse("password_reset"), {"email": f"x{n}@example.test"}).status_code == 302
    assert client.post(reverse("password_reset"), {"email": world.viewer.email}).status_code == 429
    assert len(mail.outbox) == 0


def test_invitation_accept_is_throttled_per_ip_and_per_invitation(world, settings, frozen):
    set_rates(settings, invitation_ip="3/h", invitation_account="2/h")
    _, token = services.staff_invite(
        church=world.church, acting_user=world.owner, email="new@example.test", role="staff"
    )
    url = reverse("accept_invitation", args=[token])
    weak = {"name": "New", "password": "short"}
    assert Client(REMOTE_ADDR="198.51.100.50").post(url, weak).status_code == 200
    assert Client(REMOTE_ADDR="198.51.100.51").post(url, weak).status_code == 200
    # A third attempt on the same invitation is refused, whatever the address.
    good = {"name": "New", "password": "a-long-passphrase-9"}
    assert Client(REMOTE_ADDR="198.51.100.52").post(url, good).status_code == 429
    assert not StaffMembership.objects.filter(user__email="new@example.test").exists()

    guesser = Client(REMOTE_ADDR="198.51.100.60")
    assert [guesser.get(f"/invitations/guess-{n}/").status_code for n in range(4)] == [404, 404, 404, 429]
