"""Thin Celery tasks for the churches app: each takes ids and calls a service."""

from celery import shared_task

from churches.idempotency import purge_expired as idempotency_purge_expired
from churches.imports.retention import member_import_purge_expired
from churches.imports.run import member_import_run
from churches.models import ImportJob


@shared_task(bind=True, max_retries=20)
def member_import_run_task(self, job_id: int) -> None:
    """Run or continue an import. If another worker holds a live lease on the job (a redelivered
    task after a worker was lost), check back later: the lease expires if that worker is dead."""
    job = member_import_run(job_id=job_id)
    if job is None and ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).exists():
        raise self.retry(countdown=60)


@shared_task
def purge_import_data() -> dict[str, int]:
    """Beat, hourly: delete expired rejected-rows reports and files of imports that never finished."""
    return member_import_purge_expired()


@shared_task
def purge_idempotency_records() -> int:
    """Beat, hourly: delete stored Idempotency-Key answers past their 24 hours."""
    return idempotency_purge_expired()
