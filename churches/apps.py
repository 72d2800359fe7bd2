from django.apps import AppConfig


class ChurchesConfig(AppConfig):
    name = "churches"
    verbose_name = "Churches and directory"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from churches import receivers
        from koinonia import checks  # noqa: F401  (registers the FIELD_ENCRYPTION_KEYS / PHONE_HASH_KEY checks)

        user_logged_in.connect(receivers.record_sign_in, dispatch_uid="churches.record_sign_in")
        user_login_failed.connect(receivers.record_failed_sign_in, dispatch_uid="churches.record_failed_sign_in")
