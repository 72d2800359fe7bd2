"""The ``data`` of the directory's integrator events (``koinonia.events``; docs/webhooks.md shows them).
Ids are the API's; no phone number or email address is ever included (they stay encrypted at rest;
integrators read them through the API)."""

from churches.models import ImportJob, Member


def member_data(member: Member) -> dict:
    return {
        "id": member.pk,
        "first_name": member.first_name,
        "last_name": member.last_name,
        "sms_status": member.sms_status,
        "branch_id": member.branch_id,
        "timezone": member.timezone,
        "updated_at": member.updated_at,
    }


def consent_data(*, member_id: int, sms_status: str, source: str, occurred_at) -> dict:
    return {"member_id": member_id, "sms_status": sms_status, "source": source, "occurred_at": occurred_at}


def import_data(*, church_id: int, job_id: int) -> dict:
    job = (
        ImportJob.objects.for_church(church_id)
        .filter(pk=job_id)
        .values(
            "pk",
            "status",
            "total_rows",
            "created_count",
            "updated_count",
            "unchanged_count",
            "rejected_count",
            "finished_at",
        )[0]
    )
    return {
        "id": job["pk"],
        "status": job["status"],
        "total_rows": job["total_rows"],
        "created": job["created_count"],
        "updated": job["updated_count"],
        "unchanged": job["unchanged_count"],
        "rejected": job["rejected_count"],
        "finished_at": job["finished_at"],
    }
