"""CSV import through its pages and its background task: mapping guess, preview, run, progress, report,
idempotence, consent rules, plan limits and bad input."""

import csv
import html
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse

from churches import imports
from churches.imports import run as import_run
from churches.models import ConsentEvent, Group, GroupMembership, ImportJob, Member, Role, SmsStatus
from koinonia import policy
from koinonia.exceptions import BusinessRuleError
from tests.factories import BranchFactory, MemberFactory

pytestmark = pytest.mark.django_db

HEADER = "First Name,Last Name,Cell Phone,E-mail,Group\n"


def csv_bytes(*lines: str, header: str = HEADER) -> bytes:
    return (header + "".join(f"{line}\n" for line in lines)).encode()


def upload(client, data: bytes, name: str = "members.csv"):
    return client.post(reverse("member_import"), {"file": SimpleUploadedFile(name, data, content_type="text/csv")})


def start(client, job: ImportJob, capture, consent="Connect card sign-up", **extra):
    data = {f"column_{column}": field for field, column in job.mapping.items()}
    data.update(consent_text=consent, **extra)
    with capture(execute=True):
        response = client.post(reverse("member_import_job", args=[job.pk]), data)
    job.refresh_from_db()
    return response


def import_file(world, capture, data: bytes, **extra) -> ImportJob:
    client = world.page_client(Role.STAFF)
    response = upload(client, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    job = ImportJob.objects.latest("pk")
    response = start(client, job, capture, **extra)
    assert response.status_code == 302, response.content.decode()[:2000]
    return job


def report(world, job) -> list[list[str]]:
    response = world.page_client(Role.STAFF).get(reverse("member_import_report", args=[job.pk]))
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.fixture
def member_limit():
    """A plan that allows ``limit[0]`` members, registered the way billing registers its policy."""
    limit = [3]

    class MemberLimit(policy.PermissivePolicy):
        def check(self, *, church, resource, adding=1, **context):
            if resource == "members" and Member.objects.filter(church=church).count() + adding > limit[0]:
                raise BusinessRuleError(f"Your plan allows {limit[0]} members.", code="plan_limit")

    with policy.registered(MemberLimit()):
        yield limit


# --- Mapping and preview ---------------------------------------------------------------------------


def test_mapping_is_guessed_from_common_headers():
    assert imports.guess_mapping(["First Name", "Last Name", "Mobile", "Cell Phone", "E-mail", "Group"]) == {
        "first_name": 0,
        "last_name": 1,
        "phone": 2,
        "email": 4,
        "groups": 5,
    }
    assert imports.guess_mapping(["Name", "Home Phone", "Cell Phone", "Email Address", "Campus"]) == {
        "full_name": 0,
        "phone": 2,
        "email": 3,
        "branch": 4,
    }
    assert imports.guess_mapping(["Mobile Phone (preferred)", "Nickname"])["phone"] == 0
    assert "phone" not in imports.guess_mapping(["Name", "Email"])


def test_upload_shows_a_preview_with_mapping_and_row_checks(world):
    BranchFactory(church=world.church, name="North")
    data = csv_bytes(
        "Ann,Lee,(312) 555-0101,ann@example.org,Youth,north",
        "Bob,Ray,12345,,,",
        "Cy,Dup,+1 312 555 0101,,,",
        "Di,New,(312) 555-0104,,Choir,South",
        header="First Name,Last Name,Cell Phone,E-mail,Group,Campus\n",
    )
    client = world.page_client(Role.STAFF)
    response = upload(client, data)
    job = ImportJob.objects.get(church=world.church)
    assert response["Location"] == reverse("member_import_job", args=[job.pk])
    assert job.status == ImportJob.Status.PENDING and job.total_rows == 4
    page = client.get(response["Location"])
    body = page.content.decode()
    preview = page.context["preview"]
    assert preview.mapping == {"first_name": 0, "last_name": 1, "phone": 2, "email": 3, "groups": 4, "branch": 5}
    assert [row.problem for row in preview.rows] == [
        "",
        "“12345” is too short to be a phone number.",
        "Same phone number as row 2, which is imported instead.",
        "There is no branch called “South”. Add it on the Branches page first.",
    ]
    assert preview.unknown_branches == ["South"] and preview.new_groups == ["Choir", "Youth"]
    assert 'value="phone" selected' in body and "too short" in body and "South" in body
    assert not Member.objects.exists()  # a preview imports nothing


def test_check_again_previews_a_changed_mapping_without_importing(world):
    client = world.page_client(Role.STAFF)
    upload(client, csv_bytes("Ann,Lee,(312) 555-0101,ann@example.org,", header="A,B,C,D,E\n"))
    job = ImportJob.objects.get()
    assert job.mapping == {}
    response = client.post(
        reverse("member_import_job", args=[job.pk]),
        {"column_2": "phone", "column_0": "first_name", "consent_text": "x", "preview": "1"},
    )
    assert response.status_code == 200 and response.context["preview"].rows[0].problem == ""
    assert not Member.objects.exists()


# --- Running ---------------------------------------------------------------------------------------


def test_background_run_creates_members_with_consent_groups_and_progress(world, django_capture_on_commit_callbacks):
    data = csv_bytes(
        "Ann,Lee,(312) 555-0101,Ann@Example.org,Youth",
        "Bob,Ray,312-555-0102,bob@example.org,Youth; Choir",
        "Cy,Day,312.555.0103,,",
    )
    job = import_file(world, django_capture_on_commit_callbacks, data)
    assert job.status == ImportJob.Status.DONE
    assert (job.created_count, job.updated_count, job.unchanged_count, job.rejected_count) == (3, 0, 0, 0)
    assert (job.processed_rows, job.total_rows, job.percent) == (3, 3, 100)
    ann = Member.objects.get(church=world.church, first_name="Ann")
    assert (ann.phone, ann.email, ann.sms_status, ann.timezone) == (
        "+13125550101",
        "ann@example.org",
        SmsStatus.SUBSCRIBED,
        "America/Chicago",
    )
    events = ConsentEvent.objects.filter(church=world.church)
    assert events.count() == 3
    assert {(e.kind, e.source, e.raw_text, e.actor_id) for e in events} == {
        ("opt_in", "import", "Connect card sign-up", world.staff.pk)
    }
    youth, choir = Group.objects.get(name="Youth"), Group.objects.get(name="Choir")
    assert GroupMembership.objects.filter(group=youth).count() == 2
    assert GroupMembership.objects.filter(group=choir).count() == 1
    status = world.page_client(Role.STAFF).get(reverse("member_import_status", args=[job.pk])).json()
    assert status["status"] == "done" and status["finished"] and status["created"] == 3 and status["percent"] == 100
    result = world.page_client(Role.STAFF).get(reverse("member_import_job", args=[job.pk])).content.decode()
    assert "Finished" in result and "data-import-status-url" not in result


def test_reimporting_the_same_file_changes_nothing(world, django_capture_on_commit_callbacks):
    data = csv_bytes(
        "Ann,Lee,(312) 555-0101,ann@example.org,Youth",
        "Bob,Ray,312-555-0102,,Choir",
        "Bad,Row,555,,",
        "Ann,Again,312 555 0101,,",
    )
    first = import_file(world, django_capture_on_commit_callbacks, data)
    fields = ("first_name", "last_name", "email", "sms_status", "updated_at")
    snapshot = list(Member.objects.order_by("pk").values(*fields))
    counts = (ConsentEvent.objects.count(), GroupMembership.objects.count(), Group.objects.count())
    second = import_file(world, django_capture_on_commit_callbacks, data)
    assert (first.created_count, first.rejected_count) == (2, 2)
    assert (second.created_count, second.updated_count, second.unchanged_count, second.rejected_count) == (0, 0, 2, 2)
    after = list(Member.objects.order_by("pk").values(*fields))
    assert after == snapshot
    assert (ConsentEvent.objects.count(), GroupMembership.objects.count(), Group.objects.count()) == counts


def test_existing_members_are_updated_and_subscribed_with_a_ledger_row(world, django_capture_on_commit_callbacks):
    north = BranchFactory(church=world.church, name="North")
    known = MemberFactory(
        church=world.church, first_name="Old", last_name="Name", email="keep@example.org", phone="+13125550101"
    )
    waiting = MemberFactory(church=world.church, phone="+13125550102", sms_status=SmsStatus.NEVER_CONSENTED)
    data = csv_bytes("New,,(312) 555-0101,,", "Wai,Ting,(312) 555-0102,,")
    job = import_file(world, django_capture_on_commit_callbacks, data, branch=north.pk)
    assert (job.created_count, job.updated_count) == (0, 2)
    known.refresh_from_db()
    waiting.refresh_from_db()
    # Only cells with a value replace what is there; the default branch fills members without one.
    assert (known.first_name, known.last_name, known.email, known.branch) == ("New", "Name", "keep@example.org", north)
    assert known.sms_status == SmsStatus.SUBSCRIBED and not ConsentEvent.objects.filter(member=known).exists()
    assert waiting.sms_status == SmsStatus.SUBSCRIBED
    assert ConsentEvent.objects.get(member=waiting).source == ConsentEvent.Source.IMPORT


def test_opted_out_members_stay_opted_out_and_are_reported(world, django_capture_on_commit_callbacks):
    gone = MemberFactory(church=world.church, first_name="Gone", phone="+13125550101", sms_status="unsubscribed")
    job = import_file(world, django_capture_on_commit_callbacks, csv_bytes("Back,Again,(312) 555-0101,,Youth"))
    gone.refresh_from_db()
    assert gone.sms_status == SmsStatus.UNSUBSCRIBED and gone.first_name == "Gone"
    assert not ConsentEvent.objects.filter(member=gone).exists()
    assert not GroupMembership.objects.filter(member=gone).exists()
    assert job.rejected_count == 1
    assert report(world, job)[1][:2] == ["2", imports.REASON_OPTED_OUT]


def test_report_lists_every_rejected_row_with_its_reason(world, django_capture_on_commit_callbacks, member_limit):
    BranchFactory(church=world.church, name="North")
    member_limit[0] = 2
    data = csv_bytes(
        "Ok,One,(312) 555-0101,,,North",
        "Bad,Phone,(800) 555-1234,,,",
        "Dup,One,312-555-0101,,,",
        "Bad,Email,(312) 555-0104,not-an-email,,",
        "No,Branch,(312) 555-0105,,,South",
        "Ok,Two,(312) 555-0106,,,",
        "Over,Limit,(312) 555-0107,,,",
        "Too,Many,(312) 555-0108,,,,extra",
        ",,,,,",
        header="First Name,Last Name,Cell Phone,E-mail,Group,Branch\n",
    )
    job = import_file(world, django_capture_on_commit_callbacks, data)
    assert (job.created_count, job.rejected_count) == (2, 6)
    rows = report(world, job)
    assert rows[0][:3] == ["Row", "Reason", "First Name"]
    reasons = {row[0]: row[1] for row in rows[1:]}
    assert reasons == {
        "3": "This is a toll-free number; members' own mobile numbers are needed.",
        "4": "Same phone number as row 2, which is imported instead.",
        "5": "“not-an-email” isn't an email address.",
        "6": "There is no branch called “South”. Add it on the Branches page first.",
        "8": "Over the plan's member limit: Your plan allows 2 members.",
        "9": imports.REASON_TOO_MANY_CELLS,
    }
    assert rows[1][2:5] == ["Bad", "Phone", "(800) 555-1234"]  # the original cells, to fix and re-import


def test_plan_limit_admits_what_fits_across_chunks(
    world, django_capture_on_commit_callbacks, member_limit, monkeypatch
):
    monkeypatch.setattr(import_run, "CHUNK_ROWS", 2)
    member_limit[0] = 3
    data = csv_bytes(*(f"P,{i},(312) 555-01{i:02d},," for i in range(6)))
    job = import_file(world, django_capture_on_commit_callbacks, data)
    assert (job.created_count, job.rejected_count) == (3, 3)
    assert Member.objects.filter(church=world.church).count() == 3


def test_a_crash_mid_way_keeps_progress_and_retry_resumes(world, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr(import_run, "CHUNK_ROWS", 2)
    original, calls = import_run._apply_chunk, []

    def crash_on_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("worker lost")
        return original(*args, **kwargs)

    monkeypatch.setattr(import_run, "_apply_chunk", crash_on_second_chunk)
    data = csv_bytes(*(f"P,{i},(312) 555-01{i:02d},," for i in range(5)), "P,dup,(312) 555-0100,,")
    with pytest.raises(RuntimeError):
        import_file(world, django_capture_on_commit_callbacks, data)
    job = ImportJob.objects.get()
    assert (job.status, job.processed_rows, job.created_count) == ("failed", 2, 2)
    status = world.page_client(Role.STAFF).get(reverse("member_import_status", args=[job.pk])).json()
    assert (status["processed"], status["total"], status["percent"]) == (2, 6, 33)
    assert "retry" in status["error"]
    with django_capture_on_commit_callbacks(execute=True):
        world.page_client(Role.STAFF).post(reverse("member_import_retry", args=[job.pk]))
    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.created_count, job.rejected_count) == ("done", 6, 5, 1)
    assert Member.objects.count() == 5 and ConsentEvent.objects.count() == 5
    assert report(world, job)[1][1] == "Same phone number as row 2, which is imported instead."


def test_running_the_task_twice_is_harmless(world, django_capture_on_commit_callbacks):
    from churches.tasks import member_import_run_task

    job = import_file(world, django_capture_on_commit_callbacks, csv_bytes("A,B,(312) 555-0101,,"))
    member_import_run_task.delay(job.pk)
    job.refresh_from_db()
    assert job.created_count == 1 and Member.objects.count() == 1


def test_twenty_percent_garbage_rows(world, django_capture_on_commit_callbacks):
    lines = []
    for i in range(100):
        if i % 5 == 0:
            lines.append(["nonsense", "ÿ¿", f"call me {i}", "@@", ""][i % 4] + ",,x,,")
        else:
            lines.append(f"Name{i},Family,(312) 555-{1000 + i},p{i}@example.org,")
    job = import_file(world, django_capture_on_commit_callbacks, csv_bytes(*lines))
    assert (job.created_count, job.rejected_count, job.processed_rows) == (80, 20, 100)
    assert len(report(world, job)) == 21
    assert Member.objects.filter(church=world.church).count() == 80


# --- Bad files -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("Prénom,Mobile\nRené,3125550101\n".encode("latin-1"), "isn't saved as UTF-8"),
        ("Name,Mobile\nAnn,3125550101\n".encode("utf-16"), "UTF-16"),
        (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 100, "spreadsheet workbook"),
        (b"", "empty"),
        (b"Name,Mobile\n", "no members under it"),
    ],
)
def test_unreadable_files_get_a_clear_message_and_import_nothing(world, data, message):
    response = upload(world.page_client(Role.STAFF), data)
    assert response.status_code == 400
    assert message in html.unescape(response.content.decode())
    assert not ImportJob.objects.exists() and not Member.objects.exists()


