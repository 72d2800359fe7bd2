"""The registration's state: the provider's statuses grouped, and the plain words staff read."""

from dataclasses import dataclass, field

from churches.models import Church
from messaging.numbers.models import TenDlcBrand, TenDlcCampaign

CampaignStatus = TenDlcCampaign.CampaignStatus

CAMPAIGN_PENDING = {
    CampaignStatus.TCR_PENDING,
    CampaignStatus.TCR_ACCEPTED,
    CampaignStatus.TELNYX_ACCEPTED,
    CampaignStatus.MNO_PENDING,
    CampaignStatus.MNO_ACCEPTED,
}
CAMPAIGN_FAILED = {
    CampaignStatus.TCR_FAILED,
    CampaignStatus.TELNYX_FAILED,
    CampaignStatus.MNO_REJECTED,
    CampaignStatus.MNO_PROVISIONING_FAILED,
}
CAMPAIGN_INACTIVE = {CampaignStatus.TCR_SUSPENDED, CampaignStatus.TCR_EXPIRED}
UNVERIFIED_REASON = (
    "The Campaign Registry could not verify the church's legal name and EIN together; check that both match "
    "the IRS letter exactly."
)


def brand_ready(brand: TenDlcBrand | None) -> bool:
    """Registered and verified: a campaign may be submitted."""
    return brand is not None and brand.status == TenDlcBrand.Status.OK and brand.identity_status != "UNVERIFIED"


@dataclass(frozen=True)
class PlainState:
    key: str  # not_started | draft | pending | approved | rejected | suspended
    label: str
    detail: str
    reasons: list[str] = field(default_factory=list)
    step: str = "brand"  # what the church can do next: brand | campaign | none

    @property
    def registered(self) -> bool:
        return self.key == "approved"


def plain_state(brand: TenDlcBrand | None, campaign: TenDlcCampaign | None) -> PlainState:
    """The registration in the words staff read, with what to do next."""
    if brand is None:
        return PlainState("not_started", "Not started", "Tell us about the church to begin.")
    if not brand.status:
        return PlainState("draft", "Draft", "The church's details are saved but not submitted yet.")
    if brand.status == TenDlcBrand.Status.REGISTRATION_FAILED or (
        brand.status == TenDlcBrand.Status.OK and brand.identity_status == "UNVERIFIED"
    ):
        reasons = brand.failure_reasons or ([UNVERIFIED_REASON] if brand.identity_status == "UNVERIFIED" else [])
        return PlainState("rejected", "Rejected", "The church's registration was not accepted.", reasons, "brand")
    if brand.status == TenDlcBrand.Status.REGISTRATION_PENDING:
        return PlainState(
            "pending", "Pending review", "The Campaign Registry is checking the church's details.", step="campaign"
        )
    if campaign is not None and not campaign.campaign_status and campaign.failure_reasons:
        return PlainState(
            "rejected", "Not accepted", "The campaign could not be submitted.", campaign.failure_reasons, "campaign"
        )
    if campaign is None or not campaign.campaign_status:
        return PlainState(
            "draft", "Draft", "The church is registered; describe how it texts members and submit.", step="campaign"
        )
    status = campaign.campaign_status
    if status == CampaignStatus.MNO_PROVISIONED:
        return PlainState("approved", "Approved", "Carriers accept texts from the church's numbers.", step="none")
    if status in CAMPAIGN_FAILED or campaign.submission_status == "FAILED":
        return PlainState(
            "rejected", "Rejected", "The texting campaign was not accepted.", campaign.failure_reasons, "campaign"
        )
    if status in CAMPAIGN_INACTIVE:
        return PlainState(
            "suspended", "Suspended", "Carriers stopped accepting the campaign.", campaign.failure_reasons, "campaign"
        )
    return PlainState("pending", "Pending review", f"{campaign.get_campaign_status_display()}.", step="none")


def current_campaign(church: Church) -> TenDlcCampaign | None:
    return TenDlcCampaign.objects.for_church(church).order_by("-id").first()
