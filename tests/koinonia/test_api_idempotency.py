"""Idempotency-Key on every API create (koinonia/api/idempotency.py): for each create endpoint, the same
key and body replay the stored answer and create nothing more; the same key with another body is a 422;
keys are per church and per API key; errors store nothing; a lower role is refused before any replay.
Every POST of the URL map is either idempotent or listed here as not a create, with the reason."""

from datetime import time, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from churches import services as church_services
from churches.models import Branch, ConsentEvent, Group, IdempotencyRecord, ImportJob, Member, Role
from churches.tasks import purge_idempotency_records
from conversations.models import CannedReply, ConversationMessage
from koinonia.api.idempotency import RETENTION, is_idempotent
from messaging.broadcasts import services as messaging_services
from messaging.models import Message, MessageTemplate, RecurringMessage, SenderNumber
from tests.conftest import assert_error_shape
from tests.conversations.factories import ConversationFactory
from tests.factories import MemberFactory
from tests.koinonia.api_routes import api_endpoints

pytestmark = pytest.mark.django_db

# POST endpoints that create nothing a retry could duplicate (or, for keys, can't replay), and why.
NOT_CREATES = {
    "api-key-list": "creates a key whose secret is never stored, so no answer could be replayed",
    "api-key-rotate": "as creating a key: the new secret is never stored",
    "api-key-revoke": "revoking twice is the same as once",
    "message-preview": "computes, writes nothing",
    "message-cancel": "cancelling twice is the same as once",
    "message-approve": "a decided message refuses a second decision (409); approving never sends twice",
    "message-reject": "a decided message refuses a second decision (409)",
    "recurring-message-preview": "computes, writes nothing",
    "recurring-message-pause": "pausing twice is the same as once",
    "recurring-message-resume": "resuming twice is the same as once",
    "group-members": "adding members already in the group adds nothing",
    "group-members-remove": "removing twice is the same as once",
    "conversation-read": "marking read twice is the same as once",
    "webhook-endpoint-rotate-secret": "as a key: each rotation makes a new secret, and the new one is shown once",
    "webhook-endpoint-redeliver": "another attempt of the same event (same webhook-id): receivers dedupe on it",
    "webhook-endpoint-test": "a test event writes nothing the church keeps",
    "consent-review-confirm": "a decided review refuses a second decision (409)",
    "consent-review-dismiss": "a decided review refuses a second decision (409)",
}


def test_every_post_is_idempotent_or_declared_not_a_create():
    undecided = []
    for endpoint in api_endpoints():
        if endpoint.method != "POST" or endpoint.name in NOT_CREATES:
            continue
        handler = getattr(endpoint.view_class, endpoint.action or "post")
        if not is_idempotent(handler):
            undecided.append(str(endpoint))
    assert not undecided, "POST endpoints without @idempotent (or a NOT_CREATES reason):\n" + "\n".join(undecided)


@pytest.fixture
def setting(world, other_world, settings, django_capture_on_commit_callbacks):
    """What the create endpoints need: a sending number, members, a failed broadcast, a thread."""
    for church, number in ((world.church, "+13125550100"), (other_world.church, "+13125550199")):
        church.quiet_hours_start = church.quiet_hours_end = time(0, 0)  # no quiet hours: the texts go now
        church.save(update_fields=["quiet_hours_start", "quiet_hours_end"])
        SenderNumber.objects.create(church=church, phone_number=number, provider="console")
        MemberFactory.create_batch(2, church=church)
    settings.CONSOLE_SMS_FAILURE_RATE = 1.0
    with django_capture_on_commit_callbacks(execute=True):
        failed = messaging_services.message_send(church=world.church, author=None, body="Hi", audience={"all": True})
    settings.CONSOLE_SMS_FAILURE_RATE = 0.0
    failed.refresh_from_db()
    assert failed.failed_count == 2
    return {
        "member": Member.objects.for_church(world.church).first(),
        "failed": failed,
        "thread": ConversationFactory(church=world.church),
    }


