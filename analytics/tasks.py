from celery import shared_task

from analytics import services


@shared_task
def refresh_daily_stats() -> dict[int, int]:
    """Beat, every ANALYTICS_REFRESH_SECONDS: today's and yesterday's figures of churches with recent
    activity. Idempotent; two overlapping runs serialize per church."""
    return services.daily_stats_refresh_recent()
