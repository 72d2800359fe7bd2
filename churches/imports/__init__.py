"""CSV import of members: upload → column mapping (guessed from the headers) → preview → a set-based
run in the background, with progress, counts and a report of every rejected row.

The run is resumable and idempotent. The file's text lives in the ImportJob row (encrypted: it is a
phone book) until the run is done; then only the header and the rejected rows are kept, encrypted,
for the report, until ``IMPORT_REPORT_RETENTION_DAYS`` have passed. Rows are applied in
chunks, each in one transaction that also advances ``processed_rows`` and the counts, so a worker that
dies mid-way leaves a consistent job that the next run continues. Re-importing the same file changes
nothing: existing members are matched by the phone's blind index and only changed fields are written.

Members are written by the same engine as the API's bulk upsert (``churches/services/upsert.py``),
consent by the one consent writer (``churches/services/consent.py``): the rules live there.

Cost model for a 50k-row file: phone parsing (libphonenumber, pure Python) dominates; the database
work is a handful of statements per 2,000-row chunk (the engine's, plus the progress and the rejected
rows).

The package: ``reading`` (file, mapping, phones), ``plan`` (rows → member fields), ``jobs`` (upload,
preview, start, retry, report, retention) and the run here, at the top, where tests and the bench
tune ``CHUNK_ROWS``. Everything is importable as ``churches.imports.X``.
"""

from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from churches.imports.jobs import (
    FILE_DISCARDED,
    LEASE,
    PREVIEW_ROWS,
    Preview,
    PreviewRow,
    member_import_preview,
    member_import_purge_expired,
    member_import_report_rows,
    member_import_retry,
    member_import_start,
    member_import_upload,
    report_retention,
    spreadsheet_safe,
)
from churches.imports.plan import ImportPlan, ImportRow
from churches.imports.reading import (
    DEFAULT_MAX_BYTES,
    FIELDS,
    HEADER_SYNONYMS,
    REASON_DUPLICATE,
    REASON_NO_PHONE,
    REASON_TOO_MANY_CELLS,
    SAVE_AS_UTF8,
    PhoneReader,
    check_upload_size,
    clean_mapping,
    decode_csv_bytes,
    guess_mapping,
    max_upload_bytes,
    read_rows,
)
from churches.models import ConsentEvent, ImportJob, ImportRejectedRow
from churches.services.upsert import REASON_OPTED_OUT, REASON_OVER_LIMIT, FitToLimit, UpsertConflict, upsert_members

__all__ = [
    "CHUNK_ROWS",
    "DEFAULT_MAX_BYTES",
    "FIELDS",
    "FILE_DISCARDED",
    "HEADER_SYNONYMS",
    "LEASE",
    "PREVIEW_ROWS",
    "REASON_DUPLICATE",
    "REASON_NO_PHONE",
    "REASON_OPTED_OUT",
    "REASON_OVER_LIMIT",
    "REASON_TOO_MANY_CELLS",
    "SAVE_AS_UTF8",
    "PhoneReader",
    "Preview",
    "PreviewRow",
    "check_upload_size",
    "clean_mapping",
    "decode_csv_bytes",
    "guess_mapping",
    "max_upload_bytes",
    "member_import_preview",
    "member_import_purge_expired",
    "member_import_report_rows",
    "member_import_retry",
    "member_import_run",
    "member_import_start",
    "member_import_upload",
    "read_rows",
    "report_retention",
    "spreadsheet_safe",
]

CHUNK_ROWS = 2000


@dataclass
class _ChunkOutcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


def member_import_run(*, job_id: int) -> ImportJob | None:
    """Run (or continue) an import. Safe to call twice, concurrently or after a crash: one worker
    holds the job's lease at a time, and each chunk commits together with the progress that covers
    it. Returns the job, or None if another live worker holds it."""
    if not _claim(job_id):
        return None
    job = ImportJob.objects.select_related("church", "created_by").get(pk=job_id)
    try:
        _run(job)
    except Exception as exc:
        ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(
            status=ImportJob.Status.FAILED,
            error_message=f"The import stopped unexpectedly ({exc.__class__.__name__}). "
            "Members imported so far are kept; retry to continue from where it stopped.",
            finished_at=timezone.now(),
        )
        raise
    job.refresh_from_db()
    return job


