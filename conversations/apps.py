from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"

    def ready(self):
        from conversations.services import inbound_receive
        from conversations.services.handoff import on_delivery_status
        from messaging.broadcasts.delivery import register_status_listener
        from messaging.webhooks import register_inbound_handler

        register_inbound_handler(lambda inbound: inbound_receive(inbound=inbound))
        register_status_listener(on_delivery_status)
