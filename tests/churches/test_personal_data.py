"""No plaintext personal data at rest (docs/security.md).

The bar: after an import, a broadcast, inbound texts and a failed task, a dump of the database finds
no member's phone number in any format and no member's email anywhere — except the users table, which
holds staff logins (accounts, not congregation data). Then the pieces: import files encrypted while a
job runs and dropped when it is done, rejected rows kept encrypted until the retention period ends,
members' emails encrypted (and still found by the search), key rotation over all of it, and the data
migration that encrypts what older versions stored in the clear.
"""

import io
import logging
import subprocess
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from churches import imports, selectors, services
from churches.crypto import decrypt, email_local_hash, needs_rotation
from churches.models import ImportJob, ImportRejectedRow, Member, Role
from churches.tasks import purge_import_data
from conversations.models import Conversation, ConversationMessage
from koinonia.exceptions import BusinessRuleError
from koinonia.models import TaskFailure
from messaging.broadcasts import services as messaging_services
from messaging.broadcasts.tasks import send_welcome
from messaging.models import Message, ProviderEvent, Recipient, SenderNumber
from tests.churches.test_import import csv_bytes, import_file, report
from tests.conversations.conftest import CHURCH_NUMBER, PUBLIC_BASE, Hooks
from tests.factories import MemberFactory
from tests.fakes.telnyx import FakeTelnyx

OLD_KEY = "aW5zZWN1cmUtZGV2LWtleS0wMDAwMDAwMDAwMDAwMDA="  # the settings' default
NEW_KEY = "bmV3LWtleS1mb3ItdGhlLXJvdGF0aW9uLXRlc3QtMDE="

HEADER = "First Name,Last Name,Mobile,Email\n"
# (row cells, E.164): imported members, and rows the import rejects (kept, encrypted, for the report).
MEMBERS = [
    ("Ann,Baker,(312) 555-0142,ann.baker@example.org", "+13125550142"),
    ("Bob,Carter,312-555-0143,bob.carter@example.org", "+13125550143"),
    ("Cy,Dunn,+1 312 555 0144,cy.dunn@example.org", "+13125550144"),
]
REJECTED = [
    ("Bad,Email,312 555 0145,broken@@example.org", "+13125550145"),  # the reason quotes the address
    ("Ann,Again,312.555.0142,ann.again@example.org", None),  # same phone as row 2
    ("No,Phone,12345,no.phone@example.org", None),
]
VISITOR = "+13125550177"  # texts the church without being a member
EMAILS = [
    "ann.baker@example.org",
    "bob.carter@example.org",
    "cy.dunn@example.org",
    "broken@@example.org",
    "ann.again@example.org",
    "no.phone@example.org",
]
PHONES = [e164 for _, e164 in MEMBERS + REJECTED if e164] + [VISITOR]


def phone_formats(e164: str) -> list[str]:
    """Every way a US number may be written: E.164, national digits, (312) 555-0142, 312-555-0142."""
    national = e164[2:]
    area, exchange, line = national[:3], national[3:6], national[6:]
    return [e164, national, f"({area}) {exchange}-{line}", f"{area}-{exchange}-{line}", f"{area}.{exchange}.{line}"]


def needles() -> list[str]:
    return [fmt for e164 in PHONES for fmt in phone_formats(e164)] + EMAILS


def found_in(text: str) -> list[str]:
    lowered = text.lower()
    return [needle for needle in needles() if needle.lower() in lowered]


# --- The scenario ----------------------------------------------------------------------------------