def _claim(job_id: int) -> bool:
    now = timezone.now()
    claimable = ImportJob.objects.filter(pk=job_id).filter(
        status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]
    )
    claimable = claimable.exclude(status=ImportJob.Status.RUNNING, heartbeat_at__gte=now - LEASE)
    claimed = claimable.update(status=ImportJob.Status.RUNNING, heartbeat_at=now)
    if claimed:
        ImportJob.objects.filter(pk=job_id, started_at=None).update(started_at=now)
    return bool(claimed)


def _run(job: ImportJob) -> None:
    header, rows = read_rows(job.content)
    plan = ImportPlan(job, header, job.mapping)
    plan.create_missing_groups(rows)
    if job.processed_rows:
        plan.remember_phones(rows, until=job.processed_rows)
    offset = job.processed_rows
    limit = FitToLimit()  # remembers, for the rest of the run, that the plan's member limit was reached
    while offset < len(rows):
        chunk = rows[offset : offset + CHUNK_ROWS]
        prepared = [plan.prepare(offset + i + 2, row) for i, row in enumerate(chunk)]
        for attempt in range(3):
            try:
                with transaction.atomic():
                    _relax_commit_durability()
                    locked = ImportJob.objects.select_for_update().only("status", "processed_rows").get(pk=job.pk)
                    if locked.status != ImportJob.Status.RUNNING or locked.processed_rows != offset:
                        return  # another worker took over after our lease ran out
                    outcome = _apply_chunk(job, [row for row in prepared if row is not None], limit)
                    ImportRejectedRow.objects.bulk_create(
                        [
                            ImportRejectedRow(
                                church_id=job.church_id,
                                job=job,
                                row_number=n,
                                reason=reason[:300],
                                cells=rows[n - 2],  # kept for the report: the file itself is dropped
                            )
                            for n, reason in outcome.rejected
                        ],
                        ignore_conflicts=True,
                    )
                    ImportJob.objects.filter(pk=job.pk).update(
                        processed_rows=offset + len(chunk),
                        total_rows=len(rows),
                        created_count=F("created_count") + outcome.created,
                        updated_count=F("updated_count") + outcome.updated,
                        unchanged_count=F("unchanged_count") + outcome.unchanged,
                        rejected_count=F("rejected_count") + len(outcome.rejected),
                        heartbeat_at=timezone.now(),
                    )
                break
            except (IntegrityError, UpsertConflict):
                # Someone added one of these phones between our lookup and our insert: look again.
                if attempt == 2:
                    raise
        offset += len(chunk)
    finished = timezone.now()
    # Done: the file goes. What the report needs (header, rejected rows) stays, encrypted, until then.
    ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(
        status=ImportJob.Status.DONE,
        finished_at=finished,
        total_rows=len(rows),
        content=None,
        report_header=header,
        report_expires_at=finished + report_retention(),
    )


def _relax_commit_durability() -> None:
    """Don't wait for this chunk's commit to reach disk (PostgreSQL only). Safe here: the chunk's
    rows and the progress that covers them commit together, so if a crash loses the last few
    commits the job simply resumes before them and re-applies them idempotently. It saves an fsync
    per chunk, which on a busy disk is most of the database time."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _apply_chunk(job: ImportJob, rows: list[ImportRow], limit: FitToLimit) -> _ChunkOutcome:
    """Hand the chunk's readable rows to the upsert engine and count what it did; rows it did not
    apply (opted out, over the plan's limit) are rejected rows of the report, with its reason."""
    outcome = _ChunkOutcome()
    valid = []
    for row in rows:
        if row.reason:
            outcome.rejected.append((row.row_number, row.reason))
        else:
            valid.append(row)
    results = upsert_members(
        church=job.church,
        rows=[row.upsert for row in valid],
        consent=job.consent_text,
        source=ConsentEvent.Source.IMPORT,
        acting_user=job.created_by,
        default_branch_id=job.branch_id,
        limit=limit,
    )
    for row, result in zip(valid, results, strict=True):
        if result.status in ("created", "updated", "unchanged"):
            setattr(outcome, result.status, getattr(outcome, result.status) + 1)
        else:
            outcome.rejected.append((row.row_number, result.reason))
    return outcome
