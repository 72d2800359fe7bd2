"""Writes staff make: save drafts of both steps, submit them, resubmit after a rejection.

Provider calls never run inside a transaction: each service saves what staff typed, calls the
registrar, then records the answer in a short transaction of its own.
"""

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from churches.models import Church, User
from churches.services import audit_record
from koinonia.exceptions import BusinessRuleError
from messaging import enqueue
from messaging.numbers.models import TenDlcBrand, TenDlcCampaign, TenDlcEvent
from messaging.numbers.tendlc.state import CampaignStatus, brand_ready, current_campaign, plain_state
from messaging.numbers.tendlc.status import apply_brand_record, apply_campaign_record
from messaging.providers.tendlc import TenDlcError, get_registrar

logger = logging.getLogger(__name__)

Source = TenDlcEvent.Source

# Our field → the provider's camelCase name. 422 field errors come back under the provider's names
# and are mapped back through these, so forms can show them next to the right input.
BRAND_FIELDS = {
    "legal_name": "companyName",
    "display_name": "displayName",
    "ein": "ein",
    "entity_type": "entityType",
    "vertical": "vertical",
    "street": "street",
    "city": "city",
    "state": "state",
    "postal_code": "postalCode",
    "country": "country",
    "website": "website",
    "contact_first_name": "firstName",
    "contact_last_name": "lastName",
    "contact_email": "email",
    "contact_phone": "phone",
}
CAMPAIGN_FIELDS = {
    "usecase": "usecase",
    "description": "description",
    "message_flow": "messageFlow",
    "optin_keywords": "optinKeywords",
    "optin_message": "optinMessage",
    "optout_keywords": "optoutKeywords",
    "optout_message": "optoutMessage",
    "help_keywords": "helpKeywords",
    "help_message": "helpMessage",
}


class TenDlcSubmitError(BusinessRuleError):
    """The registrar refused a submission. ``field_errors`` maps our field names to the reason."""

    def __init__(self, message: str, *, field_errors: dict[str, str] | None = None):
        super().__init__(message, code="tendlc_refused")
        self.field_errors = field_errors or {}


@transaction.atomic
def brand_save(*, church: Church, acting_user: User | None, **fields: Any) -> TenDlcBrand:
    """Save the church's details (validated by the form). Refused while the registry is reviewing them:
    a change then would not be what was approved."""
    brand = TenDlcBrand.objects.for_church(church).select_for_update().first()
    if brand is not None and brand.status == TenDlcBrand.Status.REGISTRATION_PENDING:
        raise BusinessRuleError("The church's details are under review and can't be changed until it finishes.")
    if brand is None:
        brand = TenDlcBrand(church=church, created_by=acting_user)
    for name, value in fields.items():
        setattr(brand, name, value)
    brand.updated_at = timezone.now()
    brand.save()
    return brand


def brand_submit(*, church: Church, acting_user: User | None) -> TenDlcBrand:
    """Send the saved details to the registrar: a new brand, or (after a rejection or to correct an
    approved one) an update of the same brand, which puts it back under review."""
    brand = TenDlcBrand.objects.for_church(church).first()
    if brand is None:
        raise BusinessRuleError("Save the church's details first.")
    if brand.status == TenDlcBrand.Status.REGISTRATION_PENDING:
        raise BusinessRuleError("The church's details are already under review.")
    registrar = _registrar()
    payload = {api: getattr(brand, name) for name, api in BRAND_FIELDS.items()}
    # Claim the submission before calling out, so a double click cannot register the church twice.
    if not TenDlcBrand.objects.filter(pk=brand.pk, status=brand.status).update(
        status=TenDlcBrand.Status.REGISTRATION_PENDING
    ):
        raise BusinessRuleError("The church's details are already under review.")
    try:
        if brand.provider_brand_id:
            record = registrar.update_brand(brand.provider_brand_id, payload)
        else:
            record = registrar.create_brand(payload)
    except TenDlcError as exc:
        TenDlcBrand.objects.filter(pk=brand.pk).update(status=brand.status)
        raise _submit_error(exc, BRAND_FIELDS) from exc
    now = timezone.now()
    with transaction.atomic():
        brand = TenDlcBrand.objects.select_for_update().get(pk=brand.pk)
        brand.provider = registrar.name
        brand.provider_brand_id = str(record.get("brandId") or brand.provider_brand_id)
        brand.submitted_at = now
        brand.failure_reasons = []
        brand.status_at = None  # the answer to this submission wins over anything older
        brand.save(update_fields=["provider", "provider_brand_id", "submitted_at", "failure_reasons", "status_at"])
        apply_brand_record(brand, record, source=Source.SUBMIT, event_type="brand.submitted", occurred_at=now)
        audit_record(church=church, actor=acting_user, action="tendlc.brand.submitted", target=brand)
        _poll_later(church.pk, registrar.first_poll_after)
    return brand


@transaction.atomic
def campaign_save(*, church: Church, acting_user: User | None, **fields: Any) -> TenDlcCampaign:
    """Save the campaign draft. After a rejection the edits go into a new draft (the resubmission);
    the rejected campaign stays in the history."""
    brand = TenDlcBrand.objects.for_church(church).first()
    if brand is None:
        raise BusinessRuleError("Save the church's details first.")
    campaign = TenDlcCampaign.objects.for_church(church).select_for_update().order_by("-id").first()
    if campaign is not None and campaign.campaign_status:
        state = plain_state(brand, campaign)
        if state.key not in ("rejected", "suspended"):
            raise BusinessRuleError("The campaign was submitted and can't be changed while it is reviewed or live.")
        campaign = TenDlcCampaign(church=church, brand=brand, created_by=acting_user, resubmission_of=campaign)
    elif campaign is None:
        campaign = TenDlcCampaign(church=church, brand=brand, created_by=acting_user)
    for name, value in fields.items():
        setattr(campaign, name, value)
    campaign.updated_at = timezone.now()
    campaign.save()
    return campaign


