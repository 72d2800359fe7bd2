"""The one interface the send pipeline talks to, whatever carrier sits behind it.

A provider either returns a :class:`SendResult` or raises a :class:`SendError` that already says
what to do next: :class:`TransientSendError` → retry later from our own queue (honouring
``retry_after``); :class:`PermanentSendError` → fail the recipient with a reason staff can act on and
never retry. Number provisioning and phone-linking recovery will add methods to :class:`SmsProvider`.
"""

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class SendResult:
    """The provider accepted the message. ``segments`` is the provider's own count (authoritative for
    billing) or ``None`` when it did not give one; ``status`` is the provider's word, e.g. ``queued``."""

    provider_message_id: str
    segments: int | None
    status: str


class SendError(Exception):
    """A send that did not go through; ``reason`` is plain English for staff and logs."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class TransientSendError(SendError):
    """Worth retrying later: rate limits, provider outages, timeouts, a full provider queue.

    ``retry_after`` is the provider's hint in seconds, when it gave one. ``maybe_sent`` is true when the
    request may have reached the provider (a read timeout or a connection dropped mid-response): the
    provider may be delivering it, so a blind retry can double-send.
    """

    def __init__(self, reason: str, retry_after: float | None = None, *, maybe_sent: bool = False):
        super().__init__(reason)
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent


class PermanentSendError(SendError):
    """Retrying cannot help: bad number, opted out, landline, blocked content, account set-up.

    ``code`` is the provider's error code as a string (Telnyx ``"40300"``, Twilio ``"21610"``).
    ``sender_level`` marks failures of our account or sending number rather than of this recipient
    (bad credentials, unregistered sender, spend limit): every other recipient would fail the same way,
    so the pipeline should stop the broadcast and alert instead of failing each recipient in turn.
    """

    def __init__(self, code: str, reason: str, *, sender_level: bool = False):
        super().__init__(reason)
        self.code = code
        self.sender_level = sender_level

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"


@dataclass(frozen=True)
class ErrorInfo:
    """What one provider error code means for us."""

    reason: str
    retryable: bool = False
    sender_level: bool = False


class Reason:
    """Plain-English reasons shared by providers whose codes mean the same thing to staff."""

    OPTED_OUT = (
        "This person opted out by replying STOP. They must text START to your number before they can "
        "receive texts again."
    )
    INVALID_NUMBER = "The phone number is not a valid mobile number; check it on the member's profile."
    NOT_SMS_CAPABLE = "The number can't receive texts (a landline or a number without SMS)."
    UNDELIVERABLE = "The carrier couldn't deliver the text (the phone may be off, out of service or disconnected)."
    SPAM_BLOCKED = (
        "The carrier blocked the text as spam. Avoid link shorteners, all-caps and repeated identical texts, "
        "then try again."
    )
    NO_CONTENT = "The message has no text and no attachment."
    TOO_MANY_MEDIA = "Too many attachments: at most 10 per message."
    REGION_NOT_ENABLED = "Texting numbers in this country isn't enabled for our account."
    NOT_10DLC_REGISTERED = (
        "Our sending number isn't registered for 10DLC, so US carriers reject its texts; finish the 10DLC "
        "registration in Settings → 10DLC."
    )
    TOLL_FREE_NOT_VERIFIED = "Our toll-free sending number isn't verified yet, so carriers reject its texts."
    CREDENTIALS_REJECTED = "{provider} rejected our credentials; an administrator must update the API key."
    RATE_LIMITED = "{provider} is rate limiting our account."


class SmsProvider(ABC):
    """Sends one SMS/MMS. Implementations read settings at call time and are cheap to construct."""

    name: ClassVar[str]
    # Send-time and delivery-time error codes → meaning; delivery-status handling reuses it.
    error_codes: ClassVar[Mapping[str, ErrorInfo]] = {}

    @abstractmethod
    def send(
        self,
        *,
        from_number: str,
        to_number: str,
        body: str,
        media_urls: Sequence[str] = (),
        webhook_url: str | None = None,
    ) -> SendResult:
        """Hand one message to the provider. ``webhook_url`` receives this message's status callbacks."""

    def describe_error(self, code: str, fallback: str = "") -> str:
        """Plain-English reason for a provider error code (e.g. from a delivery-failed webhook)."""
        info = self.error_codes.get(str(code))
        if info is not None:
            return info.reason
        return fallback or f"The provider reported error {code}."
