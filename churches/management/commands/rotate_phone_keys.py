"""Re-encrypt every encrypted field under the newest FIELD_ENCRYPTION_KEYS key.

Put the new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it), deploy, run this, then
drop the old keys. Safe to re-run and to interrupt: it only touches rows still under an old key.

It also encrypts any value of an encrypted column that is not ciphertext at all: plaintext written
before a column was encrypted by a migration that changed only its type (ProviderEvent.payload in
messaging 0002), or loaded around the ORM (a restore, a bulk COPY). Run it once after deploying, and
whenever in doubt: it never leaves plaintext behind.

"Every encrypted field" is every EncryptedTextField of every model (and its subclasses: JSON payloads,
emails): members' phones and emails, recipients' and visitors' phones, provider callbacks, import files,
their rejected rows and report headers. A new encrypted field is covered without changing this command.
"""

import contextlib
import json

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import models, transaction
from django.db.models.functions import Cast

from churches.crypto import EncryptedJSONField, EncryptedTextField, current_keyring

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
            plain = self._encrypt_plaintext(model, field)
            if plain:
                self.stdout.write(f"{model._meta.label}.{field.name}: encrypted {plain} plaintext rows")
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

    def _encrypt_plaintext(self, model, field) -> int:
        total = 0
        # Not "<8 hex>$…": never encrypted. Read as plain text (a Cast, so the field doesn't try to
        # decrypt it) and written back through the field, which encrypts.
        plain = model._base_manager.filter(**{f"{field.attname}__regex": "."}).exclude(
            **{f"{field.attname}__regex": r"^[0-9a-f]{8}\$"}
        )
        batch = getattr(model, "rotation_batch", BATCH)
        while True:
            with transaction.atomic():
                rows = list(
                    plain.select_for_update(skip_locked=True)
                    .annotate(_plain=Cast(field.attname, models.TextField()))
                    .values_list("pk", "_plain")[:batch]
                )
                if not rows:
                    return total
                for pk, text in rows:
                    value = text  # not JSON after all (a JSON field): kept, encrypted, as the string it is
                    if isinstance(field, EncryptedJSONField):
                        with contextlib.suppress(ValueError):
                            value = json.loads(text)
                    model._base_manager.filter(pk=pk).update(**{field.attname: value})
                total += len(rows)
