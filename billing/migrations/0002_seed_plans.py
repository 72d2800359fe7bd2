"""The starting plans. Support edits them (and fills in the Stripe price ids) in admin."""

from django.db import migrations

PLANS = [
    # code, name, price, members, branches, seats, segments, overage per 1,000 (cents), grace days, trial, order
    ("trial", "Free trial", 0, 500, 2, 5, 500, None, 0, True, 0),
    ("starter", "Starter", 4900, 500, 1, 3, 2000, 1500, 7, False, 1),
    ("growth", "Growth", 7900, 2000, 3, 10, 5000, 1200, 7, False, 2),
    ("pro", "Pro", 12900, 10000, 10, 25, 12000, 1000, 14, False, 3),
]


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    for code, name, price, members, branches, seats, segments, overage, grace, trial, order in PLANS:
        Plan.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "price_cents": price,
                "max_members": members,
                "max_branches": branches,
                "max_staff_seats": seats,
                "included_segments": segments,
                "overage_cents_per_1000": overage,
                "grace_period_days": grace,
                "is_trial": trial,
                "is_public": not trial,
                "sort_order": order,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
