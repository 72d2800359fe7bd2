"""The provider's word, applied: webhooks (``10dlc.*``), polls (the fallback when webhooks are lost),
and the linking of the church's numbers once its campaign is live. Statuses move as the provider
says; a webhook older than the status already applied is logged but changes nothing, and a webhook
delivered twice is recorded once."""

import logging
from datetime import datetime

from django.core.exceptions import BadRequest
from django.db import IntegrityError, transaction
from django.utils import timezone

from koinonia import events
from messaging import enqueue
from messaging.numbers.event_data import tendlc_data
from messaging.numbers.models import SenderNumber, TenDlcBrand, TenDlcCampaign, TenDlcEvent, TenDlcNumberAssignment
from messaging.numbers.tendlc.state import (
    CAMPAIGN_FAILED,
    CAMPAIGN_INACTIVE,
    CAMPAIGN_PENDING,
    CampaignStatus,
    brand_ready,
)
from messaging.providers.events import parse_time
from messaging.providers.tendlc import TenDlcError, failure_reasons, get_registrar, link_number_to_campaign

logger = logging.getLogger(__name__)

Source = TenDlcEvent.Source


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


def apply_brand_record(
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
    was_ready, previous = brand_ready(brand), brand.status
    brand.status, brand.identity_status = status, identity
    brand.tcr_brand_id = str(record.get("tcrBrandId") or brand.tcr_brand_id)
    if reasons or status != TenDlcBrand.Status.REGISTRATION_FAILED:
        brand.failure_reasons = reasons
    brand.status_at = occurred_at or timezone.now()
    brand.updated_at = timezone.now()
    brand.save(
        update_fields=["status", "identity_status", "tcr_brand_id", "failure_reasons", "status_at", "updated_at"]
    )
    if status != previous:
        events.emit(
            church=brand.church_id,
            type="tendlc.status_changed",
            data=tendlc_data(registration="brand", obj=brand, status=status, previous_status=previous),
        )
    if brand_ready(brand) and not was_ready:
        enqueue.tendlc_campaign_submit_later(brand.church_id)
    return True


def apply_campaign_record(
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
    previous = campaign.campaign_status
    became_live = status == CampaignStatus.MNO_PROVISIONED and campaign.campaign_status != status
    campaign.campaign_status, campaign.submission_status = status, submission
    campaign.tcr_campaign_id = str(record.get("tcrCampaignId") or campaign.tcr_campaign_id)
    if reasons or status not in CAMPAIGN_FAILED:
        campaign.failure_reasons = reasons
    campaign.status_at = occurred_at or timezone.now()
    campaign.updated_at = timezone.now()
    if became_live:
        campaign.provisioned_at = timezone.now()
        enqueue.tendlc_numbers_assign_later(campaign.pk)
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
    if status != previous:
        events.emit(
            church=campaign.church_id,
            type="tendlc.status_changed",
            data=tendlc_data(registration="campaign", obj=campaign, status=status, previous_status=previous),
        )
    if status in CAMPAIGN_FAILED | CAMPAIGN_INACTIVE:
        # Carriers will refuse the numbers' traffic as registered: back to the unregistered limit.
        SenderNumber.objects.for_church(campaign.church_id).filter(campaign_id=campaign.provider_campaign_id).update(
            campaign_id=""
        )
    return True


def apply_assignment_record(
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
            apply_assignment_record(
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


def _apply_webhook(payload: dict, *, find, apply, what: str) -> None:
    """One ``10dlc.*`` webhook: parse it, lock the record it is about (``find(record)``, or None when it
    is not ours) and hand it to ``apply`` (which records the event once and ignores stale ones)."""
    event_id, event_type, occurred_at, record = _event_parts(payload)
    with transaction.atomic():
        row = find(record)
        if row is None:
            logger.info("10DLC webhook for an unknown %s", what, extra={"event_id": event_id})
            return
        apply(row, record, source=Source.WEBHOOK, event_type=event_type, occurred_at=occurred_at, event_id=event_id)


def _locked(model, field: str, value) -> object | None:
    value = str(value or "")
    return model.objects.select_for_update().filter(**{field: value}).first() if value else None


def handle_brand_update(provider: str, payload: dict) -> None:
    _apply_webhook(
        payload,
        find=lambda record: _locked(TenDlcBrand, "provider_brand_id", record.get("brandId")),
        apply=apply_brand_record,
        what="brand",
    )


def handle_campaign_update(provider: str, payload: dict) -> None:
    _apply_webhook(
        payload,
        find=lambda record: _locked(TenDlcCampaign, "provider_campaign_id", record.get("campaignId")),
        apply=apply_campaign_record,
        what="campaign",
    )


def _locked_assignment(record: dict) -> TenDlcNumberAssignment | None:
    phone, campaign_id = str(record.get("phoneNumber") or ""), str(record.get("campaignId") or "")
    assignments = TenDlcNumberAssignment.objects.select_for_update().filter(phone_number=phone)
    if campaign_id:
        assignments = assignments.filter(campaign__provider_campaign_id=campaign_id)
    return assignments.order_by("-id").first()


def handle_number_update(provider: str, payload: dict) -> None:
    _apply_webhook(payload, find=_locked_assignment, apply=apply_assignment_record, what="number assignment")


# --- Polling: the fallback when webhooks are lost ---------------------------------------------------


def church_poll(*, church_id: int) -> int:
    """Ask the registrar about this church's pending brand, campaign and number links; returns how
    many records changed. Safe to run twice: an unchanged answer changes nothing."""
    changed = 0
    brand = TenDlcBrand.objects.for_church(church_id).exclude(provider_brand_id="").first()
    if brand is not None and brand.status == TenDlcBrand.Status.REGISTRATION_PENDING:
        changed += _poll(brand, lambda r: r.get_brand(brand.provider_brand_id), apply_brand_record, "brand.polled")
    campaign = TenDlcCampaign.objects.for_church(church_id).exclude(provider_campaign_id="").order_by("-id").first()
    if campaign is not None and campaign.campaign_status in CAMPAIGN_PENDING:
        changed += _poll(
            campaign, lambda r: r.get_campaign(campaign.provider_campaign_id), apply_campaign_record, "campaign.polled"
        )
    elif campaign is not None and campaign.campaign_status == CampaignStatus.MNO_PROVISIONED:
        # Numbers added after approval, or whose link request never reached the provider.
        changed += campaign_assign_numbers(campaign_id=campaign.pk)
    pending = TenDlcNumberAssignment.objects.for_church(church_id).filter(status="PENDING_ASSIGNMENT")
    for assignment in pending.select_related("campaign"):
        changed += _poll(
            assignment,
            lambda r, a=assignment: r.number_assignment(phone_number=a.phone_number),
            apply_assignment_record,
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
