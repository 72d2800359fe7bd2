"""Telnyx: the client (sends, numbers), its webhooks' envelope, delivery reports and inbound texts
(``callbacks``), its signatures (``signatures``) and its error codes (``errors``)."""

from messaging.providers.telnyx.client import TelnyxProvider, number_order_from

__all__ = ["TelnyxProvider", "number_order_from"]
