"""The messaging app's models. Each context defines its own (``broadcasts/models.py``, ``numbers/models.py``,
``recurring/models.py``); they are gathered here because Django loads an app's models from this module. The
tables keep the ``messaging_`` names: the contexts are packages of one app, not apps of their own."""

from messaging.broadcasts.models import Message, MessageTemplate, ProviderEvent, Recipient, WelcomeSent
from messaging.numbers.models import (
    EIN_HELP,
    NumberCheck,
    SenderNumber,
    TenDlcBrand,
    TenDlcCampaign,
    TenDlcEvent,
    TenDlcNumberAssignment,
)
from messaging.recurring.models import RecurringMessage

__all__ = [
    "EIN_HELP",
    "Message",
    "MessageTemplate",
    "NumberCheck",
    "ProviderEvent",
    "Recipient",
    "RecurringMessage",
    "SenderNumber",
    "TenDlcBrand",
    "TenDlcCampaign",
    "TenDlcEvent",
    "TenDlcNumberAssignment",
    "WelcomeSent",
]
