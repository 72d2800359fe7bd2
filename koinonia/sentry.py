"""Sentry error reporting, started by the settings only when SENTRY_DSN is set (web and workers alike).

No personal data leaves: ``send_default_pii=False`` (no cookies, headers with credentials, user emails or
IP addresses), and request bodies are not sent (a member's phone number or a message can be in them)."""


def init_sentry(*, dsn: str, environment: str, traces_sample_rate: float) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        max_request_body_size="never",
        traces_sample_rate=traces_sample_rate,
    )
