"""Re-encrypt every encrypted field under the newest FIELD_ENCRYPTION_KEYS key.

Put the new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it), deploy, run this, then
drop the old keys. Safe to re-run and to interrupt: it only touches rows still under an old key.

"Every encrypted field" is every EncryptedTextField of every model (and its subclasses: JSON payloads,
emails): members' phones and emails, recipients' and visitors' phones, provider callbacks, import files,
their rejected rows and report headers. A new encrypted field is covered without changing this command.
"""

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from churches.crypto import EncryptedTextField, current_keyring

BATCH = 1000


def encrypted_fields():
    """(model, field) for every encrypted column in the project."""
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedTextField):
                yield model, field


class Command(BaseCommand):
    help = "Re-encrypt phones, emails, payloads and import files under the newest key."

    def handle(self, *args, **options):
        primary_id = current_keyring()[0]
        for model, field in encrypted_fields():
            total = self._rotate(model, field, primary_id)
            if total:
                self.stdout.write(f"{model._meta.label}.{field.name}: re-encrypted {total} rows")
        self.stdout.write(self.style.SUCCESS("All encrypted fields are under the newest key."))

    def _rotate(self, model, field, primary_id: str) -> int:
        total = 0
        # Every ciphertext is "<key id>$…"; NULL and "" (no email) hold nothing to re-encrypt. Pattern
        # lookups compare the stored text as is (the field doesn't encrypt their argument).
        stale = model._base_manager.filter(**{f"{field.attname}__contains": "$"}).exclude(
            **{f"{field.attname}__startswith": f"{primary_id}$"}
        )
        # Rows holding whole files (imports) go a few at a time.
        batch = getattr(model, "rotation_batch", BATCH)
        while True:
            with transaction.atomic():
                # values_list goes through from_db_value, so we get plaintext back to re-encrypt.
                rows = list(stale.select_for_update(skip_locked=True).values_list("pk", field.attname)[:batch])
                if not rows:
                    return total
                for pk, plaintext in rows:
                    model._base_manager.filter(pk=pk).update(**{field.attname: plaintext})
                total += len(rows)
