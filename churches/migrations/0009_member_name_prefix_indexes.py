"""Indexes for the name-prefix search (``first_name__istartswith`` / ``last_name__istartswith``, which
PostgreSQL runs as ``UPPER(name::text) LIKE 'WORD%'``): the church first, then the upper-cased name with
``text_pattern_ops``, so a prefix is an index range in any collation. PostgreSQL only (SQLite has no
operator classes and its tables are small); outside the models' Meta, so the embedded default migrates too."""

from django.db import migrations

INDEXES = {
    "member_church_upper_last": "last_name",
    "member_church_upper_first": "first_name",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, column in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON churches_member (church_id, UPPER({column}::text) text_pattern_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("churches", "0008_idempotency_records")]

    operations = [migrations.RunPython(create, drop)]
