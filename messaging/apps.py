from django.apps import AppConfig


class MessagingConfig(AppConfig):
    """The messaging app is four contexts in packages (``broadcasts/``, ``numbers/``, ``recurring/``,
    ``providers/``) under one app label. Here they are wired together: the callback router
    (``messaging.webhooks``) learns which context handles which provider event, so the contexts below it
    import nothing of the router."""

    name = "messaging"

    def ready(self):
        from messaging.providers.console import set_status_receiver
        from messaging.webhooks import ingest_status, register_event_handler

        # The console's simulated delivery reports take the road a carrier's verified callbacks take.
        set_status_receiver(ingest_status)

        from churches.signals import members_subscribed
        from messaging.broadcasts import receivers

        members_subscribed.connect(receivers.welcome_subscribed_members, dispatch_uid="messaging.welcome")

        from messaging.numbers import tendlc
        from messaging.numbers.ordering import handle_number_order_complete

        register_event_handler("number_order.complete", handle_number_order_complete)
        register_event_handler("10dlc.brand.update", tendlc.handle_brand_update)
        register_event_handler("10dlc.campaign.update", tendlc.handle_campaign_update)
        register_event_handler("10dlc.phone_number.update", tendlc.handle_number_update)

        # Readings for /metrics (queue lag, callback lag).
        from messaging.broadcasts import monitoring

        monitoring.register()

        # Every context's Celery tasks registered in every process (autodiscovery finds only ``tasks.py``).
        from messaging.broadcasts import tasks as _broadcast_tasks  # noqa: F401
        from messaging.numbers import tasks as _number_tasks  # noqa: F401
        from messaging.recurring import tasks as _recurring_tasks  # noqa: F401
