from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self):
        from billing import receivers, tasks  # noqa: F401  (tasks: registered for enqueueing by name)
        from billing.policy import BillingPlanPolicy
        from churches.signals import church_created
        from koinonia import hooks, policy

        policy.register(BillingPlanPolicy())
        church_created.connect(receivers.start_trial, dispatch_uid="billing.start_trial")
        hooks.segments_sent.connect(receivers.record_segments_sent, dispatch_uid="billing.segments_sent")
        hooks.segments_failed.connect(receivers.release_segments_failed, dispatch_uid="billing.segments_failed")
