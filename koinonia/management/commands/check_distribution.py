"""``manage.py check_distribution``: rows that break colocation by church (koinonia/distribution.py).

Citus's composite foreign keys — ``(church_id, member_id) → (church_id, id)`` — cannot be declared in
Django, so this finds, one set-based query per key, any row whose parent belongs to another church.
Run it before distributing the tables (a violation would fail ``create_distributed_table``) and after
data repairs; it exits 1 when it finds any."""

from django.core.management.base import BaseCommand

from koinonia.distribution import colocated_foreign_keys, colocation_violations


class Command(BaseCommand):
    help = "Check that every row and its parent (through colocated foreign keys) belong to the same church."

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default")

    def handle(self, *args, database: str, **options):
        violations = colocation_violations(using=database)
        for key, count in violations.items():
            self.stderr.write(f"{key}: {count} row(s) point at another church's row")
        if violations:
            raise SystemExit(1)
        self.stdout.write(f"{len(colocated_foreign_keys())} colocated foreign keys, no cross-church rows.")
