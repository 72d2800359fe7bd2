from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"

    def ready(self):
        # Registered in every process, so tasks named by string (the inbound batch, media, notifications)
        # take the task's own apply_async: routes, and eager mode in tests.
        import conversations.tasks  # noqa: F401
        from conversations.services.handoff import on_delivery_status
        from conversations.services.inbound_batch import inbound_accept
        from messaging.broadcasts.delivery import register_status_listener
        from messaging.webhooks import register_inbound_handler

        register_inbound_handler(lambda inbound: inbound_accept(inbound=inbound))
        register_status_listener(on_delivery_status)
