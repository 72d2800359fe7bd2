"""Primary/replica routing.

Reads go to the replica when one is configured (``DATABASE_REPLICA_URL``), except after the current
request (or task) has written: from then on it is pinned to the primary, so a user always reads what
they just wrote. Without a replica everything uses ``default``.
"""

from contextvars import ContextVar

from django.conf import settings

_pinned_to_primary: ContextVar[bool] = ContextVar("pinned_to_primary", default=False)


def pin_to_primary() -> None:
    _pinned_to_primary.set(True)


class PrimaryReplicaRouter:
    def db_for_read(self, model, **hints):
        if "replica" in settings.DATABASES and not _pinned_to_primary.get():
            return "replica"
        return "default"

    def db_for_write(self, model, **hints):
        pin_to_primary()
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True  # both aliases hold the same data

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"


class PinToPrimaryAfterWriteMiddleware:
    """Each request starts unpinned; unsafe methods pin at once (they are about to write, and the
    reads that validate the write must see the primary)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _pinned_to_primary.set(request.method not in ("GET", "HEAD", "OPTIONS"))
        try:
            return self.get_response(request)
        finally:
            _pinned_to_primary.reset(token)
