"""Recompute the daily analytics of every church (or some) for the last N days: after deploying the
analytics app, or to repair figures. Idempotent; safe beside the beat refresh."""

from django.core.management.base import BaseCommand

from analytics import services
from churches.models import Church


class Command(BaseCommand):
    help = "Recompute DailyStat rows for the last --days days (today included)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=90)
        parser.add_argument("--church", type=int, action="append", help="Only this church id (repeatable).")

    def handle(self, *args, days: int, church: list[int] | None, **options):
        if days < 1 or days > 3660:
            self.stderr.write("--days must be between 1 and 3660.")
            return
        churches = Church.objects.order_by("pk")
        if church:
            churches = churches.filter(pk__in=church)
        total = 0
        for each in churches.iterator():
            written = services.daily_stats_backfill(church=each, days=days)
            total += written
            self.stdout.write(f"{each.pk} {each.name}: {written} rows")
        self.stdout.write(self.style.SUCCESS(f"{total} rows over {days} days."))
