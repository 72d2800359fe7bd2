"""Members' emails at rest: encrypted with the field keys, plus the keyed blind index of the part
before the "@" that the directory search uses. Never leaves plaintext."""

from django.db import migrations, models

import churches.crypto

BATCH = 2000


def encrypt_emails(apps, schema_editor):
    Member = apps.get_model("churches", "Member")
    last = 0
    while True:
        rows = list(
            Member.objects.filter(pk__gt=last).exclude(email="").order_by("pk").values_list("pk", "email")[:BATCH]
        )
        if not rows:
            return
        Member.objects.bulk_update(
            [
                Member(
                    pk=pk,
                    email=churches.crypto.encrypt(email),
                    email_local_hash=churches.crypto.email_local_hash(email),
                )
                for pk, email in rows
            ],
            ["email", "email_local_hash"],
        )
        last = rows[-1][0]


def decrypt_emails(apps, schema_editor):
    Member = apps.get_model("churches", "Member")
    last = 0
    while True:
        rows = list(
            Member.objects.filter(pk__gt=last).exclude(email="").order_by("pk").values_list("pk", "email")[:BATCH]
        )
        if not rows:
            return
        Member.objects.bulk_update(
            [Member(pk=pk, email=churches.crypto.decrypt(email)[:254]) for pk, email in rows], ["email"]
        )
        last = rows[-1][0]


class Migration(migrations.Migration):
    dependencies = [
        ("churches", "0005_import_data_encrypted"),
    ]

    operations = [
        migrations.AddField(
            model_name="member",
            name="email_local_hash",
            field=churches.crypto.EmailIndexField(blank=True, default="", editable=False, max_length=32),
        ),
        # A text column first (ciphertext is longer than 254 characters for long addresses)...
        migrations.AlterField(
            model_name="member",
            name="email",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.RunPython(encrypt_emails, decrypt_emails, elidable=False),
        # ...then the encrypted field (no schema change).
        migrations.AlterField(
            model_name="member",
            name="email",
            field=churches.crypto.EncryptedEmailField(blank=True, default=""),
        ),
        migrations.AddIndex(
            model_name="member",
            index=models.Index(
                condition=models.Q(("email_local_hash", ""), _negated=True),
                fields=["church", "email_local_hash"],
                name="member_church_email_hash",
            ),
        ),
    ]
