"""The database store behind ``koinonia.api.idempotency`` (named in ``settings.API_IDEMPOTENCY_STORE``):
the mechanism lives in the API foundation, which imports no app; its table lives here, beside ApiKey.
Every method runs inside the transaction the mechanism opened around the endpoint."""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from churches.models import Church, IdempotencyRecord
from koinonia.api.idempotency import RETENTION, StoredAnswer


def _answer(record: IdempotencyRecord) -> StoredAnswer:
    return StoredAnswer(fingerprint=record.fingerprint, status_code=record.status_code, body=record.response_body or "")


class DatabaseIdempotencyStore:
    def _rows(self, *, church: Church, caller: str, key: str):
        return IdempotencyRecord.objects.for_church(church).filter(caller=caller, key=key)

    def claim(
        self, *, church: Church, caller: str, key: str, fingerprint: str, retention: timedelta
    ) -> StoredAnswer | None:
        """None: the key is ours now (a row, uncommitted until the endpoint's transaction commits).
        Otherwise the answer already stored for it."""
        existing = self._rows(church=church, caller=caller, key=key).first()
        if existing is not None:
            if existing.created_at > timezone.now() - retention:
                return _answer(existing)
            existing.delete()  # expired: the key is free again
        try:
            with transaction.atomic():  # a savepoint: the outer transaction survives a lost race
                IdempotencyRecord.objects.create(church=church, caller=caller, key=key, fingerprint=fingerprint)
        except IntegrityError:
            # A concurrent request with this key committed first (we waited on its row): its answer.
            return _answer(self._rows(church=church, caller=caller, key=key).get())
        return None

    def complete(self, *, church: Church, caller: str, key: str, status_code: int, body: str) -> None:
        record = self._rows(church=church, caller=caller, key=key).get()
        record.status_code = status_code
        record.response_body = body
        record.save(update_fields=["status_code", "response_body"])

    def release(self, *, church: Church, caller: str, key: str) -> None:
        self._rows(church=church, caller=caller, key=key).delete()


def purge_expired(*, now=None) -> int:
    """Beat, hourly: answers older than the retention period are deleted (their keys are free again)."""
    cutoff = (now or timezone.now()) - RETENTION
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