PHONES = {"Alpha": "+13125550201", "Beta": "+13125550202", "Gamma": "+13125550203"}


def member_body(word):
    return {"first_name": word, "phone": PHONES[word], "consent": "Connect card"}


def upload(word):
    text = f"First Name,Last Name,Mobile\n{word},Miller,{PHONES[word]}\n"
    return {"file": SimpleUploadedFile("members.csv", text.encode()), "consent": "Connect card sign-up"}


def recurring_body(word):
    start = (timezone.localdate() + timedelta(days=7)).isoformat()
    return {
        "name": word,
        "body": "Service at 10",
        "audience": {"all": True},
        "frequency": "weekly",
        "weekdays": [6],
        "time_of_day": "09:00",
        "start_date": start,
    }


# name → (url, the body for a word (None: no body), the rows it creates, multipart). Each word makes a
# different request; the same word, the same request.
CREATES = {
    "branches": (lambda s: "/api/v1/branches", lambda w: {"name": w}, Branch, False),
    "groups": (lambda s: "/api/v1/groups", lambda w: {"name": w}, Group, False),
    "members": (lambda s: "/api/v1/members", member_body, Member, False),
    "members-bulk": (
        lambda s: "/api/v1/members/bulk",
        lambda w: {"members": [member_body(w)], "consent": "Connect card"},
        Member,
        False,
    ),
    "member-consent": (
        lambda s: f"/api/v1/members/{s['member'].pk}/consent",
        lambda w: {"kind": "opt_in", "source": "web_form", "evidence": w},
        ConsentEvent,
        False,
    ),
    "member-import": (lambda s: "/api/v1/members/import", upload, ImportJob, True),
    "messages": (lambda s: "/api/v1/messages", lambda w: {"body": w, "audience": {"all": True}}, Message, False),
    "messages-resend-failed": (lambda s: f"/api/v1/messages/{s['failed'].pk}/resend-failed", None, Message, False),
    "templates": (lambda s: "/api/v1/templates", lambda w: {"name": w, "body": "Hi"}, MessageTemplate, False),
    "recurring-messages": (lambda s: "/api/v1/recurring-messages", recurring_body, RecurringMessage, False),
    "conversation-reply": (
        lambda s: f"/api/v1/conversations/{s['thread'].pk}/reply",
        lambda w: {"body": w},
        ConversationMessage,
        False,
    ),
    "conversation-notes": (
        lambda s: f"/api/v1/conversations/{s['thread'].pk}/notes",
        lambda w: {"body": w},
        ConversationMessage,
        False,
    ),
    "canned-replies": (
        lambda s: "/api/v1/canned-replies",
        lambda w: {"title": w, "body": "Thanks!"},
        CannedReply,
        False,
    ),
}


def send(client, url, body, key, multipart=False):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    if multipart:
        return client.post(url, body, format="multipart", **headers)
    return client.post(url, body if body is not None else {}, format="json", **headers)


def rows(model, church) -> int:
    return model.objects.for_church(church).count()


@pytest.mark.parametrize("name", sorted(CREATES))
def test_create_replays_the_same_request_and_refuses_a_different_one(name, world, other_world, setting):
    url_for, body_for, model, multipart = CREATES[name]
    url = url_for(setting)

    def body(word):
        return body_for(word) if body_for else None

    client = world.api_client(Role.STAFF)
    key = f"{name}-7f9c2b"
    before = rows(model, world.church)

    first = send(client, url, body("Alpha"), key, multipart)
    assert 200 <= first.status_code < 300, first.content
    assert "Idempotent-Replayed" not in first.headers
    created = rows(model, world.church)
    assert created > before

    # A retry (a timeout, a dropped connection): the same key and body replay the answer.
    again = send(client, url, body("Alpha"), key, multipart)
    assert again.status_code == first.status_code
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert rows(model, world.church) == created

    # The same key, another request (another body; for a bodiless create, another endpoint): 422.
    if body_for:
        other = send(client, url, body("Beta"), key, multipart)
    else:
        other = send(client, "/api/v1/messages", {"body": "Hi", "audience": {"all": True}}, key)
    error = assert_error_shape(other, 422, "idempotency_key_reused")
    assert "Idempotency-Key" in error["details"]
    assert rows(model, world.church) == created

    # Another key of the same church, and another church's key: never answered from this key's record.
    for other_client in (world.api_client(Role.STAFF), other_world.api_client(Role.STAFF)):
        response = send(other_client, url, body("Gamma"), key, multipart)
        assert "Idempotent-Replayed" not in response.headers
        if response.status_code < 300:
            assert response.json() != first.json()

    # A lower role is refused before any replay: a stored answer is no way around permissions.
    assert_error_shape(send(world.api_client(Role.VIEWER), url, body("Alpha"), key, multipart), 403)