@override_settings(MEMBER_IMPORT_MAX_BYTES=1024)
def test_files_over_the_upload_limit_are_refused(world):
    data = csv_bytes(*(f"Person,{i},(312) 555-{1000 + i},," for i in range(60)))
    assert len(data) > 1024
    response = upload(world.page_client(Role.STAFF), data)
    assert response.status_code == 400
    assert "This file is 2 KB; the limit is 1 KB. Split it into smaller files" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_a_file_without_a_phone_column_is_explained_and_cannot_start(world, django_capture_on_commit_callbacks):
    client = world.page_client(Role.STAFF)
    upload(client, b"First Name,Last Name,Email\nAnn,Lee,ann@example.org\n")
    job = ImportJob.objects.get()
    page = client.get(reverse("member_import_job", args=[job.pk])).content.decode()
    assert "couldn't find a column with phone numbers" in page
    response = start(client, job, django_capture_on_commit_callbacks)
    assert response.status_code == 400 and "mobile phone numbers" in response.content.decode()
    assert job.status == ImportJob.Status.PENDING and not Member.objects.exists()


def test_consent_statement_is_required(world, django_capture_on_commit_callbacks):
    client = world.page_client(Role.STAFF)
    upload(client, csv_bytes("A,B,(312) 555-0101,,"))
    job = ImportJob.objects.get()
    response = start(client, job, django_capture_on_commit_callbacks, consent="")
    assert response.status_code == 400 and job.status == ImportJob.Status.PENDING and not Member.objects.exists()


