"""Number provisioning: search the provider's stock by area code, order one for a church, and record it
as a :class:`SenderNumber` (PENDING while a Telnyx order is pending, ACTIVE once bought).

Provider calls happen outside transactions (a slow provider must not hold row locks); the row is written
after the provider answered. Telnyx finishes pending orders with a ``number_order.complete`` webhook,
handled by :func:`handle_number_order_complete` (registered in ``MessagingConfig.ready``).
"""

import logging
import re

from django.core.exceptions import BadRequest
from django.db import IntegrityError, transaction
from django.utils import timezone

from churches.models import Church, User
from churches.phones import InvalidPhone, parse_phone
from churches.services import audit_record
from koinonia.exceptions import BusinessRuleError
from messaging.numbers.models import SenderNumber
from messaging.providers import AvailableNumber, NumberError, NumberOrder, NumberUnavailable, get_provider

logger = logging.getLogger(__name__)

SEARCH_LIMIT = 10
# NANP area codes: NXX with N = 2–9, never N11 (service codes like 411) and never N9X (reserved for
# expansion). Anything else can't be an area code, so it is the church's typo, not a provider error.
AREA_CODE = re.compile(r"^[2-9](?!9)\d\d$")
# Provider test numbers (+1555…) are not valid to libphonenumber but are what fakes and sandboxes sell.
PROVIDER_TEST_PREFIX = "+1555"


def area_code_clean(raw: str) -> str:
    """The three-digit area code in ``raw`` ("(312)", " 312 "), or a BusinessRuleError for the form."""
    digits = re.sub(r"[\s()\-]", "", raw or "")
    if not re.fullmatch(r"\d{3}", digits):
        raise BusinessRuleError("Enter a three-digit US area code, like 312.", field="area_code")
    if not AREA_CODE.match(digits) or digits[1:] == "11":
        raise BusinessRuleError(f"{digits} isn't a US or Canadian area code.", field="area_code")
    return digits


def number_search(
    *, church: Church, area_code: str, limit: int = SEARCH_LIMIT, provider_name: str | None = None
) -> list[AvailableNumber]:
    """Numbers for sale in ``area_code`` that no church here already has. Reads only (nothing to audit)."""
    code = area_code_clean(area_code)
    try:
        found = get_provider(provider_name).search_numbers(area_code=code, limit=limit)
    except NumberError as exc:
        raise BusinessRuleError(exc.reason, field="area_code", status=503 if exc.transient else 400) from exc
    ours = set(
        SenderNumber.objects.filter(phone_number__in=[n.phone_number for n in found]).values_list(
            "phone_number", flat=True
        )
    )
    return [n for n in found if n.phone_number not in ours]


def _e164(phone_number: str, church: Church) -> str:
    try:
        return parse_phone(phone_number, default_region=church.default_region).e164
    except InvalidPhone as exc:
        if not phone_number.startswith(PROVIDER_TEST_PREFIX):
            raise BusinessRuleError(str(exc), field="phone_number") from exc
        return phone_number


def _existing(e164: str, church: Church) -> SenderNumber | None:
    """The church's own row for ``e164`` (ordering twice is harmless); another church's is a conflict."""
    number = SenderNumber.objects.filter(phone_number=e164).first()
    if number is not None and number.church_id != church.pk:
        raise BusinessRuleError(
            f"{e164} is already used by another account; choose another number.",
            field="phone_number",
            code="conflict",
            status=409,
        )
    return number


