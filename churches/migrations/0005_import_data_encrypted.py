"""Import files at rest: encrypt every stored upload and rejected-row reason; for finished imports,
keep only the header and the rejected rows (encrypted) and drop the file. Never leaves plaintext."""

import csv
import io
from datetime import timedelta

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

import churches.crypto

BATCH = 500


def _rows(text: str) -> tuple[list[str], list[list[str]]]:
    # The reader of churches.imports.read_rows as it was when this migration was written (a migration
    # must not change meaning when that module does).
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)

    class Dialect(csv.excel):
        pass

    Dialect.delimiter = delimiter if first_line.count(delimiter) else ","
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), Dialect))
    except csv.Error:
        return [], []
    while records and not any(cell.strip() for cell in records[0]):
        records.pop(0)
    if not records:
        return [], []
    return [cell.strip() for cell in records[0]], records[1:]


def encrypt_import_data(apps, schema_editor):
    ImportJob = apps.get_model("churches", "ImportJob")
    ImportRejectedRow = apps.get_model("churches", "ImportRejectedRow")
    retention = timedelta(days=getattr(settings, "IMPORT_REPORT_RETENTION_DAYS", 30))
    for job_id in list(ImportJob.objects.order_by("pk").values_list("pk", flat=True)):
        job = ImportJob.objects.get(pk=job_id)
        header, rows = _rows(job.content or "")
        rejected = list(ImportRejectedRow.objects.filter(job_id=job_id).order_by("pk"))
        for row in rejected:
            index = row.row_number - 2
            row.cells = rows[index] if 0 <= index < len(rows) else []
            row.reason = churches.crypto.encrypt(row.reason or "?")
        ImportRejectedRow.objects.bulk_update(rejected, ["cells", "reason"], batch_size=BATCH)
        if job.status == "done":
            ImportJob.objects.filter(pk=job_id).update(
                content=None,
                report_header=header,  # encrypted by the field
                report_expires_at=(job.finished_at or timezone.now()) + retention,
            )
        elif job.content:
            ImportJob.objects.filter(pk=job_id).update(content=churches.crypto.encrypt(job.content))


def decrypt_import_data(apps, schema_editor):
    ImportJob = apps.get_model("churches", "ImportJob")
    ImportRejectedRow = apps.get_model("churches", "ImportRejectedRow")
    for job_id, content in ImportJob.objects.values_list("pk", "content").iterator():
        # A finished job's file is gone for good: the old schema gets an empty file.
        plain = churches.crypto.decrypt(content) if content else ""
        ImportJob.objects.filter(pk=job_id).update(content=plain)
    for row_id, reason in ImportRejectedRow.objects.values_list("pk", "reason").iterator():
        ImportRejectedRow.objects.filter(pk=row_id).update(reason=churches.crypto.decrypt(reason)[:300])


class Migration(migrations.Migration):
    dependencies = [
        ("churches", "0004_member_name_prefix_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="importjob",
            name="report_header",
            field=churches.crypto.EncryptedJSONField(
                blank=True, help_text="The file's header row, kept (encrypted) for the rejected-rows report.", null=True
            ),
        ),
        migrations.AddField(
            model_name="importjob",
            name="report_expires_at",
            field=models.DateTimeField(
                blank=True, help_text="When the rejected-rows report (and any file left) is deleted.", null=True
            ),
        ),
        migrations.AddField(
            model_name="importrejectedrow",
            name="cells",
            field=churches.crypto.EncryptedJSONField(blank=True, help_text="The row as it was in the file.", null=True),
        ),
        # Plain text columns first (nullable, unbounded) so the data step can write ciphertext...
        migrations.AlterField(
            model_name="importjob",
            name="content",
            field=models.TextField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="importrejectedrow",
            name="reason",
            field=models.TextField(),
        ),
        migrations.RunPython(encrypt_import_data, decrypt_import_data, elidable=False),
        # ...then the encrypted fields (no schema change: still text columns).
        migrations.AlterField(
            model_name="importjob",
            name="content",
            field=churches.crypto.EncryptedTextField(
                blank=True, help_text="The uploaded CSV, decoded and encrypted; NULL once the run is done.", null=True
            ),
        ),
        migrations.AlterField(
            model_name="importrejectedrow",
            name="reason",
            field=churches.crypto.EncryptedTextField(),
        ),
    ]
