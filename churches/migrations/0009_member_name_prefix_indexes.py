"""The name-prefix indexes already exist (0004_member_name_prefix_indexes: church, then UPPER(name)
text_pattern_ops). An earlier version of this migration built the same two indexes again under other
names, doubling the write cost of every member insert; it now drops those copies where they were made.
Kept (empty elsewhere) because later migrations depend on it."""

from django.db import migrations

DUPLICATES = ("member_church_upper_last", "member_church_upper_first")


def drop_duplicates(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in DUPLICATES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("churches", "0008_idempotency_records")]

    operations = [migrations.RunPython(drop_duplicates, migrations.RunPython.noop)]
