"""How long imports keep members' details, and deleting them after: the rejected-rows report of a
finished import until ``IMPORT_REPORT_RETENTION_DAYS`` have passed, the file of one that never
finished as long. Also the run's lease, which both the run and the purge respect. The lowest module of
the package: ``run``, ``jobs`` and ``churches.tasks`` import it, it imports none of them."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from churches.models import ImportJob, ImportRejectedRow

# A run that has shown no sign of life for this long is presumed dead; another worker may take over.
LEASE = timedelta(minutes=2)

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
