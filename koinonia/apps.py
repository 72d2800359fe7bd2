from django.apps import AppConfig


class KoinoniaConfig(AppConfig):
    """The project package as an app: project-wide commands (``seed_demo``) and background-job monitoring
    (``koinonia/jobs/``: its models, the Celery signal recorders and support's admin page)."""

    name = "koinonia"

    def ready(self):
        from koinonia.jobs import admin, monitor  # noqa: F401 (admin registers support's background-jobs page)

        monitor.connect_signals()
