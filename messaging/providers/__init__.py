"""SMS providers behind one interface (:class:`~messaging.providers.base.SmsProvider`), one package each.

``get_provider()`` returns the configured one (``settings.SMS_PROVIDER``: console, telnyx or twilio), or the
one named (a stored callback's provider). A package (``telnyx/``, ``twilio/``, ``console/``) owns its client,
its callbacks' parsing into the neutral types of ``events.py``, its signature check and its error codes;
the providers know nothing of broadcasts (a contract in ``.importlinter``).
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from messaging.providers.base import (
    AvailableNumber,
    NumberError,
    NumberOrder,
    NumberState,
    NumberUnavailable,
    PermanentSendError,
    SendError,
    SendResult,
    SmsProvider,
    TransientSendError,
)
from messaging.providers.console import ConsoleProvider
from messaging.providers.telnyx import TelnyxProvider
from messaging.providers.twilio import TwilioProvider

PROVIDERS: dict[str, type[SmsProvider]] = {
    ConsoleProvider.name: ConsoleProvider,
    TelnyxProvider.name: TelnyxProvider,
    TwilioProvider.name: TwilioProvider,
}


def get_provider(name: str | None = None) -> SmsProvider:
    """The provider called ``name``, or the configured one. Cheap: settings are read at send time and the
    HTTP sessions are shared per process, so call it wherever needed rather than caching it."""
    name = name or settings.SMS_PROVIDER
    try:
        return PROVIDERS[name]()
    except KeyError:
        raise ImproperlyConfigured(f"Unknown SMS_PROVIDER {name!r}; choose one of {', '.join(PROVIDERS)}.") from None


__all__ = [
    "PROVIDERS",
    "AvailableNumber",
    "NumberError",
    "NumberOrder",
    "NumberState",
    "NumberUnavailable",
    "PermanentSendError",
    "SendError",
    "SendResult",
    "SmsProvider",
    "TransientSendError",
    "get_provider",
]
