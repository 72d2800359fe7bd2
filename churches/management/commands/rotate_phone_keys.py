"""Re-encrypt every encrypted phone under the newest FIELD_ENCRYPTION_KEYS key.

Put the new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it), deploy, run this, then
drop the old keys. Safe to re-run and to interrupt: it only touches rows still under an old key.
"""

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from churches.crypto import EncryptedTextField, current_keyring

BATCH = 1000


class Command(BaseCommand):
    help = "Re-encrypt phones (and other encrypted fields) under the newest key."

    def handle(self, *args, **options):
        primary_id = current_keyring()[0]
        for model in apps.get_models():
            fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
            for field in fields:
                total = self._rotate(model, field, primary_id)
                if total:
                    self.stdout.write(f"{model._meta.label}.{field.name}: re-encrypted {total} rows")
        self.stdout.write(self.style.SUCCESS("All encrypted fields are under the newest key."))

    def _rotate(self, model, field, primary_id: str) -> int:
        total = 0
        stale = model._base_manager.exclude(**{f"{field.attname}__startswith": f"{primary_id}$"}).exclude(
            **{f"{field.attname}__isnull": True}
        )
        while True:
            with transaction.atomic():
                # values_list goes through from_db_value, so we get plaintext back to re-encrypt.
                rows = list(stale.select_for_update(skip_locked=True).values_list("pk", field.attname)[:BATCH])
                if not rows:
                    return total
                for pk, plaintext in rows:
                    model._base_manager.filter(pk=pk).update(**{field.attname: plaintext})
                total += len(rows)
