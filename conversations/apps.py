from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"

    def ready(self):
        from conversations.services.handoff import on_delivery_status
        from conversations.services.inbound import handle_telnyx, handle_twilio
        from messaging.delivery import register_status_listener
        from messaging.webhooks import register_event_handler

        register_event_handler("message.received", handle_telnyx)
        register_event_handler("twilio.inbound", handle_twilio)
        register_status_listener(on_delivery_status)
