"""The Citus-ready key migrations are safe on a database with data: audit rows without a church move to
the platform log before AuditLog.church becomes NOT NULL; church rows stay where they were."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from churches.models import AuditLog, PlatformAuditLog


@pytest.mark.django_db(transaction=True)
def test_null_church_audit_rows_move_to_the_platform_log(world):
    before = ("churches", "0010_church_send_approval_settings")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    try:
        old = MigrationExecutor(connection).loader.project_state([before]).apps
        OldAuditLog = old.get_model("churches", "AuditLog")
        OldAuditLog.objects.create(church_id=None, action="auth.sign_in_failed", data={"email": "x@example.org"})
        OldAuditLog.objects.create(church_id=None, actor_id=world.staff.pk, action="auth.signed_in")
        kept = OldAuditLog.objects.create(church_id=world.church.pk, actor_id=world.staff.pk, action="member.created")
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    assert list(AuditLog.objects.values_list("pk", "church_id", "action")) == [
        (kept.pk, world.church.pk, "member.created")
    ]
    moved = {(row.action, row.actor_id, row.data.get("email")) for row in PlatformAuditLog.objects.all()}
    assert moved == {("auth.sign_in_failed", None, "x@example.org"), ("auth.signed_in", world.staff.pk, None)}
    assert not AuditLog._meta.get_field("church").null
