"""/api/v1/members/import: upload a CSV, poll the job, fetch the rejected rows."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from churches.models import ConsentEvent, GroupMembership, ImportJob, Member, Role, SmsStatus
from tests.conftest import assert_error_shape, assert_other_church_404, assert_role_refused
from tests.factories import BranchFactory, GroupFactory, MemberFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/members/import"
CSV = (
    "First Name,Last Name,Cell Phone,Email\n"
    "Ruth,Miller,(312) 555-0101,ruth@example.test\n"
    "Boaz,Miller,312.555.0102,\n"
    "Bad,Phone,(800) 555-1234,\n"
)


def _upload(client, text=CSV, **fields):
    return client.post(URL, {"file": SimpleUploadedFile("members.csv", text.encode()), **fields}, format="multipart")


def test_upload_starts_a_job_that_runs_and_can_be_polled(world, django_capture_on_commit_callbacks):
    youth = GroupFactory(church=world.church)
    north = BranchFactory(church=world.church)
    opted_out = MemberFactory(church=world.church, phone="+13125550102", sms_status=SmsStatus.UNSUBSCRIBED)
    client = world.api_client(Role.STAFF)
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client, consent="Connect card sign-up", group_id=youth.pk, branch_id=north.pk)
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["status"] == "queued" and job["total_rows"] == 3 and job["mapping"]["phone"] == 2
    assert job["group_id"] == youth.pk and job["branch_id"] == north.pk

    polled = client.get(f"{URL}/{job['id']}").json()
    assert polled["status"] == "done" and polled["percent"] == 100 and polled["processed_rows"] == 3
    assert (polled["created"], polled["rejected"]) == (1, 2)  # toll-free, and the opted-out member
    ruth = Member.objects.get(church=world.church, first_name="Ruth")
    assert ruth.sms_status == SmsStatus.SUBSCRIBED and ruth.branch == north
    assert GroupMembership.objects.filter(group=youth, member=ruth).exists()
    assert ConsentEvent.objects.get(member=ruth).raw_text == "Connect card sign-up"
    opted_out.refresh_from_db()
    assert opted_out.sms_status == SmsStatus.UNSUBSCRIBED

    assert polled["report_url"].endswith(f"/api/v1/members/import/{job['id']}/report")
    report = client.get(f"{URL}/{job['id']}/report")
    assert report.status_code == 200 and report["Content-Type"].startswith("text/csv")
    lines = b"".join(report.streaming_content).decode().splitlines()
    assert lines[0].startswith("Row,Reason,First Name") and len(lines) == 3
    assert [row["id"] for row in client.get(URL).json()["results"]] == [job["id"]]


def test_an_explicit_mapping_is_used(world, django_capture_on_commit_callbacks):
    text = "a,b\n312-555-0111,Naomi\n"
    client = world.api_client(Role.STAFF)
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client, text, consent="Asked in person", mapping='{"phone": 0, "first_name": 1}')
    assert response.status_code == 202, response.content
    assert Member.objects.get(church=world.church).first_name == "Naomi"


def test_bad_uploads_are_400_and_leave_no_job(world, other_world):
    client = world.api_client(Role.STAFF)
    their_group = GroupFactory(church=other_world.church)
    error = assert_error_shape(client.post(URL, {"consent": "x"}, format="multipart"), 400, "validation_error")
    assert "file" in error["details"]
    error = assert_error_shape(_upload(client), 400, "validation_error")
    assert "consent" in error["details"]
    error = assert_error_shape(_upload(client, "Name,Notes\nRuth,hi\n", consent="x"), 400, "no_phone_column")
    assert "mapping" in error["details"]
    assert_error_shape(_upload(client, consent="x", mapping='{"phone": 99}'), 400)
    assert_error_shape(_upload(client, consent="x", mapping='{"shoe": 1, "phone": 2}'), 400)
    error = assert_error_shape(_upload(client, consent="x", mapping="[2]"), 400, "validation_error")
    assert "mapping" in error["details"]
    assert_error_shape(_upload(client, consent="x", mapping="{not json"), 400, "validation_error")
    error = assert_error_shape(_upload(client, consent="x", group_id=their_group.pk), 400)
    assert error["details"] == {"group_id": ["Unknown group."]}
    assert_error_shape(_upload(client, "\xff\xfeoops", consent="x"), 400)
    assert_error_shape(client.post(URL, {"consent": "x"}, format="json"), 415, "unsupported_media_type")
    assert not ImportJob.objects.exists()


def test_imports_need_staff_and_other_churches_jobs_are_404(world, other_world, django_capture_on_commit_callbacks):
    viewer = world.api_client(Role.VIEWER)
    assert_role_refused(viewer, URL, "post", {})
    assert_error_shape(viewer.get(URL), 403, "permission_denied")
    with django_capture_on_commit_callbacks(execute=True):
        theirs = _upload(other_world.api_client(Role.STAFF), consent="x").json()
    client = world.api_client(Role.ADMIN)
    assert_other_church_404(client, f"{URL}/{theirs['id']}")
    assert_other_church_404(client, f"{URL}/{theirs['id']}/report")
    assert client.get(URL).json()["results"] == []


@pytest.mark.parametrize("rows", [3, 30])
def test_job_list_runs_in_fixed_queries(world, rows, django_assert_max_num_queries):
    ImportJob.objects.bulk_create(
        [ImportJob(church=world.church, file_name=f"f{i}.csv", content="phone\n") for i in range(rows)]
    )
    client = world.api_client(Role.STAFF)
    with django_assert_max_num_queries(3):  # key, last-used stamp, page
        body = client.get(f"{URL}?page_size=100").json()
    assert len(body["results"]) == rows