def test_a_multipart_retry_with_the_same_file_is_replayed(world, django_capture_on_commit_callbacks):
    client = world.api_client(Role.STAFF)
    text = b"First Name,Last Name,Mobile\nRuth,Miller,+13125550142\n"

    def post(content, key="import-1"):
        body = {"file": SimpleUploadedFile("members.csv", content), "consent": "Connect card sign-up"}
        return client.post("/api/v1/members/import", body, format="multipart", HTTP_IDEMPOTENCY_KEY=key)

    first = post(text)
    assert first.status_code == 202, first.content
    again = post(text)
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert ImportJob.objects.for_church(world.church).count() == 1
    # Another file under the same key (same name, same size, other bytes) is another request.
    changed = text.replace(b"Ruth", b"Rosa")
    assert_error_shape(post(changed), 422, "idempotency_key_reused")


def test_an_error_stores_nothing_so_a_corrected_retry_goes_through(world):
    client = world.api_client(Role.STAFF)
    headers = {"HTTP_IDEMPOTENCY_KEY": "branch-1"}
    assert_error_shape(client.post("/api/v1/branches", {"name": ""}, format="json", **headers), 400)
    Branch.objects.create(church=world.church, name="North")
    assert_error_shape(client.post("/api/v1/branches", {"name": "North"}, format="json", **headers), 409)
    assert not IdempotencyRecord.objects.for_church(world.church).exists()
    response = client.post("/api/v1/branches", {"name": "South"}, format="json", **headers)
    assert response.status_code == 201
    assert IdempotencyRecord.objects.for_church(world.church).get().status_code == 201


def test_without_a_key_nothing_is_stored_and_a_retry_creates_again(world):
    client = world.api_client(Role.STAFF)
    for title in ("A", "B"):
        assert client.post("/api/v1/canned-replies", {"title": title, "body": "x"}, format="json").status_code == 201
    assert not IdempotencyRecord.objects.for_church(world.church).exists()


def test_trailing_slash_is_the_same_request_and_bad_keys_are_400(world):
    client = world.api_client(Role.STAFF)
    first = client.post("/api/v1/groups", {"name": "Youth"}, format="json", HTTP_IDEMPOTENCY_KEY="g1")
    again = client.post("/api/v1/groups/", {"name": "Youth"}, format="json", HTTP_IDEMPOTENCY_KEY="g1")
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    for bad in ("k" * 129, "tab\there"):
        error = assert_error_shape(
            client.post("/api/v1/groups", {"name": "Choir"}, format="json", HTTP_IDEMPOTENCY_KEY=bad), 400
        )
        assert "Idempotency-Key" in error["details"]
    assert not Group.objects.for_church(world.church).filter(name="Choir").exists()