def number_order(
    *, church: Church, phone_number: str, acting_user: User | None = None, provider_name: str | None = None
) -> SenderNumber:
    """Buy ``phone_number`` for ``church``. Idempotent: ordering a number the church already has returns
    its row (no second purchase, no second row). A number someone else took is a BusinessRuleError."""
    e164 = _e164(phone_number, church)
    existing = _existing(e164, church)
    if existing is not None and existing.status != SenderNumber.Status.RELEASED:
        return existing
    provider = get_provider(provider_name)
    try:
        order = provider.order_number(phone_number=e164)
    except NumberUnavailable as exc:
        # A double-click's second order finds the number bought by the first: that is success.
        again = _existing(e164, church)
        if again is not None:
            return again
        raise BusinessRuleError(exc.reason, field="phone_number", code="unavailable", status=409) from exc
    except NumberError as exc:
        raise BusinessRuleError(exc.reason, field="phone_number", status=503 if exc.transient else 400) from exc

    status = {
        "pending": SenderNumber.Status.PENDING,
        "success": SenderNumber.Status.ACTIVE,
        "failure": SenderNumber.Status.NEEDS_ATTENTION,
    }[order.status]
    detail = ""
    if order.status == "pending":
        detail = f"{provider.name.title()} is completing the purchase; this usually takes a minute."
    elif order.status == "failure":
        detail = f"{provider.name.title()} could not complete the purchase of {e164}; order another number."
    fields = {
        "church": church,
        "provider": provider.name,
        "provider_number_id": order.provider_number_id,
        "provider_order_id": order.order_id,
        "messaging_profile_id": provider.expected_messaging_profile_id() or "",
        "status": status,
        "status_detail": detail,
        "alerted_problems": "",
        "last_verified_at": timezone.now() if status == SenderNumber.Status.ACTIVE else None,
    }
    try:
        with transaction.atomic():
            has_default = (
                SenderNumber.objects.for_church(church)
                .filter(is_default=True)
                .exclude(phone_number=e164)
                .exclude(status=SenderNumber.Status.RELEASED)
                .exists()
            )
            number, _ = SenderNumber.objects.update_or_create(
                phone_number=e164, defaults={**fields, "is_default": not has_default}
            )
            audit_record(
                church=church,
                actor=acting_user,
                action="sender_number.ordered",
                target=number,
                data={
                    "phone_number": e164,
                    "provider": provider.name,
                    "order_id": order.order_id,
                    "order_status": order.status,
                },
            )
    except IntegrityError:  # a concurrent order of the same number recorded it first
        return _existing(e164, church) or SenderNumber.objects.get(phone_number=e164)
    if number.status == SenderNumber.Status.PENDING:
        # The provider may finish the order and send ``number_order.complete`` before this row is
        # committed; that webhook then finds no PENDING row and changes nothing. One look at the order
        # once the row is visible closes the gap (the hourly check is the fallback for everything else).
        transaction.on_commit(lambda: number_order_refresh(sender=number))
    return number


def handle_number_order_complete(provider: str, payload: dict) -> None:
    """Telnyx ``number_order.complete`` webhook → :func:`number_order_apply`."""
    from messaging.providers.telnyx import number_order_from

    try:
        order = number_order_from(payload["data"]["payload"])
    except (KeyError, TypeError, AttributeError) as exc:
        raise BadRequest("Not a number order event.") from exc
    if not order.order_id:
        raise BadRequest("Not a number order event.")
    number_order_apply(order=order, provider_name=provider)


def number_order_refresh(*, sender: SenderNumber) -> None:
    """Ask the provider how a PENDING number's order went, for when its webhook never arrived (the
    periodic check calls this once the order is overdue). Provider errors leave the number PENDING."""
    if sender.status != SenderNumber.Status.PENDING or not sender.provider_order_id:
        return
    try:
        order = get_provider(sender.provider).number_order_status(order_id=sender.provider_order_id)
    except NumberError as exc:
        logger.warning("could not read a number order", extra={"sender_id": sender.pk, "reason": exc.reason})
        return
    number_order_apply(order=order, provider_name=sender.provider)


def number_order_apply(*, order: NumberOrder, provider_name: str) -> None:
    """A finished order moves its PENDING number to ACTIVE (or NEEDS_ATTENTION if the purchase failed).
    Only PENDING rows move, so a duplicate webhook, a replay or a late refresh changes nothing."""
    if order.status == "pending":
        return
    label = provider_name.title()
    with transaction.atomic():
        numbers = SenderNumber.objects.select_for_update().filter(
            provider_order_id=order.order_id, status=SenderNumber.Status.PENDING
        )
        for number in numbers:
            if order.status == "success":
                number.status = SenderNumber.Status.ACTIVE
                number.status_detail = ""
                number.last_verified_at = timezone.now()
                number.provider_number_id = order.provider_number_id or number.provider_number_id
            else:
                number.status = SenderNumber.Status.NEEDS_ATTENTION
                number.status_detail = (
                    f"{label} could not complete the purchase of {number.phone_number}; order another number."
                )
            number.save(update_fields=["status", "status_detail", "last_verified_at", "provider_number_id"])
            audit_record(
                church_id=number.church_id,
                action="sender_number.order_completed",
                target=number,
                data={"order_id": order.order_id, "order_status": order.status},
            )
            logger.info("number order complete", extra={"order_id": order.order_id, "status": order.status})
