import pytest
from django.core.management import call_command
from django.urls import reverse

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
    from rest_framework.test import APIClient

    client = APIClient()
    for header in (f"Bearer {raw_key}", "Bearer kn_nope_nope", "Bearer garbage", f"Bearer {raw_key[:-2]}xx"):
        client.credentials(HTTP_AUTHORIZATION=header)
        assert_error_shape(client.get("/api/v1/church"), 401)
    client.credentials()
    assert_error_shape(client.get("/api/v1/church"), 401, "not_authenticated")
    assert AuditLog.objects.filter(action="api_key.revoked").exists()


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
