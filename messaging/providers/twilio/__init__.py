"""Twilio: the client (sends, numbers), its status callbacks and inbound texts (``callbacks``), its
signatures (``signatures``) and its error codes (``errors``)."""

from messaging.providers.twilio.client import TwilioProvider

__all__ = ["TwilioProvider"]
