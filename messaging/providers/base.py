"""The one interface the send pipeline talks to, whatever carrier sits behind it.

A provider either returns a :class:`SendResult` or raises a :class:`SendError` that already says
what to do next: :class:`TransientSendError` → retry later from our own queue (honouring
``retry_after``); :class:`PermanentSendError` → fail the recipient with a reason staff can act on and
never retry.

Numbers: :meth:`SmsProvider.search_numbers` / :meth:`~SmsProvider.order_number` provision them, and
:meth:`~SmsProvider.inspect_number` / :meth:`~SmsProvider.assign_messaging_profile` /
:meth:`~SmsProvider.set_webhook_url` let phone-linking recovery (``messaging/numbers/linking.py``) find and repair a
number that drifted. Their failures raise :class:`NumberError`, whose ``reason`` is shown to staff as is.

Callbacks: each provider package reads its own delivery reports (:meth:`SmsProvider.parse_status` →
:class:`~messaging.providers.events.StatusUpdate`, words mapped by :meth:`~SmsProvider.delivery_state`); its
inbound texts and signatures are read by module functions of the package, which ``messaging/webhooks.py`` routes to.
"""

import functools
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import ClassVar, Literal

from messaging.providers.events import DeliveryState, MalformedPayload, StatusUpdate


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


@dataclass(frozen=True)
class AvailableNumber:
    """A number the provider offers for purchase."""

    phone_number: str
    locality: str = ""  # city or rate centre, as the provider names it
    region: str = ""  # state


@dataclass(frozen=True)
class NumberOrder:
    """The provider's answer to an order. Telnyx orders may stay ``pending`` until its
    ``number_order.complete`` webhook; Twilio and the console buy at once (``success``)."""

    phone_number: str
    status: Literal["pending", "success", "failure"]
    order_id: str = ""
    provider_number_id: str = ""  # known at once for Twilio (PN…); for Telnyx found by inspection later
    detail: str = ""


@dataclass(frozen=True)
class NumberState:
    """What the provider says about one of our numbers right now.

    ``exists`` is false when the number is no longer on our account (released, ported out, never bought).
    ``messaging_profile_id`` is ``None`` for providers without messaging profiles (Twilio, console);
    ``webhook_url`` is where the provider posts the number's inbound texts ("" when none is set).
    """

    phone_number: str
    exists: bool
    active: bool = False
    provider_number_id: str = ""
    provider_status: str = ""
    messaging_profile_id: str | None = None
    webhook_url: str = ""


class NumberError(Exception):
    """A number request that did not go through. ``reason`` is plain English for staff; ``transient``
    means trying again later may work (timeouts, rate limits, outages); ``status`` is the HTTP status
    when there was one (404: the provider does not know the number)."""

    def __init__(self, reason: str, *, code: str = "", transient: bool = False, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.transient = transient
        self.status = status


class NumberUnavailable(NumberError):
    """The number was taken (or is no longer offered) between the search and the order."""


def reads_number_answer(method):
    """For provider number methods: an answer missing the fields we read becomes a NumberError with a plain
    reason, instead of a KeyError surfacing as a server error on the settings page."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise NumberError(
                f"{self.name.title()}'s answer could not be read; try again later or ask support."
            ) from exc

    return wrapper


class SmsProvider(ABC):
    """Sends one SMS/MMS. Implementations read settings at call time and are cheap to construct."""

    name: ClassVar[str]
    # Send-time and delivery-time error codes → meaning; delivery-status handling reuses it.
    error_codes: ClassVar[Mapping[str, ErrorInfo]] = {}
    # The package's ``callbacks`` module, which reads its delivery reports: ``parse_status(payload)``,
    # ``STATUS_WORDS`` (report words → ours; words not listed, like queued or sending, are not tracked) and
    # ``UNBILLED_STATUSES`` (words meaning the text never reached a carrier, so its segments are not billed).
    # None: the provider sends no delivery reports.
    callbacks: ClassVar[ModuleType | None] = None

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

    # Delivery reports --------------------------------------------------------------------------------

    def parse_status(self, payload: dict) -> StatusUpdate:
        """A delivery report in this provider's wire shape (as received, or as stored with the event) →
        StatusUpdate; MalformedPayload when it is not one."""
        if self.callbacks is None:
            raise MalformedPayload(f"{self.name} sends no delivery reports.")
        return self.callbacks.parse_status(payload)

    def delivery_state(self, provider_status: str) -> DeliveryState | None:
        """Our state for one of the provider's report words, or None when it is not a change we track."""
        return self.callbacks.STATUS_WORDS.get(provider_status) if self.callbacks else None

    def billed(self, provider_status: str) -> bool:
        """False when a report says the text never reached a carrier (its segments are given back)."""
        return self.callbacks is None or provider_status not in self.callbacks.UNBILLED_STATUSES

    def sends_recorded(self, provider_message_ids: Sequence[str]) -> None:
        """Our side has recorded these sends (the pipeline's write-back, a reply's record). A carrier
        reports on its own and needs nothing; the console provider, standing in for one, schedules its
        simulated delivery reports here, off the sender threads."""
        return None

    # Numbers ----------------------------------------------------------------------------------------
    # Not abstract: a provider that cannot provision says so in plain words instead of failing to load.

    def search_numbers(self, *, area_code: str, limit: int = 10) -> list[AvailableNumber]:
        """SMS-capable local numbers for sale in ``area_code`` (three digits, already validated)."""
        raise NumberError(f"Buying numbers through {self.name} isn't supported.")

    def order_number(self, *, phone_number: str) -> NumberOrder:
        """Buy ``phone_number`` and point it at our messaging profile / webhook as part of the purchase."""
        raise NumberError(f"Buying numbers through {self.name} isn't supported.")

    def number_order_status(self, *, order_id: str) -> NumberOrder:
        """An earlier order as the provider sees it now (for orders whose completion webhook was lost)."""
        raise NumberError(f"Reading number orders through {self.name} isn't supported.")

    def inspect_number(self, *, phone_number: str, provider_number_id: str = "") -> NumberState:
        """The number's current state on the provider (``exists=False`` when it is gone)."""
        raise NumberError(f"Checking numbers through {self.name} isn't supported.")

    def assign_messaging_profile(self, *, provider_number_id: str, messaging_profile_id: str) -> None:
        """Put the number on ``messaging_profile_id`` (providers without profiles: nothing to do)."""
        return None

    def set_webhook_url(self, *, number: NumberState, url: str) -> None:
        """Point the number's inbound texts (and, where per number, status callbacks) at ``url``."""
        raise NumberError(f"Changing webhooks through {self.name} isn't supported.")

    def expected_webhook_url(self) -> str:
        """Where this provider should post the number's inbound texts: our hook, under PUBLIC_BASE_URL
        (``""`` when the provider posts nothing, like the console)."""
        return ""

    def expected_messaging_profile_id(self) -> str | None:
        """Our messaging profile, or ``None`` when the provider has no such thing."""
        return None
