"""The import run: the file's rows applied in chunks through the upsert engine, each chunk committed
with the progress that covers it; resumable and idempotent (see the package's docstring). Called by
``churches.tasks.member_import_run_task``; imports neither ``jobs`` nor the tasks."""

from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from churches.event_data import import_data
from churches.imports.plan import ImportPlan, ImportRow
from churches.imports.reading import read_rows
from churches.imports.retention import LEASE, report_retention
from churches.models import ConsentEvent, ImportJob, ImportRejectedRow
from churches.services.upsert import FitToLimit, UpsertConflict, upsert_members
from koinonia import events

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
    with transaction.atomic():
        if ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(
            status=ImportJob.Status.DONE,
            finished_at=finished,
            total_rows=len(rows),
            content=None,
            report_header=header,
            report_expires_at=finished + report_retention(),
        ):
            events.emit(
                church=job.church_id,
                type="import.completed",
                data=lambda: import_data(church_id=job.church_id, job_id=job.pk),
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
