"""The ``data`` of messaging's integrator events (``koinonia.events``; docs/webhooks.md shows them).
Ids are the API's; no member's phone number is ever included (integrators read it through the API)."""

from messaging.numbers.models import SenderNumber


def number_data(sender: SenderNumber) -> dict:
    return {
        "id": sender.pk,
        "phone_number": sender.phone_number,  # the church's own number, not a member's
        "status": sender.status,
        "problems": sender.status_detail,
    }


def tendlc_data(*, registration: str, obj, status: str, previous_status: str) -> dict:
    """``registration``: "brand" or "campaign"."""
    return {
        "registration": registration,
        "id": obj.pk,
        "status": status,
        "previous_status": previous_status,
        "failure_reasons": obj.failure_reasons,
    }
