"""Reads for the 10DLC page: everything about one church's registration in a fixed number of queries."""

from dataclasses import dataclass

from django.conf import settings

from churches.models import Church
from messaging.numbers.models import SenderNumber, TenDlcBrand, TenDlcCampaign, TenDlcEvent, TenDlcNumberAssignment
from messaging.numbers.tendlc import PlainState, plain_state

EVENTS_SHOWN = 20


@dataclass
class Registration:
    brand: TenDlcBrand | None
    campaign: TenDlcCampaign | None  # the current (newest) one
    earlier_campaigns: list[TenDlcCampaign]
    assignments: list[TenDlcNumberAssignment]
    events: list[TenDlcEvent]
    unregistered_numbers: list[str]
    state: PlainState
    self_service: bool  # False when the provider's registration is handled by support (Twilio)

    @property
    def unregistered_rate(self) -> float:
        return float(getattr(settings, "SMS_RATE_UNREGISTERED_SENDER", 0) or 0)

    @property
    def throttled(self) -> bool:
        """Some carrier number is not on a live campaign, so the send pipeline holds it back."""
        return bool(self.unregistered_numbers) and self.unregistered_rate > 0


def tendlc_campaign_list(*, church: Church):
    return TenDlcCampaign.objects.for_church(church).order_by("-id")


def tendlc_registration(*, church: Church) -> Registration:
    brand = TenDlcBrand.objects.for_church(church).first()
    campaigns = list(tendlc_campaign_list(church=church)[:10])
    campaign = campaigns[0] if campaigns else None
    assignments = (
        list(TenDlcNumberAssignment.objects.for_church(church).filter(campaign=campaign).order_by("phone_number"))
        if campaign
        else []
    )
    numbers = (
        SenderNumber.objects.for_church(church)
        .filter(status=SenderNumber.Status.ACTIVE)
        .values_list("phone_number", "provider", "campaign_id")
    )
    numbers = list(numbers)
    return Registration(
        brand=brand,
        campaign=campaign,
        earlier_campaigns=campaigns[1:],
        assignments=assignments,
        events=list(TenDlcEvent.objects.for_church(church).order_by("-id")[:EVENTS_SHOWN]),
        unregistered_numbers=[
            phone for phone, provider, campaign_id in numbers if provider != "console" and not campaign_id
        ],
        state=plain_state(brand, campaign),
        self_service=settings.SMS_PROVIDER != "twilio",
    )


def tendlc_campaign_events(*, church: Church, campaign: TenDlcCampaign) -> list[TenDlcEvent]:
    return list(TenDlcEvent.objects.for_church(church).filter(campaign=campaign).order_by("-id")[:50])