def campaign_request_submission(*, church: Church, acting_user: User | None) -> TenDlcCampaign:
    """Staff pressed "Submit": submit now if the church's registration is approved, or as soon as it
    is (the church need not come back days later just to press the button again)."""
    brand = TenDlcBrand.objects.for_church(church).first()
    if brand_ready(brand):
        return campaign_submit(church=church, acting_user=acting_user)
    campaign = current_campaign(church)
    if brand is None or campaign is None or campaign.campaign_status:
        return campaign_submit(church=church, acting_user=acting_user)  # refuses with the reason
    if brand.status != TenDlcBrand.Status.REGISTRATION_PENDING:
        raise BusinessRuleError("Submit the church's details first; the campaign follows once they are approved.")
    TenDlcCampaign.objects.filter(pk=campaign.pk).update(submit_when_ready=True, failure_reasons=[])
    audit_record(church=church, actor=acting_user, action="tendlc.campaign.submit_requested", target=campaign)
    campaign.submit_when_ready = True
    return campaign


def campaign_submit_when_ready(*, church_id: int) -> TenDlcCampaign | None:
    """The brand was just approved: submit the campaign staff already asked to submit. A refusal is
    kept on the draft as its failure reasons, for staff to correct."""
    campaign = current_campaign(Church(pk=church_id))
    if campaign is None or campaign.campaign_status or not campaign.submit_when_ready:
        return None
    TenDlcCampaign.objects.filter(pk=campaign.pk).update(submit_when_ready=False)
    try:
        return campaign_submit(church=campaign.church, acting_user=None)
    except TenDlcSubmitError as exc:
        reasons = [exc.message, *(f"{name.replace('_', ' ')}: {why}" for name, why in exc.field_errors.items())]
        TenDlcCampaign.objects.filter(pk=campaign.pk).update(failure_reasons=reasons)
    except BusinessRuleError as exc:
        logger.info("10DLC campaign not submitted", extra={"church_id": church_id, "reason": exc.message})
    return None


def campaign_submit(*, church: Church, acting_user: User | None) -> TenDlcCampaign:
    """Register the draft campaign; only once the brand is registered and verified."""
    brand = TenDlcBrand.objects.for_church(church).first()
    campaign = current_campaign(church)
    if brand is None or campaign is None:
        raise BusinessRuleError("Fill in both steps first.")
    if campaign.campaign_status:
        raise BusinessRuleError("This campaign was already submitted.")
    if not brand_ready(brand):
        raise BusinessRuleError(
            "The campaign can be submitted once the church's registration is approved; we'll show it here."
        )
    registrar = _registrar()
    payload = {api: getattr(campaign, name) for name, api in CAMPAIGN_FIELDS.items()}
    payload.update(
        {
            "brandId": brand.provider_brand_id,
            "subscriberOptin": True,
            "subscriberOptout": True,
            "subscriberHelp": True,
            "embeddedLink": False,
            "embeddedPhone": False,
            "numberPool": False,
            "ageGated": False,
            "directLending": False,
            "termsAndConditions": True,
        }
    )
    for i, sample in enumerate(campaign.sample_messages[:5], start=1):
        payload[f"sample{i}"] = sample
    # Claimed first (see brand_submit); polls skip it until the provider's id is recorded.
    if not TenDlcCampaign.objects.filter(pk=campaign.pk, campaign_status="").update(
        campaign_status=CampaignStatus.TCR_PENDING
    ):
        raise BusinessRuleError("This campaign was already submitted.")
    try:
        record = registrar.create_campaign(payload)
    except TenDlcError as exc:
        TenDlcCampaign.objects.filter(pk=campaign.pk).update(campaign_status="")
        raise _submit_error(exc, {**CAMPAIGN_FIELDS, "sample_messages": "sample1"}) from exc
    now = timezone.now()
    with transaction.atomic():
        campaign = TenDlcCampaign.objects.select_for_update().get(pk=campaign.pk)
        campaign.provider = registrar.name
        campaign.provider_campaign_id = str(record.get("campaignId") or "")
        campaign.submitted_at = now
        campaign.save(update_fields=["provider", "provider_campaign_id", "submitted_at"])
        apply_campaign_record(campaign, record, source=Source.SUBMIT, event_type="campaign.submitted", occurred_at=now)
        audit_record(church=church, actor=acting_user, action="tendlc.campaign.submitted", target=campaign)
        _poll_later(church.pk, registrar.first_poll_after)
    return campaign


def _registrar():
    try:
        return get_registrar()
    except TenDlcError as exc:
        raise BusinessRuleError(exc.reason, code="tendlc_unsupported") from exc


def _submit_error(exc: TenDlcError, fields: dict[str, str]) -> TenDlcSubmitError:
    by_api_name = {api: ours for ours, api in fields.items()}
    field_errors = {by_api_name[name]: reason for name, reason in exc.field_errors.items() if name in by_api_name}
    return TenDlcSubmitError(exc.reason, field_errors=field_errors)


def _poll_later(church_id: int, seconds: float) -> None:
    enqueue.tendlc_church_poll_later(church_id, seconds)