@pytest.fixture
def telnyx(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PUBLIC_BASE_URL = PUBLIC_BASE  # status callbacks the fake posts go nowhere; we post them
    with FakeTelnyx() as fake:
        fake.point_settings_at(settings)
        yield fake


def run_the_day(world, telnyx, capture) -> None:
    """An import (with rejected rows), the welcome texts it triggers, a broadcast with delivery
    receipts, inbound texts from members and a stranger, and two failed tasks."""
    church = world.church
    church.welcome_text = "Welcome to Grace! Reply STOP to opt out."
    church.quiet_hours_start = church.quiet_hours_end = timezone.datetime.min.time()  # never quiet
    church.save()
    SenderNumber.objects.create(church=church, phone_number=CHURCH_NUMBER, provider="telnyx")

    # 1. An import: three members (welcomed by text), three rows rejected.
    job = import_file(world, capture, csv_bytes(*(row for row, _ in MEMBERS + REJECTED), header=HEADER))
    assert job.status == ImportJob.Status.DONE, job.error_message
    assert (job.created_count, job.rejected_count) == (3, 3)
    rows = report(world, job)
    assert rows[0] == ["Row", "Reason", "First Name", "Last Name", "Mobile", "Email"]
    assert [row[0] for row in rows[1:]] == ["5", "6", "7"]
    assert rows[1][1:] == ["“broken@@example.org” isn't an email address.", *REJECTED[0][0].split(",")]
    assert rows[2][1] == "Same phone number as row 2, which is imported instead."

    # 2. A broadcast to everyone, and the carrier's receipts through the real webhook view.
    hooks = Hooks(telnyx=telnyx)
    with capture(execute=True):
        message = messaging_services.message_send(
            church=church, author=world.staff, body="Hi {first_name}, see you Sunday!", audience={"all": True}
        )
    message.refresh_from_db()
    assert message.status == Message.Status.SENT and message.sent_count == 3, message.status_detail
    for sent in telnyx.sent_messages:
        body, headers = telnyx.status_webhook(sent, status="delivered", error_code=None, occurred_at=timezone.now())(1)
        assert hooks.post_telnyx(body, headers).status_code == 200
    assert Recipient.objects.filter(message=message, status=Recipient.Status.DELIVERED).count() == 3

    # 3. Inbound texts: a member's reply, an opt-out, a stranger.
    for sender, text in (("+13125550142", "Thank you, see you there"), ("+13125550143", "STOP"), (VISITOR, "Hi?")):
        response, _ = hooks.telnyx_text(sender, text)
        assert response.status_code == 200
    assert ConversationMessage.objects.filter(church=church, direction="inbound").count() == 3
    assert Conversation.objects.filter(church=church, member=None).count() == 1
    assert Member.objects.get(church=church, first_name="Bob").sms_status == "unsubscribed"

    # 4. Failed tasks whose arguments and errors carry a phone and an email.
    for bad in ("(312) 555-0143", "ann.baker@example.org"):
        assert send_welcome.apply(args=[church.pk, [bad]], throw=False).failed()
    assert TaskFailure.objects.count() == 2
    assert ProviderEvent.objects.count() >= 6  # receipts and inbound texts, stored as received


def sqlite_or_orm_scan() -> str:
    """Every row of every table as text (the users table aside), read with plain SQL."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            if table == "churches_user":
                continue
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            chunks.extend(f"{table}: {row!r}" for row in cursor.fetchall())
    return "\n".join(chunks)


@pytest.mark.django_db(transaction=True)
def test_a_dump_after_a_busy_day_holds_no_phone_number_or_email(postgres_only, world, telnyx, caplog):
    """PostgreSQL: pg_dump of the test database (committed data), the users table excluded."""
    caplog.set_level(logging.INFO)
    from django.test import TestCase

    run_the_day(world, telnyx, TestCase.captureOnCommitCallbacks)
    db = connection.settings_dict
    command = ["pg_dump", "--data-only", "--no-owner", "--exclude-table-data=churches_user", db["NAME"]]
    for option, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if db.get(key):
            command[1:1] = [option, str(db[key])]
    env = {"PGPASSWORD": db.get("PASSWORD") or "", "PATH": "/usr/bin:/bin:/usr/local/bin"}
    dump = subprocess.run(command, capture_output=True, text=True, check=True, env=env, timeout=120).stdout
    assert "COPY public.churches_member" in dump and "COPY public.churches_importrejectedrow" in dump
    assert "ann.baker@example.org" in "".join(Member.objects.values_list("email", flat=True))  # the ORM decrypts
    assert found_in(dump) == []
    assert found_in(sqlite_or_orm_scan()) == []
    assert found_in("\n".join(record.getMessage() for record in caplog.records)) == []


@pytest.mark.django_db(transaction=True)
def test_no_table_holds_a_phone_number_or_email_after_a_busy_day(world, telnyx, caplog):
    """Both backends: every table read row by row (SQLite has no pg_dump)."""
    caplog.set_level(logging.INFO)
    from django.test import TestCase

    run_the_day(world, telnyx, TestCase.captureOnCommitCallbacks)
    scan = sqlite_or_orm_scan()
    assert "churches_importrejectedrow" in scan and "churches_member" in scan
    assert found_in(scan) == []
    assert found_in("\n".join(record.getMessage() for record in caplog.records)) == []
    # The needles do find plaintext when it is there: the test can fail.
    assert found_in(scan + " (312) 555-0142 ANN.BAKER@example.org") == ["(312) 555-0142", "ann.baker@example.org"]


# --- Import files ------------------------------------------------------------------------------------


def raw(table: str, column: str, pk: int):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def upload_only(world, data: bytes) -> ImportJob:
    from tests.churches.test_import import upload

    response = upload(world.page_client(Role.STAFF), data)
    assert response.status_code == 302
    return ImportJob.objects.latest("pk")


FILE = csv_bytes(*(row for row, _ in MEMBERS + REJECTED), header=HEADER)


@pytest.mark.django_db
def test_the_file_is_encrypted_while_the_import_waits_and_dropped_when_it_is_done(
    world, django_capture_on_commit_callbacks
):
    job = upload_only(world, FILE)
    stored = raw("churches_importjob", "content", job.pk)
    assert found_in(stored) == [] and decrypt(stored) == FILE.decode()
    assert imports.member_import_preview(job=job).rows[0].cells == [
        "Ann",
        "Baker",
        "(312) 555-0142",
        "ann.baker@example.org",
    ]

    job = import_file(world, django_capture_on_commit_callbacks, FILE)
    assert job.status == ImportJob.Status.DONE and job.content is None
    assert raw("churches_importjob", "content", job.pk) is None
    assert job.report_expires_at == job.finished_at + timedelta(days=30)
    for rejected in ImportRejectedRow.objects.filter(job=job):
        for column in ("reason", "cells"):
            assert found_in(raw("churches_importrejectedrow", column, rejected.pk)) == []
    assert found_in(raw("churches_importjob", "report_header", job.pk)) == []
    # The report still reads the rejected rows, as they were in the file.
    assert report(world, job)[1:] == [
        ["5", "“broken@@example.org” isn't an email address.", "Bad", "Email", "312 555 0145", "broken@@example.org"],
        ["6", "Same phone number as row 2, which is imported instead.", *REJECTED[1][0].split(",")],
        ["7", ImportRejectedRow.objects.get(job=job, row_number=7).reason, *REJECTED[2][0].split(",")],
    ]


@pytest.mark.django_db
def test_the_rejected_rows_report_is_deleted_after_the_retention_period(
    world, settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_REPORT_RETENTION_DAYS = 7
    job = import_file(world, django_capture_on_commit_callbacks, FILE)
    assert job.report_expires_at == job.finished_at + timedelta(days=7)
    # The beat runs the purge hourly; before the date it deletes nothing.
    entry = settings.CELERY_BEAT_SCHEDULE["churches-import-purge"]
    assert entry["task"] == purge_import_data.name
    assert purge_import_data.apply().get() == {"report_rows_deleted": 0, "reports_expired": 0, "files_discarded": 0}
    assert len(report(world, job)) == 4

    later = job.finished_at + timedelta(days=7, minutes=1)
    assert imports.member_import_purge_expired(now=later) == {
        "report_rows_deleted": 3,
        "reports_expired": 1,
        "files_discarded": 0,
    }
    job.refresh_from_db()
    assert report(world, job) == [["Row", "Reason"]]
    assert (job.status, job.rejected_count, job.created_count) == (ImportJob.Status.DONE, 3, 3)  # counts stay
    assert imports.member_import_purge_expired(now=later)["report_rows_deleted"] == 0  # twice is harmless


@pytest.mark.django_db
def test_files_of_imports_that_never_finish_are_discarded_after_the_retention_period(world):
    pending = upload_only(world, FILE)
    failed = upload_only(world, FILE)
    ImportJob.objects.filter(pk=failed.pk).update(status=ImportJob.Status.FAILED, error_message="Boom.")
    running = upload_only(world, FILE)
    later = timezone.now() + timedelta(days=31)
    ImportJob.objects.filter(pk=running.pk).update(status=ImportJob.Status.RUNNING, heartbeat_at=later)

    assert imports.member_import_purge_expired(now=later)["files_discarded"] == 2
    for job in (pending, failed):
        job.refresh_from_db()
        assert job.content is None and job.status == ImportJob.Status.FAILED
        assert "deleted because this import was not finished within 30 days" in job.error_message
        with pytest.raises(BusinessRuleError, match="Upload the file again"):
            imports.member_import_retry(church=world.church, job=job, acting_user=world.staff)
    running.refresh_from_db()
    assert running.content == FILE.decode()  # alive: it finishes (and drops the file) on its own


# --- Members' emails -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_member_emails_are_encrypted_and_found_by_search_after_every_kind_of_write(
    world, other_world, django_capture_on_commit_callbacks
):
    church = world.church
    search = lambda q: [m.first_name for m in selectors.member_search(church=church, q=q)]  # noqa: E731

    def stored(member):
        value, hashed = (
            raw("churches_member", "email", member.pk),
            raw("churches_member", "email_local_hash", member.pk),
        )
        assert found_in(value) == [] and "@" not in value
        return decrypt(value), hashed

    ruth = services.member_create(
        church=church, acting_user=None, phone="312-555-0142", first_name="Ruth", email="Ruth@Example.org"
    )
    assert stored(ruth) == ("ruth@example.org", email_local_hash("ruth@example.org"))
    plain = services.member_create(church=church, acting_user=None, phone="312-555-0143", first_name="Boaz")
    assert raw("churches_member", "email", plain.pk) == "" and Member.objects.get(pk=plain.pk).email == ""

    services.member_update(church=church, member=ruth, acting_user=None, email="ruth.m@example.org")
    assert stored(ruth) == ("ruth.m@example.org", email_local_hash("ruth.m@example.org"))
    assert search("ruth.m@exa") == ["Ruth"] and search("ruth@example.org") == []

    services.member_bulk_upsert(
        church=church, acting_user=None, rows=[{"phone": "312-555-0142", "email": "r1@example.org"}]
    )
    assert stored(ruth)[1] == email_local_hash("r1@example.org") and search("R1@EXAMPLE") == ["Ruth"]

    import_file(
        world, django_capture_on_commit_callbacks, csv_bytes("Ruth,,312 555 0142,r2@example.org", header=HEADER)
    )
    assert stored(ruth) == ("r2@example.org", email_local_hash("r2@example.org"))
    assert search("r2@") == ["Ruth"] and search("r2@other.org") == [] and search("r1@example.org") == []
    # Another church's member with the same address is not found.
    MemberFactory(church=other_world.church, first_name="Other", email="r2@example.org")
    assert search("r2@example.org") == ["Ruth"]


# --- Key rotation ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_key_rotation_re_encrypts_import_files_reports_and_emails(world, django_capture_on_commit_callbacks):
    services.member_create(church=world.church, acting_user=None, phone="312-555-0160", email="k@example.org")
    services.member_create(church=world.church, acting_user=None, phone="312-555-0161")  # no email: ""
    done = import_file(world, django_capture_on_commit_callbacks, FILE)
    waiting = upload_only(world, csv_bytes("Zed,Zee,312 555 0170,zed@example.org", header=HEADER))
    columns = [
        ("churches_member", "email"),
        ("churches_importjob", "content"),
        ("churches_importjob", "report_header"),
        ("churches_importrejectedrow", "reason"),
        ("churches_importrejectedrow", "cells"),
    ]

    def stored_values():
        with connection.cursor() as cursor:
            return {(table, column): _fetch(cursor, table, column) for table, column in columns}

    before = stored_values()
    assert all(any(v for v in values) for values in before.values())
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        call_command("rotate_phone_keys", stdout=io.StringIO())
        after = stored_values()
        for key, values in after.items():
            for value in values:
                assert value in (None, "") or not needs_rotation(value), key
        assert "" in after[("churches_member", "email")] and None in after[("churches_importjob", "content")]
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]):  # the old key is gone: all still reads
        assert sorted(Member.objects.exclude(email="").values_list("email", flat=True)) == [
            "ann.baker@example.org", "bob.carter@example.org", "cy.dunn@example.org", "k@example.org"
        ]  # fmt: skip
        waiting.refresh_from_db()
        assert "zed@example.org" in waiting.content
        assert len(list(imports.member_import_report_rows(job=done))) == 4


def _fetch(cursor, table, column):
    cursor.execute(f"SELECT {column} FROM {table}")
    return [row[0] for row in cursor.fetchall()]


# --- The data migration ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_what_older_versions_stored_in_the_clear(world):
    """Rows written by the schema before 0005/0006 (file, reasons and emails in the clear) are
    encrypted, and a finished import keeps only its header and rejected rows."""
    from django.db.migrations.executor import MigrationExecutor

    before = ("churches", "0004_member_name_prefix_indexes")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    try:
        old = MigrationExecutor(connection).loader.project_state([before]).apps
        OldMember, OldJob, OldRow = (
            old.get_model("churches", name) for name in ("Member", "ImportJob", "ImportRejectedRow")
        )
        text = FILE.decode()
        member = OldMember.objects.create(
            church_id=world.church.pk,
            first_name="Ann",
            phone="+13125550142",
            phone_hash="h1",
            email="ann.baker@example.org",
        )
        blank = OldMember.objects.create(church_id=world.church.pk, phone="+13125550143", phone_hash="h2")
        finished_at = timezone.now() - timedelta(days=2)
        done = OldJob.objects.create(church_id=world.church.pk, content=text, status="done", finished_at=finished_at)
        OldRow.objects.create(
            church_id=world.church.pk, job=done, row_number=5, reason="“broken@@example.org” isn't an email address."
        )
        waiting = OldJob.objects.create(church_id=world.church.pk, content=text, status="pending")
        assert found_in(sqlite_or_orm_scan()) != []  # the old schema's plaintext, for the scan to miss later
    finally:
        # Forward to every app's latest migration (not just 0006): later tests need the whole schema.
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    assert found_in(sqlite_or_orm_scan()) == []
    assert Member.objects.get(pk=member.pk).email == "ann.baker@example.org"
    assert Member.objects.get(pk=blank.pk).email == ""
    assert selectors.member_search(church=world.church, q="ann.baker@").get().pk == member.pk
    done = ImportJob.objects.get(pk=done.pk)
    assert done.content is None and done.report_expires_at == finished_at + timedelta(days=30)
    assert list(imports.member_import_report_rows(job=done)) == [
        ["Row", "Reason", "First Name", "Last Name", "Mobile", "Email"],
        ["5", "“broken@@example.org” isn't an email address.", "Bad", "Email", "312 555 0145", "broken@@example.org"],
    ]
    assert ImportJob.objects.get(pk=waiting.pk).content == text


@pytest.mark.django_db
def test_key_rotation_also_encrypts_plaintext_left_by_older_schemas(world):
    """ProviderEvent.payload became encrypted by a type change only (messaging 0002): rows stored
    before it, like any value loaded around the ORM, are plaintext until the command encrypts them."""
    event = ProviderEvent.objects.create(provider="telnyx", event_id="e1", event_type="message.received", payload={})
    member = MemberFactory(church=world.church, email="")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE messaging_providerevent SET payload = %s WHERE id = %s",
            ['{"from": {"phone_number": "+13125550142"}, "text": "hi"}', event.pk],
        )
        cursor.execute("UPDATE churches_member SET email = %s WHERE id = %s", ["ann.baker@example.org", member.pk])
    assert found_in(sqlite_or_orm_scan()) == ["+13125550142", "3125550142", "ann.baker@example.org"]

    out = io.StringIO()
    call_command("rotate_phone_keys", stdout=out)
    assert "messaging.ProviderEvent.payload: encrypted 1 plaintext rows" in out.getvalue()
    assert "churches.Member.email: encrypted 1 plaintext rows" in out.getvalue()
    assert found_in(sqlite_or_orm_scan()) == []
    assert ProviderEvent.objects.get(pk=event.pk).payload == {"from": {"phone_number": "+13125550142"}, "text": "hi"}
    assert Member.objects.get(pk=member.pk).email == "ann.baker@example.org"
    call_command("rotate_phone_keys", stdout=out)  # nothing left to do: safe to re-run
    assert out.getvalue().count("plaintext rows") == 2
