"""Name search in the member list ("ruth mil") filters with ``istartswith``, which PostgreSQL runs as
``UPPER(col::text) LIKE UPPER('ruth%')``. These expression indexes (text_pattern_ops, led by church)
let that prefix match use an index instead of reading every member of the church. PostgreSQL only:
SQLite (the embedded default) has no operator classes and small data."""

from django.db import migrations

INDEXES = {
    "member_church_first_name_prefix": "first_name",
    "member_church_last_name_prefix": "last_name",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, column in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON churches_member "
            f"(church_id, UPPER({column}::text) text_pattern_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("churches", "0003_member_recent_and_consent_member_index")]

    operations = [migrations.RunPython(create, drop)]
