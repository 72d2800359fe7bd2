from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"

    def ready(self):
        from messaging.providers.console import set_status_receiver
        from messaging.webhooks import ingest_status

        # The console's simulated delivery reports take the road a carrier's verified callbacks take.
        set_status_receiver(ingest_status)

        from churches.signals import members_subscribed
        from messaging import admin_jobs, jobs, receivers  # noqa: F401 (admin_jobs registers the support pages)

        members_subscribed.connect(receivers.welcome_subscribed_members, dispatch_uid="messaging.welcome")
        jobs.connect_signals()

        from messaging.numbers import handle_number_order_complete
        from messaging.webhooks import register_event_handler

        register_event_handler("number_order.complete", handle_number_order_complete)

        from messaging.tendlc import register_webhook_handlers

        register_webhook_handlers()
