"""The embedded default provider: logs each send instead of texting anyone.

``make run`` has no carrier, so the console provider also stands in for delivery receipts: when a
delivery handler is registered (the send pipeline does that, see :func:`set_delivery_handler`), every
send produces a :class:`SimulatedDelivery`, failing at ``settings.CONSOLE_SMS_FAILURE_RATE`` (0.0–1.0)
so the failure paths can be seen on a laptop too.
"""

import logging
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from django.conf import settings

from messaging.providers.base import (
    AvailableNumber,
    ErrorInfo,
    NumberOrder,
    NumberState,
    Reason,
    SendResult,
    SmsProvider,
)
from messaging.segments import segment_info

logger = logging.getLogger(__name__)

SIMULATED_FAILURE_CODE = "console_undeliverable"


def mask_phone(e164: str) -> str:
    """Members' numbers never appear in logs: keep the country/area prefix and the last two digits."""
    return e164[:5] + "•" * max(0, len(e164) - 7) + e164[-2:] if len(e164) > 7 else "•" * len(e164)


@dataclass(frozen=True)
class SimulatedDelivery:
    """The final status a real provider would later report for one console send."""

    provider_message_id: str
    from_number: str
    to_number: str
    webhook_url: str | None
    status: Literal["delivered", "delivery_failed"]
    error_code: str | None


DeliveryHandler = Callable[[SimulatedDelivery], None]
_delivery_handler: DeliveryHandler | None = None


def set_delivery_handler(handler: DeliveryHandler | None) -> DeliveryHandler | None:
    """Register who receives simulated delivery results (``None`` switches simulation off); returns the
    previous handler so a caller (or a test) can put it back.

    The handler runs synchronously inside ``send()``; like a real provider's callback it should be
    applied later (enqueue a task on commit), not inside the sender's transaction.
    """
    global _delivery_handler
    previous, _delivery_handler = _delivery_handler, handler
    return previous


# Numbers the console has "released" (demos and tests of phone-linking recovery); process-wide, like
# a real account's inventory.
_released_numbers: set[str] = set()


def console_release_number(phone_number: str, *, released: bool = True) -> None:
    """Make the console report ``phone_number`` as gone (``released=False`` brings it back)."""
    if released:
        _released_numbers.add(phone_number)
    else:
        _released_numbers.discard(phone_number)


class ConsoleProvider(SmsProvider):
    name = "console"
    error_codes = {SIMULATED_FAILURE_CODE: ErrorInfo(f"{Reason.UNDELIVERABLE} (Simulated by the console provider.)")}

    def send(
        self,
        *,
        from_number: str,
        to_number: str,
        body: str,
        media_urls: Sequence[str] = (),
        webhook_url: str | None = None,
    ) -> SendResult:
        message_id = f"console-{uuid.uuid4()}"
        segments = segment_info(body).segments
        logger.info(
            "Console SMS %s from %s to %s (%d segments, %d media): %s",
            message_id,
            from_number,
            mask_phone(to_number),
            segments,
            len(media_urls),
            body,
        )
        handler = _delivery_handler
        if handler is not None:
            failed = random.random() < getattr(settings, "CONSOLE_SMS_FAILURE_RATE", 0.0)
            handler(
                SimulatedDelivery(
                    provider_message_id=message_id,
                    from_number=from_number,
                    to_number=to_number,
                    webhook_url=webhook_url,
                    status="delivery_failed" if failed else "delivered",
                    error_code=SIMULATED_FAILURE_CODE if failed else None,
                )
            )
        return SendResult(provider_message_id=message_id, segments=segments, status="queued")

    # Numbers: deterministic and offline, so `make run` can show the whole flow.

    def search_numbers(self, *, area_code: str, limit: int = 10) -> list[AvailableNumber]:
        # 555-01xx is reserved for fiction in every NANP area code: plausible, and never a real phone.
        return [
            AvailableNumber(phone_number=f"+1{area_code}55501{n:02d}", locality="Console", region="")
            for n in range(min(limit, 100))
        ]

    def order_number(self, *, phone_number: str) -> NumberOrder:
        _released_numbers.discard(phone_number)
        number_id = f"console-{phone_number.lstrip('+')}"
        return NumberOrder(
            phone_number=phone_number, status="success", order_id=number_id, provider_number_id=number_id
        )

    def inspect_number(self, *, phone_number: str, provider_number_id: str = "") -> NumberState:
        if phone_number in _released_numbers:
            return NumberState(phone_number=phone_number, exists=False)
        return NumberState(
            phone_number=phone_number,
            exists=True,
            active=True,
            provider_number_id=provider_number_id or f"console-{phone_number.lstrip('+')}",
            provider_status="active",
        )

    def set_webhook_url(self, *, number: NumberState, url: str) -> None:
        """Nothing to point: the console delivers in-process."""