def test_sessions_are_keyed_per_person(world):
    owner, admin = world.session_api_client(Role.OWNER), world.session_api_client(Role.ADMIN)
    # Sessions need the CSRF token only with enforce_csrf_checks; the test client skips it.
    first = owner.post("/api/v1/templates", {"name": "Welcome", "body": "Hi"}, format="json", HTTP_IDEMPOTENCY_KEY="t")
    assert first.status_code == 201
    again = owner.post("/api/v1/templates", {"name": "Welcome", "body": "Hi"}, format="json", HTTP_IDEMPOTENCY_KEY="t")
    assert again.headers["Idempotent-Replayed"] == "true"
    theirs = admin.post("/api/v1/templates", {"name": "Other", "body": "Hi"}, format="json", HTTP_IDEMPOTENCY_KEY="t")
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers


def test_answers_expire_after_the_retention_period(world):
    client = world.api_client(Role.STAFF)
    headers = {"HTTP_IDEMPOTENCY_KEY": "tpl"}
    first = client.post("/api/v1/templates", {"name": "A", "body": "Hi"}, format="json", **headers)
    assert first.status_code == 201
    record = IdempotencyRecord.objects.for_church(world.church).get()
    assert record.caller.startswith("key:") and record.response_body and record.status_code == 201
    IdempotencyRecord.objects.for_church(world.church).update(created_at=timezone.now() - RETENTION)
    # Expired: the key is free again (even before the hourly purge), so the request is processed anew.
    again = client.post("/api/v1/templates", {"name": "B", "body": "Hi"}, format="json", **headers)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert MessageTemplate.objects.for_church(world.church).count() == 2
    IdempotencyRecord.objects.for_church(world.church).update(created_at=timezone.now() - RETENTION)
    fresh = client.post("/api/v1/templates", {"name": "C", "body": "Hi"}, format="json", HTTP_IDEMPOTENCY_KEY="new")
    assert fresh.status_code == 201
    assert purge_idempotency_records() == 1
    assert list(IdempotencyRecord.objects.for_church(world.church).values_list("key", flat=True)) == ["new"]


def test_the_stored_answer_is_encrypted_at_rest(world):
    from django.db import connection

    client = world.api_client(Role.STAFF)
    response = client.post(
        "/api/v1/members",
        {"first_name": "Ruth", "phone": "+13125550142", "email": "ruth@example.org"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="m1",
    )
    assert response.status_code == 201
    with connection.cursor() as cursor:
        cursor.execute("SELECT response_body, fingerprint, key FROM churches_idempotencyrecord")
        (raw,) = cursor.fetchall()
    assert "3125550142" not in "".join(raw) and "ruth@" not in "".join(raw)


def test_concurrent_duplicates_create_once(world, postgres_only, live_server):
    """Two requests with the same key at once: one creates, the other waits on the claimed key and replays."""
    import threading

    import requests

    _, raw_key = church_services.api_key_create(church=world.church, acting_user=None, name="t", role=Role.STAFF)
    barrier = threading.Barrier(4)
    answers = []

    def post():
        barrier.wait(timeout=10)
        answers.append(
            requests.post(
                f"{live_server.url}/api/v1/branches",
                json={"name": "North"},
                headers={"Authorization": f"Bearer {raw_key}", "Idempotency-Key": "race"},
                timeout=30,
            )
        )

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(a.status_code for a in answers) == [201, 201, 201, 201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 3
    assert Branch.objects.for_church(world.church).filter(name="North").count() == 1


def test_the_schema_documents_the_header_on_every_create(client):
    paths = client.get("/api/v1/schema/?format=json").json()["paths"]
    documented = {
        (method.upper(), path)
        for path, operations in paths.items()
        for method, operation in operations.items()
        if any(p.get("name") == "Idempotency-Key" for p in operation.get("parameters", []))
    }
    assert all(method == "POST" for method, _ in documented)
    # Webhook endpoints (admins only) are tested in tests/integrations/test_api.py.
    assert len(documented) == len(CREATES) + 1 and ("POST", "/api/v1/webhook-endpoints/") in documented
    for path in ("/api/v1/members/bulk/", "/api/v1/conversations/{id}/reply/", "/api/v1/canned-replies/"):
        assert ("POST", path) in documented
