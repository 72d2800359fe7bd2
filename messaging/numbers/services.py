"""Writes for the church's sender numbers that are not provider orders (``ordering``) or checks (``linking``):
recording a number support assigned; and which number a church texts from."""

from django.conf import settings
from django.db import transaction

from churches.models import Church, User
from churches.services import audit_record
from koinonia.exceptions import BusinessRuleError
from messaging.numbers.models import SenderNumber


def default_sender(*, church: Church) -> SenderNumber | None:
    return (
        SenderNumber.objects.for_church(church)
        .filter(status=SenderNumber.Status.ACTIVE)
        .order_by("-is_default", "id")
        .first()
    )


@transaction.atomic
def sender_number_add(
    *, church: Church, phone_number: str, provider: str | None = None, acting_user: User | None = None, **provider_ids
) -> SenderNumber:
    """Record a number the church texts from (support assigns them in admin; provisioning through the
    provider API comes with the numbers feature)."""
    from churches.phones import InvalidPhone, parse_phone

    try:
        e164 = parse_phone(phone_number, default_region=church.default_region).e164
    except InvalidPhone as exc:
        if not phone_number.startswith("+1555"):
            raise BusinessRuleError(str(exc), field="phone_number") from exc
        e164 = phone_number  # provider test numbers (+1555...) aren't valid in libphonenumber
    if SenderNumber.objects.filter(phone_number=e164).exclude(church=church).exists():
        raise BusinessRuleError(
            "That number belongs to another account.", field="phone_number", code="conflict", status=409
        )
    number, _ = SenderNumber.objects.update_or_create(
        phone_number=e164,
        defaults={"church": church, "provider": provider or settings.SMS_PROVIDER, **provider_ids},
    )
    audit_record(
        church=church, actor=acting_user, action="sender_number.added", target=number, data={"phone_number": e164}
    )
    return number
