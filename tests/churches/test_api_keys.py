from datetime import date, timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from churches import services
from churches.models import ApiKey, AuditLog, Role
from tests.conftest import assert_error_shape

pytestmark = pytest.mark.django_db


def test_key_is_stored_as_prefix_and_hash_only(world):
    api_key, raw_key = services.api_key_create(church=world.church, acting_user=world.owner, name="ChMS sync")
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert raw_key.startswith(f"kn_{stored.prefix}_")
    secret = raw_key.split("_", 2)[2]
    assert secret not in stored.key_hash and len(stored.key_hash) == 64
    assert AuditLog.objects.filter(church=world.church, action="api_key.created").exists()


def test_valid_key_authenticates_and_records_last_use(world):
    client = world.api_client(Role.ADMIN)
    response = client.get("/api/v1/church")
    assert response.status_code == 200 and response.json()["slug"] == world.church.slug
    assert ApiKey.objects.filter(church=world.church, last_used_at__isnull=False).exists()


def test_revoked_expired_and_bogus_keys_are_401(world):
    api_key, raw_key = services.api_key_create(church=world.church, acting_user=world.owner, name="old")
    services.api_key_revoke(church=world.church, acting_user=world.owner, api_key_id=api_key.pk)
    soon = timezone.now() + timedelta(minutes=5)
    expiring, expired_key = services.api_key_create(
        church=world.church, acting_user=world.owner, name="temp", expires_at=soon
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {expired_key}")
    assert client.get("/api/v1/church").status_code == 200  # before its expiry
    ApiKey.objects.filter(pk=expiring.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    error = assert_error_shape(client.get("/api/v1/church"), 401, "authentication_failed")
    assert "expired" in error["message"]
    for header in (f"Bearer {raw_key}", "Bearer kn_nope_nope", "Bearer garbage", f"Bearer {raw_key[:-2]}xx"):
        client.credentials(HTTP_AUTHORIZATION=header)
        assert_error_shape(client.get("/api/v1/church"), 401)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert "revoked" in assert_error_shape(client.get("/api/v1/church"), 401)["message"]
    client.credentials()
    assert_error_shape(client.get("/api/v1/church"), 401, "not_authenticated")
    assert AuditLog.objects.filter(action="api_key.revoked").exists()


def test_last_use_is_written_at_most_once_a_minute(world, django_assert_num_queries):
    api_key, raw_key = services.api_key_create(church=world.church, acting_user=None, name="poller")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    # First call: key lookup, the last-use write, the church.
    with django_assert_num_queries(2):
        assert client.get("/api/v1/church").status_code == 200
    first = ApiKey.objects.get(pk=api_key.pk).last_used_at
    assert first is not None
    with django_assert_num_queries(1):  # within the minute: the key lookup only, no write
        assert client.get("/api/v1/church").status_code == 200
    # Even when the row looks stale (another process read it earlier), the cache marker holds the write back.
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=first - timedelta(minutes=5))
    with django_assert_num_queries(1):
        client.get("/api/v1/church")
    cache.delete(f"api-key-used:{api_key.pk}")  # the minute has passed
    client.get("/api/v1/church")
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at > first


def test_key_only_sees_its_own_church(world, other_world):
    client = other_world.api_client(Role.ADMIN)
    assert client.get("/api/v1/church").json()["slug"] == other_world.church.slug
    their_key = (
        ApiKey.objects.filter(church=world.church).first()
        or services.api_key_create(church=world.church, acting_user=None, name="x")[0]
    )
    assert_error_shape(client.get(f"/api/v1/api-keys/{their_key.pk}"), 404, "not_found")
    assert_error_shape(client.post(f"/api/v1/api-keys/{their_key.pk}/revoke"), 404)
    their_key.refresh_from_db()
    assert their_key.revoked_at is None
    ids = {row["id"] for row in client.get("/api/v1/api-keys").json()["results"]}
    assert their_key.pk not in ids


def test_api_key_endpoints_need_admin(world):
    viewer = world.api_client(Role.VIEWER)
    assert_error_shape(viewer.get("/api/v1/api-keys"), 403, "permission_denied")
    staff = world.api_client(Role.STAFF)
    assert_error_shape(staff.get("/api/v1/api-keys"), 403)
    key = ApiKey.objects.filter(church=world.church).first()
    assert_error_shape(staff.post(f"/api/v1/api-keys/{key.pk}/revoke"), 403)
    admin = world.api_client(Role.ADMIN)
    assert admin.post(f"/api/v1/api-keys/{key.pk}/revoke").status_code == 200


def test_api_keys_page_shows_key_once_and_revokes(world, other_world):
    page = world.page_client(Role.ADMIN)
    response = page.post(reverse("api_keys"), {"name": "Website", "role": Role.STAFF})
    assert response.status_code == 200 and response.context["new_key"].startswith("kn_")
    listing = page.get(reverse("api_keys"))
    assert response.context["new_key"].encode() not in listing.content
    key = ApiKey.objects.get(church=world.church, name="Website")
    assert page.post(reverse("api_key_revoke", args=[key.pk])).status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    # Another church's key is a 404; staff may not manage keys at all.
    theirs, _ = services.api_key_create(church=other_world.church, acting_user=None, name="theirs")
    assert page.post(reverse("api_key_revoke", args=[theirs.pk])).status_code == 404
    assert world.page_client(Role.STAFF).get(reverse("api_keys")).status_code == 403


def test_create_api_key_command_prints_a_working_key(world, capsys):
    call_command("create_api_key", world.church.slug, "--name", "CLI")
    raw_key = capsys.readouterr().out.strip()
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert client.get("/api/v1/church").status_code == 200


def test_createchurch_command(capsys):
    call_command("createchurch", "St. Mark", "mark@example.test", "a-long-passphrase-1")
    from churches.models import Church

    church = Church.objects.get(name="St. Mark")
    assert church.staff_memberships.get().user.email == "mark@example.test"


def bearer(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


def test_create_api_key_command_with_scopes_and_expiry(world, capsys):
    call_command(
        "create_api_key",
        world.church.slug,
        "--name",
        "Sync",
        "--role",
        "staff",
        "--scopes",
        "members:read,members:write",
        "--expires",
        "2099-12-31",
    )
    raw_key = capsys.readouterr().out.strip()
    key = ApiKey.objects.get(church=world.church, name="Sync")
    assert key.scopes == ["members:read", "members:write"] and key.role == Role.STAFF
    # Works through that day in the church's time zone.
    local_end = timezone.localtime(key.expires_at, world.church.tzinfo)
    assert (local_end.date(), local_end.hour, local_end.minute) == (date(2100, 1, 1), 0, 0)
    client = bearer(raw_key)
    assert client.get("/api/v1/members").status_code == 200
    assert_error_shape(client.get("/api/v1/messages"), 403, "insufficient_scope")
    for bad in (["--scopes", "members:reed"], ["--expires", "31/12/2099"], ["--expires", "2001-01-01"]):
        with pytest.raises(CommandError):
            call_command("create_api_key", world.church.slug, "--name", "Bad", *bad)
    with pytest.raises(CommandError, match="read only role can't use members:write"):
        call_command(
            "create_api_key", world.church.slug, "--name", "Bad", "--role", "viewer", "--scopes", "members:write"
        )
    assert not ApiKey.objects.filter(church=world.church, name="Bad").exists()


def test_api_keys_page_creates_a_scoped_expiring_key(world):
    page = world.page_client(Role.ADMIN)
    response = page.post(
        reverse("api_keys"),
        {
            "name": "Website",
            "role": Role.STAFF,
            "scopes": ["messages:read", "messages:send"],
            "expires_on": "2099-06-30",
        },
    )
    assert response.status_code == 200 and response.context["new_key"].startswith("kn_")
    key = ApiKey.objects.get(church=world.church, name="Website")
    assert key.scopes == ["messages:read", "messages:send"] and key.expires_at is not None
    listing = page.get(reverse("api_keys")).content.decode()
    assert "messages:send" in listing and "end of Jun 30, 2099" in listing  # through that day
    # No scopes ticked: full access; a past date and a scope beyond the role are refused on the form.
    assert page.post(reverse("api_keys"), {"name": "All", "role": Role.ADMIN}).status_code == 200
    assert ApiKey.objects.get(church=world.church, name="All").scopes == []
    response = page.post(reverse("api_keys"), {"name": "Old", "role": Role.ADMIN, "expires_on": "2001-01-01"})
    assert response.status_code == 400 and response.context["form"].errors["expires_on"]
    response = page.post(reverse("api_keys"), {"name": "RO", "role": Role.VIEWER, "scopes": ["members:write"]})
    assert response.status_code == 400 and "members:write" in response.context["form"].errors["scopes"][0]


def test_api_creates_keys_within_the_callers_role_and_scopes(world, other_world):
    admin = world.api_client(Role.ADMIN)
    response = admin.post(
        "/api/v1/api-keys",
        {"name": "CI", "role": "staff", "scopes": ["members:read"], "expires_at": "2099-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["key"].startswith(f"kn_{body['prefix']}_") and body["scopes"] == ["members:read"]
    assert body["expires_at"].startswith("2099-01-01")
    assert bearer(body["key"]).get("/api/v1/members").status_code == 200
    assert "key" not in admin.get(f"/api/v1/api-keys/{body['id']}").json()  # shown once
    audit = AuditLog.objects.get(church=world.church, action="api_key.created", target_id=str(body["id"]))
    assert audit.api_key is not None and audit.data["scopes"] == ["members:read"]

    # A scoped key can't grant what it lacks, nor a stronger role; nor can it create a full-access key.
    _, manager = services.api_key_create(
        church=world.church, acting_user=None, name="mgr", scopes=["api_keys:manage", "members:read"]
    )
    manager = bearer(manager)
    for payload in (
        {"name": "x", "scopes": ["members:write"]},
        {"name": "x"},  # no scopes = all of them
    ):
        error = assert_error_shape(manager.post("/api/v1/api-keys", payload, format="json"), 403, "permission_denied")
        assert "scopes" in error["details"]
    ok = manager.post("/api/v1/api-keys", {"name": "x", "role": "viewer", "scopes": ["members:read"]}, format="json")
    assert ok.status_code == 201
    _, staff_key = services.api_key_create(church=world.church, acting_user=None, name="s", role=Role.STAFF)
    # Bad input is a 400 with field messages; a key without api_keys:manage is refused.
    for payload in (
        {"name": "x", "scopes": ["nope:read"]},
        {"name": "x", "expires_at": "2001-01-01T00:00:00Z"},
        {"name": "x", "expires_at": "2099-01-01T00:00:00"},
        {"name": "x", "role": "owner"},
        {"scopes": []},
    ):
        assert_error_shape(admin.post("/api/v1/api-keys", payload, format="json"), 400)
    narrow = bearer(
        services.api_key_create(church=world.church, acting_user=None, name="n", scopes=["members:read"])[1]
    )
    assert_error_shape(narrow.post("/api/v1/api-keys", {"name": "x"}, format="json"), 403, "insufficient_scope")
    assert_error_shape(world.api_client(Role.STAFF).post("/api/v1/api-keys", {"name": "x"}, format="json"), 403)
    assert_error_shape(bearer(staff_key).get("/api/v1/api-keys"), 403)


def test_rotation_through_the_api_keeps_the_old_key_for_the_overlap(world, other_world):
    old, old_raw = services.api_key_create(
        church=world.church,
        acting_user=None,
        name="Sync",
        role=Role.STAFF,
        scopes=["members:read"],
        expires_at=timezone.now() + timedelta(days=90),
    )
    admin = world.api_client(Role.ADMIN)
    response = admin.post(f"/api/v1/api-keys/{old.pk}/rotate", {"overlap_hours": 2}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    new = ApiKey.objects.get(pk=body["id"])
    assert (new.name, new.role, new.scopes, new.expires_at) == ("Sync", Role.STAFF, ["members:read"], old.expires_at)
    assert body["rotated_from"] == old.pk and body["key"].startswith(f"kn_{new.prefix}_")
    old.refresh_from_db()
    assert timedelta(hours=1, minutes=59) < old.expires_at - timezone.now() <= timedelta(hours=2)
    assert bearer(old_raw).get("/api/v1/members").status_code == 200  # still works during the overlap
    assert bearer(body["key"]).get("/api/v1/members").status_code == 200
    audit = AuditLog.objects.get(church=world.church, action="api_key.rotated")
    assert audit.data["new_prefix"] == new.prefix and audit.data["overlap_hours"] == 2
    # Rotating it again is refused (rotate the new one); so is a revoked or expired key.
    assert_error_shape(admin.post(f"/api/v1/api-keys/{old.pk}/rotate", {}, format="json"), 409, "conflict")
    ApiKey.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error_shape(bearer(old_raw).get("/api/v1/members"), 401)
    assert_error_shape(admin.post(f"/api/v1/api-keys/{old.pk}/rotate", {}, format="json"), 409)
    assert_error_shape(admin.post(f"/api/v1/api-keys/{new.pk}/rotate", {"overlap_hours": 9999}, format="json"), 400)
    # Default overlap 24 h; a key can rotate itself (the usual automation), never a broader key.
    response = bearer(body["key"]).post(f"/api/v1/api-keys/{new.pk}/rotate", format="json")
    assert_error_shape(response, 403)  # a staff key with members:read only: no api_keys:manage
    response = admin.post(f"/api/v1/api-keys/{new.pk}/rotate", format="json")
    assert response.status_code == 201
    new.refresh_from_db()
    assert timedelta(hours=23, minutes=59) < new.expires_at - timezone.now() <= timedelta(hours=24)
    _, narrow_raw = services.api_key_create(church=world.church, acting_user=None, name="n", scopes=["api_keys:manage"])
    full, _ = services.api_key_create(church=world.church, acting_user=None, name="full")
    refused = bearer(narrow_raw).post(f"/api/v1/api-keys/{full.pk}/rotate", format="json")
    assert_error_shape(refused, 403, "permission_denied")
    # Another church's key is a 404.
    theirs, _ = services.api_key_create(church=other_world.church, acting_user=None, name="theirs")
    assert_error_shape(admin.post(f"/api/v1/api-keys/{theirs.pk}/rotate", format="json"), 404)


def test_rotation_on_the_page_shows_the_new_key_once(world, other_world):
    old, _ = services.api_key_create(
        church=world.church, acting_user=world.owner, name="Website", scopes=["church:read"]
    )
    page = world.page_client(Role.ADMIN)
    response = page.post(reverse("api_key_rotate", args=[old.pk]), {"overlap_hours": "24"})
    assert response.status_code == 200
    raw_key = response.context["new_key"]
    new = ApiKey.objects.get(rotated_from=old)
    assert raw_key.startswith(f"kn_{new.prefix}_") and new.scopes == ["church:read"]
    assert b"works until" in response.content
    old.refresh_from_db()
    assert timedelta(hours=23, minutes=59) < old.expires_at - timezone.now() <= timedelta(hours=24)
    assert raw_key.encode() not in page.get(reverse("api_keys")).content
    entry = AuditLog.objects.get(church=world.church, action="api_key.rotated")
    assert entry.actor == world.admin and entry.data["prefix"] == old.prefix
    # Overlap 0 stops the old key now; a second rotation of the same key is refused with a message.
    other, other_raw = services.api_key_create(church=world.church, acting_user=None, name="Now")
    page.post(reverse("api_key_rotate", args=[other.pk]), {"overlap_hours": "0"})
    assert_error_shape(bearer(other_raw).get("/api/v1/church"), 401)
    response = page.post(reverse("api_key_rotate", args=[old.pk]), {"overlap_hours": "24"}, follow=True)
    assert b"already rotated" in response.content
    # Another church's key is a 404; staff may not rotate.
    theirs, _ = services.api_key_create(church=other_world.church, acting_user=None, name="theirs")
    assert page.post(reverse("api_key_rotate", args=[theirs.pk]), {"overlap_hours": "24"}).status_code == 404
    assert world.page_client(Role.STAFF).post(reverse("api_key_rotate", args=[new.pk]), {}).status_code == 403