def test_semicolon_files_and_byte_order_marks_are_read(world, django_capture_on_commit_callbacks):
    data = "\ufeffVorname;Nachname;Mobile;Email\nAnna;Schmidt;+49 151 23456789;anna@example.de\n".encode()
    job = import_file(world, django_capture_on_commit_callbacks, data)
    assert job.created_count == 1
    assert Member.objects.get().phone == "+4915123456789"


# --- Access ----------------------------------------------------------------------------------------


def test_import_pages_need_staff_and_hide_other_churches_jobs(world, other_world, django_capture_on_commit_callbacks):
    theirs = import_file(other_world, django_capture_on_commit_callbacks, csv_bytes("A,B,(312) 555-0101,,Bad,x"))
    viewer = world.page_client(Role.VIEWER)
    assert viewer.get(reverse("member_import")).status_code == 403
    assert upload(viewer, csv_bytes("A,B,(312) 555-0101,,")).status_code == 403
    mine = world.page_client(Role.OWNER)
    for name in ("member_import_job", "member_import_status", "member_import_report"):
        assert mine.get(reverse(name, args=[theirs.pk])).status_code == 404, name
        assert viewer.get(reverse(name, args=[theirs.pk])).status_code == 403, name
    assert mine.post(reverse("member_import_job", args=[theirs.pk]), {"consent_text": "x"}).status_code == 404
    assert mine.post(reverse("member_import_retry", args=[theirs.pk])).status_code == 404
    assert theirs.church_id == other_world.church.pk and not Member.objects.filter(church=world.church).exists()
