"""An import's life around its run: upload, preview, start, retry, and the rejected-rows report.
Starting and retrying enqueue ``churches.tasks.member_import_run_task``; the task calls ``run``,
which does not import this module (so tasks and services form no cycle)."""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from churches.imports.plan import ImportPlan
from churches.imports.reading import check_upload_size, clean_mapping, decode_csv_bytes, guess_mapping, read_rows
from churches.imports.retention import FILE_DISCARDED, LEASE, report_retention
from churches.models import Branch, Church, Group, ImportJob, ImportRejectedRow, User
from churches.selectors import import_job_get
from koinonia.exceptions import BusinessRuleError

PREVIEW_ROWS = 10

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

    job = import_job_get(church=church, id=job.pk, queryset=ImportJob.objects.select_for_update())
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

    job = import_job_get(church=church, id=job.pk, queryset=ImportJob.objects.select_for_update())
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


_REPORT_BATCH = 2000


def member_import_report_rows(*, job: ImportJob) -> Iterator[list[str]]:
    """The rejected rows as they were in the file, with the row number and the reason in front:
    fix them in a spreadsheet and import the report itself (the extra columns are ignored). Once the
    report has expired (``member_import_purge_expired``) only the header line is left."""
    header = job.report_header
    if header is None:  # not finished: the header is still in the file
        header = read_rows(job.content)[0] if job.content else []
    yield ["Row", "Reason", *header]
    rejected = ImportRejectedRow.objects.for_church(job.church_id).filter(job=job).order_by("row_number", "id")
    # Keyset batches rather than iterator(): no server-side cursor (PgBouncer's transaction pooling can't
    # keep one between transactions) and never the whole report in memory.
    after = Q()
    while True:
        batch = list(rejected.filter(after).values_list("row_number", "id", "reason", "cells")[:_REPORT_BATCH])
        for row_number, _, reason, cells in batch:
            yield [str(row_number), reason, *(spreadsheet_safe(cell) for cell in cells or [])]
        if len(batch) < _REPORT_BATCH:
            return
        last_row, last_id = batch[-1][0], batch[-1][1]
        after = Q(row_number__gt=last_row) | Q(row_number=last_row, id__gt=last_id)
