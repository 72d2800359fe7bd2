"""An import's life around its run: upload, preview, start, retry; the rejected-rows report; and
deleting what imports keep of members' details once it is no longer needed."""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from churches.imports.plan import ImportPlan
from churches.imports.reading import check_upload_size, clean_mapping, decode_csv_bytes, guess_mapping, read_rows
from churches.models import Branch, Church, Group, ImportJob, ImportRejectedRow, User
from koinonia.exceptions import BusinessRuleError

PREVIEW_ROWS = 10
# A run that has shown no sign of life for this long is presumed dead; another worker may take over.
LEASE = timedelta(minutes=2)

# --- Upload, preview, start -----------------------------------------------------------------------


def member_import_upload(*, church: Church, acting_user: User | None, file_name: str, data: bytes) -> ImportJob:
    """Store an uploaded CSV as a pending import with a guessed mapping. Refuses (BusinessRuleError)
    files over the size limit, in the wrong encoding, or without a header and a data row."""
    check_upload_size(len(data))
    text = decode_csv_bytes(data)
    header, rows = read_rows(text)
    if not any(any(cell.strip() for cell in row) for row in rows):
        raise BusinessRuleError("This file has a header row but no members under it.", field="file", code="empty_file")
    return ImportJob.objects.create(
        church=church,
        file_name=(file_name or "members.csv")[:255],
        content=text,
        mapping=guess_mapping(header),
        total_rows=len(rows),
        created_by=acting_user if getattr(acting_user, "pk", None) else None,
    )


@dataclass
class PreviewRow:
    row_number: int
    cells: list[str]
    problem: str = ""


@dataclass
class Preview:
    header: list[str]
    rows: list[PreviewRow]
    total_rows: int
    mapping: dict[str, int]
    unknown_branches: list[str] = field(default_factory=list)
    new_groups: list[str] = field(default_factory=list)


def member_import_preview(*, job: ImportJob, mapping: dict[str, int] | None = None) -> Preview:
    """The first rows as the import would read them, with the problem of each (if any), and the
    branch and group names of the whole file that don't exist yet."""
    header, rows = read_rows(job.content)
    mapping = job.mapping if mapping is None else mapping
    plan = ImportPlan.for_preview(job, header, mapping, rows)
    preview_rows = []
    for index, row in enumerate(rows[:PREVIEW_ROWS]):
        prepared = plan.prepare(index + 2, row) if "phone" in mapping else None
        problem = prepared.reason if prepared is not None else ""
        preview_rows.append(PreviewRow(row_number=index + 2, cells=row, problem=problem or ""))
    return Preview(
        header=header,
        rows=preview_rows,
        total_rows=len(rows),
        mapping=mapping,
        unknown_branches=plan.unknown_branch_names,
        new_groups=plan.new_group_names,
    )


@transaction.atomic
def member_import_start(
    *,
    church: Church,
    job: ImportJob,
    acting_user: User | None,
    mapping: dict[str, int],
    consent_text: str,
    group: Group | None = None,
    branch: Branch | None = None,
) -> ImportJob:
    """Confirm the mapping and consent statement and queue the run (after commit)."""
    from churches.tasks import member_import_run_task

    job = ImportJob.objects.select_for_update().get(church=church, pk=job.pk)
    if job.status != ImportJob.Status.PENDING:
        raise BusinessRuleError("This import has already been started.", code="conflict", status=409)
    header, _ = read_rows(job.content)
    consent_text = (consent_text or "").strip()
    if not consent_text:
        raise BusinessRuleError(
            "Say how these people agreed to receive texts, e.g. “Connect card sign-up”.", field="consent_text"
        )
    for owned, what in ((group, "group"), (branch, "branch")):
        if owned is not None and owned.church_id != church.pk:
            raise BusinessRuleError(f"Unknown {what}.", field=what)
    job.mapping = clean_mapping(mapping, header)
    job.consent_text = consent_text[:2000]
    job.group = group
    job.branch = branch
    job.status = ImportJob.Status.QUEUED
    job.save(update_fields=["mapping", "consent_text", "group", "branch", "status"])
    job_id = job.pk
    transaction.on_commit(lambda: member_import_run_task.delay(job_id))
    return job


