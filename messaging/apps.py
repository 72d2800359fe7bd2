from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"

    def ready(self):
        from messaging.pipeline import collect_console_delivery
        from messaging.providers.console import set_delivery_handler

        set_delivery_handler(collect_console_delivery)
