"""System checks for configuration the settings can't refuse by themselves under every settings module.

Registered from ``churches.apps.ChurchesConfig.ready`` (churches owns the encrypted fields), so they run
with ``manage.py check``, before ``migrate`` and ``runserver``: ``make run`` stops at once on a malformed
FIELD_ENCRYPTION_KEYS or PHONE_HASH_KEY instead of failing on the first phone written. Production also
refuses them while its settings load (``koinonia/settings/production.py``)."""

from django.conf import settings
from django.core import checks

from koinonia.settings.validation import (
    FIELD_ENCRYPTION_KEYS_FORMAT,
    PHONE_HASH_KEY_FORMAT,
    field_encryption_key_problems,
    phone_hash_key_problems,
)


@checks.register("configuration")
def check_phone_keys(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return _errors(production=False)


@checks.register("configuration", deploy=True)
def check_phone_keys_for_deploy(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """``check --deploy``: the public development keys are refused too (only the extra problems)."""
    everywhere = {error.msg for error in _errors(production=False)}
    return [error for error in _errors(production=True) if error.msg not in everywhere]


def _errors(*, production: bool) -> list[checks.CheckMessage]:
    keys = settings.FIELD_ENCRYPTION_KEYS
    if isinstance(keys, str):  # set in code rather than read from the environment
        keys = keys.split(",")
    errors = [
        checks.Error(problem, hint=FIELD_ENCRYPTION_KEYS_FORMAT, id="koinonia.E001")
        for problem in field_encryption_key_problems(list(keys), production=production)
    ]
    errors += [
        checks.Error(problem, hint=PHONE_HASH_KEY_FORMAT, id="koinonia.E002")
        for problem in phone_hash_key_problems(settings.PHONE_HASH_KEY or "", production=production)
    ]
    return errors
