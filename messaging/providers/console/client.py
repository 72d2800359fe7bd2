"""The embedded default provider: logs each send instead of texting anyone.

``make run`` has no carrier, so the console provider also stands in for one's delivery reports: once our
side has recorded its sends (:meth:`ConsoleProvider.sends_recorded`), it schedules one report per text
``CONSOLE_DELIVERY_DELAY_SECONDS`` later (``report_statuses``), failing at ``CONSOLE_SMS_FAILURE_RATE``
(0.0–1.0) so the failure paths can be seen on a laptop too. The reports go through the production callback
path: the function the webhook views call after verification stores each once, and batches apply them.
"""

import logging
import random
import uuid
from collections.abc import Sequence

from django.conf import settings

from messaging.providers.base import (
    AvailableNumber,
    NumberOrder,
    NumberState,
    SendResult,
    SmsProvider,
)
from messaging.providers.console import callbacks
from messaging.providers.console.errors import CONSOLE_ERRORS
from messaging.providers.console.tasks import report_statuses, status_receiver
from messaging.segments import segment_info

logger = logging.getLogger(__name__)


def mask_phone(e164: str) -> str:
    """Members' numbers never appear in logs: keep the country/area prefix and the last two digits."""
    return e164[:5] + "•" * max(0, len(e164) - 7) + e164[-2:] if len(e164) > 7 else "•" * len(e164)


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
    error_codes = CONSOLE_ERRORS
    callbacks = callbacks

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
        return SendResult(provider_message_id=message_id, segments=segments, status="queued")

    def sends_recorded(self, provider_message_ids: Sequence[str]) -> None:
        # Scheduled once the send results are written (never from the sender threads, whose pool must stay
        # off the database): a carrier's report can only be about a text it was given.
        ids = [i for i in provider_message_ids if i]
        if not ids or status_receiver() is None:
            return
        failure_rate = getattr(settings, "CONSOLE_SMS_FAILURE_RATE", 0.0)
        payloads = [callbacks.status_payload(i, failed=random.random() < failure_rate) for i in ids]
        try:
            report_statuses.apply_async(
                args=[payloads], countdown=getattr(settings, "CONSOLE_DELIVERY_DELAY_SECONDS", 1.5)
            )
        except Exception as exc:  # broker down: a simulation lost, never a send
            logger.warning("could not schedule console delivery reports", extra={"error": repr(exc)})

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