@transaction.atomic
def member_import_retry(*, church: Church, job: ImportJob, acting_user: User | None) -> ImportJob:
    """Queue a failed (or stalled) run again; it continues where it stopped."""
    from churches.tasks import member_import_run_task

    job = ImportJob.objects.select_for_update().get(church=church, pk=job.pk)
    stalled = job.status == ImportJob.Status.RUNNING and (
        job.heartbeat_at is None or job.heartbeat_at < timezone.now() - LEASE
    )
    if job.status != ImportJob.Status.FAILED and not stalled:
        raise BusinessRuleError("Only a failed or stalled import can be retried.", code="conflict", status=409)
    if job.content is None:
        raise BusinessRuleError(FILE_DISCARDED.format(days=report_retention().days), code="conflict", status=409)
    job.status = ImportJob.Status.QUEUED
    job.error_message = ""
    job.save(update_fields=["status", "error_message"])
    job_id = job.pk
    transaction.on_commit(lambda: member_import_run_task.delay(job_id))
    return job


# --- Report -----------------------------------------------------------------------------------------


_PHONE_LIKE = re.compile(r"[+\-\d\s().]*")


def spreadsheet_safe(value: str) -> str:
    """Neutralize cells a spreadsheet would run as a formula (CSV injection). Phone-like cells such as
    "+1 312 555 0101" stay as they are: without letters a formula can't call anything."""
    if value[:1] in ("=", "+", "-", "@", "\t", "\r") and not _PHONE_LIKE.fullmatch(value):
        return f"'{value}"
    return value


def member_import_report_rows(*, job: ImportJob) -> Iterator[list[str]]:
    """The rejected rows as they were in the file, with the row number and the reason in front:
    fix them in a spreadsheet and import the report itself (the extra columns are ignored). Once the
    report has expired (``member_import_purge_expired``) only the header line is left."""
    header = job.report_header
    if header is None:  # not finished: the header is still in the file
        header = read_rows(job.content)[0] if job.content else []
    yield ["Row", "Reason", *header]
    rejected = ImportRejectedRow.objects.filter(church=job.church_id, job=job).order_by("row_number")
    for row_number, reason, cells in rejected.values_list("row_number", "reason", "cells").iterator(chunk_size=2000):
        yield [str(row_number), reason, *(spreadsheet_safe(cell) for cell in cells or [])]


# --- Retention ----------------------------------------------------------------------------------------

FILE_DISCARDED = (
    "The uploaded file was deleted because this import was not finished within {days} days "
    "(we don't keep members' details longer than needed). Upload the file again to import it."
)


def report_retention() -> timedelta:
    return timedelta(days=getattr(settings, "IMPORT_REPORT_RETENTION_DAYS", 30))


def member_import_purge_expired(*, now=None) -> dict[str, int]:
    """Delete what imports keep of members' details once it is no longer needed (beat, hourly):

    - the rejected-rows report (its rows and the header) of imports finished more than
      ``IMPORT_REPORT_RETENTION_DAYS`` ago;
    - the file of imports started that long ago that never finished: uploads never confirmed, failed
      runs never retried, runs stalled for good. They are marked failed with the reason.

    Counts and dates stay (they are not personal data). Safe to run twice: each step only touches
    what is still there."""
    now = now or timezone.now()
    cutoff = now - report_retention()
    expired = ImportJob.objects.filter(report_expires_at__lt=now)
    rows_deleted = ImportRejectedRow.objects.filter(job__in=expired.values("pk")).delete()[0]
    reports = expired.exclude(report_header=None).update(report_header=None)
    abandoned = (
        ImportJob.objects.filter(created_at__lt=cutoff)
        .exclude(content=None)
        .exclude(status=ImportJob.Status.DONE)
        # A run that still shows signs of life finishes (and drops the file) on its own.
        .exclude(status=ImportJob.Status.RUNNING, heartbeat_at__gte=now - LEASE)
    )
    abandoned_ids = list(abandoned.values_list("pk", flat=True))
    files = 0
    if abandoned_ids:
        with transaction.atomic():
            ImportRejectedRow.objects.filter(job_id__in=abandoned_ids).delete()
            files = ImportJob.objects.filter(pk__in=abandoned_ids).update(
                content=None,
                report_header=None,
                status=ImportJob.Status.FAILED,
                error_message=FILE_DISCARDED.format(days=report_retention().days),
                finished_at=Coalesce("finished_at", Value(now)),
                report_expires_at=now,
            )
    return {"report_rows_deleted": rows_deleted, "reports_expired": reports, "files_discarded": files}
