from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"

    def ready(self):
        from integrations import outbox, tasks  # noqa: F401  (tasks: registered with Celery)
        from koinonia import events

        # The transactional outbox: events become rows in the emitting transaction.
        events.emitted.connect(outbox.record_emitted, dispatch_uid="integrations.record_emitted")
        outbox.connect_cache_invalidation()
