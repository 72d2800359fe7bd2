"""10DLC registration: the writes (save a draft, submit brand and campaign, resubmit after a rejection),
applying status from webhooks and polls, and linking the church's numbers once the campaign is live.

Provider calls never run inside a transaction: each service saves what staff typed, calls the
registrar, then records the answer in a short transaction of its own. Statuses are the provider's own
words; :func:`plain_state` turns them into the few states staff read. Until the campaign is
``MNO_PROVISIONED`` and a number carries its ``campaign_id``, the send pipeline holds that number to
``SMS_RATE_UNREGISTERED_SENDER`` (see ``messaging.ratelimit``).
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import BadRequest
from django.db import IntegrityError, transaction
from django.utils import timezone

from churches.models import Church, User
from churches.services import audit_record
from koinonia.exceptions import BusinessRuleError
from messaging.delivery import parse_time
from messaging.models import SenderNumber, TenDlcBrand, TenDlcCampaign, TenDlcEvent, TenDlcNumberAssignment
from messaging.providers.tendlc import TenDlcError, failure_reasons, get_registrar, link_number_to_campaign

logger = logging.getLogger(__name__)

Source = TenDlcEvent.Source
CampaignStatus = TenDlcCampaign.CampaignStatus

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


class TenDlcSubmitError(BusinessRuleError):
    """The registrar refused a submission. ``field_errors`` maps our field names to the reason."""

    def __init__(self, message: str, *, field_errors: dict[str, str] | None = None):
        super().__init__(message, code="tendlc_refused")
        self.field_errors = field_errors or {}


# --- The state staff see ----------------------------------------------------------------------------


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
    return TenDlcCampaign.objects.filter(church=church).order_by("-id").first()


# --- Drafts and submissions -------------------------------------------------------------------------


@transaction.atomic
def brand_save(*, church: Church, acting_user: User | None, **fields: Any) -> TenDlcBrand:
    """Save the church's details (validated by the form). Refused while the registry is reviewing them:
    a change then would not be what was approved."""
    brand = TenDlcBrand.objects.select_for_update().filter(church=church).first()
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
    brand = TenDlcBrand.objects.filter(church=church).first()
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
        _apply_brand(brand, record, source=Source.SUBMIT, event_type="brand.submitted", occurred_at=now)
        audit_record(church=church, actor=acting_user, action="tendlc.brand.submitted", target=brand)
        _poll_later(church.pk, registrar.first_poll_after)
    return brand


@transaction.atomic
def campaign_save(*, church: Church, acting_user: User | None, **fields: Any) -> TenDlcCampaign:
    """Save the campaign draft. After a rejection the edits go into a new draft (the resubmission);
    the rejected campaign stays in the history."""
    brand = TenDlcBrand.objects.filter(church=church).first()
    if brand is None:
        raise BusinessRuleError("Save the church's details first.")
    campaign = TenDlcCampaign.objects.select_for_update().filter(church=church).order_by("-id").first()
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


def brand_ready(brand: TenDlcBrand | None) -> bool:
    return brand is not None and brand.status == TenDlcBrand.Status.OK and brand.identity_status != "UNVERIFIED"


def campaign_request_submission(*, church: Church, acting_user: User | None) -> TenDlcCampaign:
    """Staff pressed "Submit": submit now if the church's registration is approved, or as soon as it
    is (the church need not come back days later just to press the button again)."""
    brand = TenDlcBrand.objects.filter(church=church).first()
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
    brand = TenDlcBrand.objects.filter(church=church).first()
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
        _apply_campaign(campaign, record, source=Source.SUBMIT, event_type="campaign.submitted", occurred_at=now)
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
    from messaging.tasks import poll_tendlc_church

    transaction.on_commit(lambda: poll_tendlc_church.apply_async(args=[church_id], countdown=seconds))


# --- Applying the provider's word ---------------------------------------------------------------------


def _record_event(
    *, church_id: int, source: str, event_type: str, summary: str, payload: dict, event_id: str = "", **links
) -> bool:
    """Log one change; False when this webhook event was already recorded (a duplicate)."""
    try:
        with transaction.atomic():
            TenDlcEvent.objects.create(
                church_id=church_id,
                source=source,
                event_type=event_type,
                provider_event_id=event_id,
                summary=summary[:255],
                payload=payload,
                occurred_at=links.pop("occurred_at", None),
                **links,
            )
    except IntegrityError:
        return False
    return True


def _is_stale(status_at: datetime | None, occurred_at: datetime | None) -> bool:
    return bool(status_at and occurred_at and occurred_at < status_at)


def _apply_brand(
    brand: TenDlcBrand,
    record: dict,
    *,
    source: str,
    event_type: str,
    occurred_at: datetime | None,
    event_id: str = "",
) -> bool:
    """Apply a brand record (call inside a transaction with the brand row locked). Returns whether
    anything changed; a duplicate webhook or an older one than the last applied changes nothing."""
    status = str(record.get("status") or record.get("brandStatus") or brand.status)
    identity = str(record.get("identityStatus") or brand.identity_status)
    reasons = failure_reasons(record)
    summary = f"Brand {status}" + (f" ({identity})" if identity else "")
    if not _record_event(
        church_id=brand.church_id,
        source=source,
        event_type=event_type,
        event_id=event_id,
        summary=summary,
        payload={"status": status, "identityStatus": identity, "failureReasons": reasons},
        brand=brand,
        occurred_at=occurred_at,
    ):
        return False
    if _is_stale(brand.status_at, occurred_at):
        return False
    was_ready = brand_ready(brand)
    brand.status, brand.identity_status = status, identity
    brand.tcr_brand_id = str(record.get("tcrBrandId") or brand.tcr_brand_id)
    if reasons or status != TenDlcBrand.Status.REGISTRATION_FAILED:
        brand.failure_reasons = reasons
    brand.status_at = occurred_at or timezone.now()
    brand.updated_at = timezone.now()
    brand.save(
        update_fields=["status", "identity_status", "tcr_brand_id", "failure_reasons", "status_at", "updated_at"]
    )
    if brand_ready(brand) and not was_ready:
        from messaging.tasks import tendlc_submit_campaign

        church_id = brand.church_id
        transaction.on_commit(lambda: tendlc_submit_campaign.delay(church_id))
    return True


def _apply_campaign(
    campaign: TenDlcCampaign,
    record: dict,
    *,
    source: str,
    event_type: str,
    occurred_at: datetime | None,
    event_id: str = "",
) -> bool:
    status = str(record.get("campaignStatus") or record.get("status") or campaign.campaign_status)
    submission = str(record.get("submissionStatus") or campaign.submission_status)
    reasons = failure_reasons(record)
    if not _record_event(
        church_id=campaign.church_id,
        source=source,
        event_type=event_type,
        event_id=event_id,
        summary=f"Campaign {status}",
        payload={"campaignStatus": status, "submissionStatus": submission, "failureReasons": reasons},
        campaign=campaign,
        occurred_at=occurred_at,
    ):
        return False
    if _is_stale(campaign.status_at, occurred_at):
        return False
    became_live = status == CampaignStatus.MNO_PROVISIONED and campaign.campaign_status != status
    campaign.campaign_status, campaign.submission_status = status, submission
    campaign.tcr_campaign_id = str(record.get("tcrCampaignId") or campaign.tcr_campaign_id)
    if reasons or status not in CAMPAIGN_FAILED:
        campaign.failure_reasons = reasons
    campaign.status_at = occurred_at or timezone.now()
    campaign.updated_at = timezone.now()
    if became_live:
        campaign.provisioned_at = timezone.now()
        campaign_id = campaign.pk
        from messaging.tasks import tendlc_assign_numbers

        transaction.on_commit(lambda: tendlc_assign_numbers.delay(campaign_id))
    campaign.save(
        update_fields=[
            "campaign_status",
            "submission_status",
            "tcr_campaign_id",
            "failure_reasons",
            "status_at",
            "updated_at",
            "provisioned_at",
        ]
    )
    if status in CAMPAIGN_FAILED | CAMPAIGN_INACTIVE:
        # Carriers will refuse the numbers' traffic as registered: back to the unregistered limit.
        SenderNumber.objects.filter(church_id=campaign.church_id, campaign_id=campaign.provider_campaign_id).update(
            campaign_id=""
        )
    return True


def _apply_assignment(
    assignment: TenDlcNumberAssignment,
    record: dict,
    *,
    source: str,
    event_type: str,
    occurred_at: datetime | None,
    event_id: str = "",
) -> bool:
    status = str(record.get("assignmentStatus") or record.get("status") or assignment.status)
    reasons = failure_reasons(record)
    if not _record_event(
        church_id=assignment.church_id,
        source=source,
        event_type=event_type,
        event_id=event_id,
        summary=f"{assignment.phone_number[:-4]}•••• {status}",
        payload={"assignmentStatus": status, "failureReasons": reasons},
        campaign_id=assignment.campaign_id,
        occurred_at=occurred_at,
    ):
        return False
    assignment.status, assignment.failure_reasons = status, reasons
    assignment.updated_at = timezone.now()
    assignment.save(update_fields=["status", "failure_reasons", "updated_at"])
    if status == "FAILED_ASSIGNMENT":
        SenderNumber.objects.filter(pk=assignment.sender_number_id).update(campaign_id="")
    return True


# --- Numbers -----------------------------------------------------------------------------------------


def campaign_assign_numbers(*, campaign_id: int) -> int:
    """Link every active number of the church (on the campaign's provider) to its live campaign.
    Idempotent: a number whose link was already requested is not asked again; one whose request never
    got an answer (provider unreachable) is asked on the next poll. Returns how many were asked."""
    campaign = TenDlcCampaign.objects.filter(pk=campaign_id, campaign_status=CampaignStatus.MNO_PROVISIONED).first()
    if campaign is None:
        return 0
    numbers = SenderNumber.objects.filter(
        church_id=campaign.church_id, status=SenderNumber.Status.ACTIVE, provider=campaign.provider
    )
    asked = 0
    for number in numbers:
        assignment, _ = TenDlcNumberAssignment.objects.get_or_create(
            church_id=campaign.church_id,
            campaign=campaign,
            sender_number=number,
            defaults={"phone_number": number.phone_number},
        )
        if assignment.status:  # asked already: confirmed, in progress, or refused (support decides)
            continue
        # Mark the number first: from here its sends are no longer held to the unregistered limit,
        # and the phone-linking recovery job knows which campaign it should be on.
        SenderNumber.objects.filter(pk=number.pk).update(campaign_id=campaign.provider_campaign_id)
        try:
            record = link_number_to_campaign(
                phone_number=number.phone_number, campaign_id=campaign.provider_campaign_id, provider=campaign.provider
            )
        except TenDlcError as exc:
            if exc.transient:  # not linked after all: stay throttled, and the next poll asks again
                SenderNumber.objects.filter(pk=number.pk).update(campaign_id="")
            record = {"assignmentStatus": "" if exc.transient else "FAILED_ASSIGNMENT", "reasons": [exc.reason]}
        with transaction.atomic():
            assignment = TenDlcNumberAssignment.objects.select_for_update().get(pk=assignment.pk)
            _apply_assignment(
                assignment,
                record,
                source=Source.SUBMIT,
                event_type="phone_number.link_requested",
                occurred_at=timezone.now(),
            )
        asked += 1
    return asked


# --- Webhooks (registered in MessagingConfig.ready) -------------------------------------------------


def _event_parts(payload: dict) -> tuple[str, str, datetime | None, dict]:
    try:
        data = payload["data"]
        record = data.get("payload") or {}
        if not isinstance(record, dict):
            raise TypeError
        return str(data["id"]), str(data["event_type"]), parse_time(data.get("occurred_at")), record
    except (KeyError, TypeError, AttributeError) as exc:
        raise BadRequest("Not a 10DLC event.") from exc


def handle_brand_update(provider: str, payload: dict) -> None:
    event_id, event_type, occurred_at, record = _event_parts(payload)
    brand_id = str(record.get("brandId") or "")
    with transaction.atomic():
        brand = TenDlcBrand.objects.select_for_update().filter(provider_brand_id=brand_id).first() if brand_id else None
        if brand is None:
            logger.info("10DLC brand webhook for an unknown brand", extra={"brand_id": brand_id})
            return
        _apply_brand(
            brand, record, source=Source.WEBHOOK, event_type=event_type, occurred_at=occurred_at, event_id=event_id
        )


def handle_campaign_update(provider: str, payload: dict) -> None:
    event_id, event_type, occurred_at, record = _event_parts(payload)
    campaign_id = str(record.get("campaignId") or "")
    with transaction.atomic():
        campaign = (
            TenDlcCampaign.objects.select_for_update().filter(provider_campaign_id=campaign_id).first()
            if campaign_id
            else None
        )
        if campaign is None:
            logger.info("10DLC campaign webhook for an unknown campaign", extra={"campaign_id": campaign_id})
            return
        _apply_campaign(
            campaign, record, source=Source.WEBHOOK, event_type=event_type, occurred_at=occurred_at, event_id=event_id
        )


def handle_number_update(provider: str, payload: dict) -> None:
    event_id, event_type, occurred_at, record = _event_parts(payload)
    phone, campaign_id = str(record.get("phoneNumber") or ""), str(record.get("campaignId") or "")
    with transaction.atomic():
        assignments = TenDlcNumberAssignment.objects.select_for_update().filter(phone_number=phone)
        if campaign_id:
            assignments = assignments.filter(campaign__provider_campaign_id=campaign_id)
        assignment = assignments.order_by("-id").first()
        if assignment is None:
            logger.info("10DLC number webhook for an unknown assignment")
            return
        _apply_assignment(
            assignment, record, source=Source.WEBHOOK, event_type=event_type, occurred_at=occurred_at, event_id=event_id
        )


def register_webhook_handlers() -> None:
    from messaging.webhooks import register_event_handler

    register_event_handler("10dlc.brand.update", handle_brand_update)
    register_event_handler("10dlc.campaign.update", handle_campaign_update)
    register_event_handler("10dlc.phone_number.update", handle_number_update)


# --- Polling: the fallback when webhooks are lost ---------------------------------------------------


def church_poll(*, church_id: int) -> int:
    """Ask the registrar about this church's pending brand, campaign and number links; returns how
    many records changed. Safe to run twice: an unchanged answer changes nothing."""
    changed = 0
    brand = TenDlcBrand.objects.filter(church_id=church_id).exclude(provider_brand_id="").first()
    if brand is not None and brand.status == TenDlcBrand.Status.REGISTRATION_PENDING:
        changed += _poll(brand, lambda r: r.get_brand(brand.provider_brand_id), _apply_brand, "brand.polled")
    campaign = (
        TenDlcCampaign.objects.filter(church_id=church_id).exclude(provider_campaign_id="").order_by("-id").first()
    )
    if campaign is not None and campaign.campaign_status in CAMPAIGN_PENDING:
        changed += _poll(
            campaign, lambda r: r.get_campaign(campaign.provider_campaign_id), _apply_campaign, "campaign.polled"
        )
    elif campaign is not None and campaign.campaign_status == CampaignStatus.MNO_PROVISIONED:
        # Numbers added after approval, or whose link request never reached the provider.
        changed += campaign_assign_numbers(campaign_id=campaign.pk)
    pending = TenDlcNumberAssignment.objects.filter(church_id=church_id, status="PENDING_ASSIGNMENT")
    for assignment in pending.select_related("campaign"):
        changed += _poll(
            assignment,
            lambda r, a=assignment: r.number_assignment(phone_number=a.phone_number),
            _apply_assignment,
            "phone_number.polled",
            provider=assignment.campaign.provider,
        )
    return changed


def _poll(obj, fetch, apply, event_type: str, provider: str | None = None) -> int:
    try:
        record = fetch(get_registrar(provider or obj.provider or None))
    except TenDlcError as exc:
        logger.warning("10DLC poll failed", extra={"church_id": obj.church_id, "reason": exc.reason})
        return 0
    now = timezone.now()
    with transaction.atomic():
        obj = type(obj).objects.select_for_update().get(pk=obj.pk)
        if hasattr(obj, "last_polled_at"):
            obj.last_polled_at = now
            obj.save(update_fields=["last_polled_at"])
        if not _differs(obj, record):
            return 0
        return int(apply(obj, record, source=Source.POLL, event_type=event_type, occurred_at=now))


def _differs(obj, record: dict) -> bool:
    if isinstance(obj, TenDlcBrand):
        return (record.get("status"), record.get("identityStatus")) != (obj.status, obj.identity_status)
    if isinstance(obj, TenDlcCampaign):
        return (record.get("campaignStatus") or record.get("status")) != obj.campaign_status
    return (record.get("assignmentStatus") or record.get("status")) != obj.status


def pending_church_ids() -> list[int]:
    """Churches with something under review (the periodic poll's work list; small by nature)."""
    ids = set(
        TenDlcBrand.objects.filter(status=TenDlcBrand.Status.REGISTRATION_PENDING).values_list("church_id", flat=True)
    )
    ids |= set(
        TenDlcCampaign.objects.filter(campaign_status__in=CAMPAIGN_PENDING)
        .exclude(provider_campaign_id="")
        .values_list("church_id", flat=True)
    )
    # Live campaigns with an active number not (yet) on them.
    live = TenDlcCampaign.objects.filter(campaign_status=CampaignStatus.MNO_PROVISIONED).values("church_id")
    ids |= set(
        SenderNumber.objects.filter(status=SenderNumber.Status.ACTIVE, campaign_id="", church_id__in=live).values_list(
            "church_id", flat=True
        )
    )
    ids |= set(TenDlcNumberAssignment.objects.filter(status="PENDING_ASSIGNMENT").values_list("church_id", flat=True))
    return sorted(ids)
