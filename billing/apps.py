from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self):
        from billing import limits, receivers, selectors
        from churches.signals import church_created
        from koinonia import hooks

        hooks.register_limit_checker(limits.check)
        hooks.register_headroom_reporter(limits.broadcast_headroom)
        hooks.register_usage_reporter(receivers.report_usage)
        hooks.register_plan_reader(selectors.plan_code)
        church_created.connect(receivers.start_trial, dispatch_uid="billing.start_trial")
        hooks.segments_sent.connect(receivers.record_segments_sent, dispatch_uid="billing.segments_sent")
        hooks.segments_failed.connect(receivers.release_segments_failed, dispatch_uid="billing.segments_failed")
