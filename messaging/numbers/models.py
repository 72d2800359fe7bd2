"""Sender numbers' data: the church's texting numbers (SenderNumber), their phone-linking checks (NumberCheck),
and 10DLC registration (TenDlcBrand, TenDlcCampaign, TenDlcNumberAssignment, TenDlcEvent)."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from churches.models import ChurchOwned, User


class SenderNumber(ChurchOwned):
    """A phone number the church texts from. A number belongs to exactly one church, which is how
    inbound texts find their church."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PENDING = "pending", "Pending set-up"
        NEEDS_ATTENTION = "needs_attention", "Needs attention"
        RELEASED = "released", "Released"

    phone_number = models.CharField(max_length=20, unique=True, help_text="E.164, e.g. +13125550100")
    provider = models.CharField(max_length=16, default="console")
    provider_number_id = models.CharField(max_length=64, blank=True)
    messaging_profile_id = models.CharField(max_length=64, blank=True)
    campaign_id = models.CharField(max_length=64, blank=True, help_text="10DLC campaign the number is linked to.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    status_detail = models.TextField(blank=True)
    is_default = models.BooleanField(default=True)
    last_verified_at = models.DateTimeField(null=True, blank=True)
    provider_order_id = models.CharField(
        max_length=64, blank=True, help_text="The provider's order while the purchase is pending (Telnyx)."
    )
    alerted_problems = models.CharField(
        max_length=200,
        blank=True,
        help_text="The problems the owner was last emailed about; cleared once the number is healthy again, "
        "so the same problem is emailed once, and again only if it comes back.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["church", "status"], name="sendernumber_church_status")]

    def __str__(self) -> str:
        return self.phone_number


class NumberCheck(ChurchOwned):
    """One phone-linking check of one sender number: what was wrong, what we repaired, what we could not."""

    class Outcome(models.TextChoices):
        OK = "ok", "OK"
        REPAIRED = "repaired", "Repaired"
        FAILED = "failed", "Failed"

    sender = models.ForeignKey(SenderNumber, on_delete=models.CASCADE, related_name="checks")
    checked_at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    problems = models.JSONField(default=list, blank=True, help_text="Plain-English problems found.")
    repairs = models.JSONField(default=list, blank=True, help_text="Plain-English repairs made.")
    error = models.TextField(blank=True, help_text="Why a check or repair could not be done.")
    triggered_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [
            # A number's latest checks (settings page, admin inline), newest first.
            models.Index(fields=["church", "sender", "-checked_at"], name="numbercheck_sender_recent"),
            # The hourly prune (checked_at < cutoff) and support's list of every check, newest first.
            models.Index(fields=["checked_at"], name="numbercheck_checked_at"),
        ]
        ordering = ["-checked_at", "-id"]

    def __str__(self) -> str:
        return f"{self.sender} {self.outcome} at {self.checked_at:%Y-%m-%d %H:%M}"


# Statuses are stored exactly as the provider spells them (docs/providers.md §1.9) so that a
# webhook, a poll and support's provider console all read the same; ``messaging.numbers.tendlc.plain_state``
# derives the few words staff see.

# --- 10DLC registration (US long-code texting) ----------------------------------------------------
# Statuses are stored exactly as the provider spells them so that a webhook, a poll and support's provider
# console all read the same; ``messaging.numbers.tendlc.plain_state`` derives the few words staff see.

EIN_HELP = "The church's 9-digit federal Employer Identification Number, written XX-XXXXXXX."


class TenDlcBrand(ChurchOwned):
    """The church as The Campaign Registry knows it: one per church, edited and resubmitted in place."""

    class EntityType(models.TextChoices):
        NON_PROFIT = "NON_PROFIT", "Non-profit organization"
        PRIVATE_PROFIT = "PRIVATE_PROFIT", "Privately held company"
        PUBLIC_PROFIT = "PUBLIC_PROFIT", "Publicly traded company"
        GOVERNMENT = "GOVERNMENT", "Government body"
        SOLE_PROPRIETOR = "SOLE_PROPRIETOR", "Sole proprietor"

    class Vertical(models.TextChoices):
        NGO = "NGO", "Non-profit / religious organization"
        EDUCATION = "EDUCATION", "Education"
        PROFESSIONAL = "PROFESSIONAL", "Professional services"

    class Status(models.TextChoices):
        OK = "OK", "Registered"
        REGISTRATION_PENDING = "REGISTRATION_PENDING", "Registration pending"
        REGISTRATION_FAILED = "REGISTRATION_FAILED", "Registration failed"

    legal_name = models.CharField(max_length=255, help_text="Exactly as on the IRS letter for the EIN.")
    display_name = models.CharField(max_length=255, help_text="The name members know the church by.")
    ein = models.CharField("EIN", max_length=10, help_text=EIN_HELP)
    entity_type = models.CharField(max_length=20, choices=EntityType.choices, default=EntityType.NON_PROFIT)
    vertical = models.CharField(max_length=20, choices=Vertical.choices, default=Vertical.NGO)
    street = models.CharField(max_length=255)
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=20, help_text="Two-letter state code, e.g. IL.")
    postal_code = models.CharField(max_length=10)
    country = models.CharField(max_length=2, default="US")
    website = models.URLField(max_length=255)
    contact_first_name = models.CharField(max_length=100)
    contact_last_name = models.CharField(max_length=100)
    contact_email = models.EmailField()
    contact_phone = models.CharField(max_length=20, help_text="E.164, e.g. +13125550100")
    provider = models.CharField(max_length=16, blank=True, help_text="The registrar it was submitted to.")
    provider_brand_id = models.CharField(max_length=64, blank=True)
    tcr_brand_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=24, choices=Status.choices, blank=True, help_text="Empty until submitted.")
    identity_status = models.CharField(max_length=24, blank=True)
    failure_reasons = models.JSONField(default=list, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    status_at = models.DateTimeField(
        null=True, blank=True, help_text="When the applied status was true (webhooks older than this are stale)."
    )
    last_polled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "10DLC brand"
        constraints = [
            # One brand per church; also serves "this church's brand".
            models.UniqueConstraint(fields=["church"], name="tendlcbrand_one_per_church"),
        ]
        indexes = [
            # Webhooks and polls find the brand by the provider's id.
            models.Index(
                fields=["provider_brand_id"], name="tendlcbrand_provider_id", condition=~Q(provider_brand_id="")
            ),
        ]

    def __str__(self) -> str:
        return f"10DLC brand of {self.display_name or self.legal_name}"


class TenDlcCampaign(ChurchOwned):
    """One campaign submission. A rejected campaign is kept for the record and a new row carries the
    resubmission (Telnyx registers a fresh campaign); the church's current campaign is its newest."""

    class UseCase(models.TextChoices):
        MIXED = "MIXED", "Mixed (announcements, reminders and conversations)"
        LOW_VOLUME = "LOW_VOLUME", "Low-volume mixed (under 2,000 texts a day)"
        CHARITY = "CHARITY", "Non-profit / charity communications"

    class CampaignStatus(models.TextChoices):
        TCR_PENDING = "TCR_PENDING", "Waiting for The Campaign Registry"
        TCR_ACCEPTED = "TCR_ACCEPTED", "Accepted by The Campaign Registry"
        TELNYX_ACCEPTED = "TELNYX_ACCEPTED", "Accepted by Telnyx"
        MNO_PENDING = "MNO_PENDING", "Waiting for the carriers"
        MNO_ACCEPTED = "MNO_ACCEPTED", "Accepted by the carriers"
        MNO_PROVISIONED = "MNO_PROVISIONED", "Live with the carriers"
        TCR_FAILED = "TCR_FAILED", "Refused by The Campaign Registry"
        TELNYX_FAILED = "TELNYX_FAILED", "Refused by Telnyx"
        MNO_REJECTED = "MNO_REJECTED", "Rejected by the carriers"
        MNO_PROVISIONING_FAILED = "MNO_PROVISIONING_FAILED", "Carrier set-up failed"
        TCR_SUSPENDED = "TCR_SUSPENDED", "Suspended"
        TCR_EXPIRED = "TCR_EXPIRED", "Expired"

    brand = models.ForeignKey(TenDlcBrand, on_delete=models.PROTECT, related_name="campaigns")
    usecase = models.CharField("use case", max_length=20, choices=UseCase.choices, default=UseCase.LOW_VOLUME)
    description = models.TextField()
    sample_messages = models.JSONField(default=list, help_text="Two to five example texts.")
    message_flow = models.TextField(help_text="How members opt in to receive texts.")
    optin_keywords = models.CharField(max_length=255, default="START,JOIN")
    optin_message = models.TextField()
    optout_keywords = models.CharField(max_length=255, default="STOP,END,CANCEL,UNSUBSCRIBE,QUIT")
    optout_message = models.TextField()
    help_keywords = models.CharField(max_length=255, default="HELP,INFO")
    help_message = models.TextField()
    provider = models.CharField(max_length=16, blank=True)
    provider_campaign_id = models.CharField(max_length=64, blank=True)
    tcr_campaign_id = models.CharField(max_length=64, blank=True)
    campaign_status = models.CharField(max_length=32, choices=CampaignStatus.choices, blank=True)
    submission_status = models.CharField(max_length=16, blank=True, help_text="CREATED, PENDING or FAILED.")
    failure_reasons = models.JSONField(default=list, blank=True)
    submit_when_ready = models.BooleanField(
        default=False,
        help_text="Staff submitted it while the church's details were in review: it goes out once they are approved.",
    )
    # At most one resubmission per campaign: unique (church, resubmission_of) below, church first for
    # distribution (koinonia/distribution.py).
    resubmission_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    status_at = models.DateTimeField(
        null=True, blank=True, help_text="When the applied status was true (webhooks older than this are stale)."
    )
    provisioned_at = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "10DLC campaign"
        indexes = [
            # The church's current campaign (newest) and its history on the 10DLC page.
            models.Index(fields=["church", "-id"], name="tendlccampaign_church_recent"),
            # Webhooks and polls find the campaign by the provider's id.
            models.Index(
                fields=["provider_campaign_id"],
                name="tendlccampaign_provider_id",
                condition=~Q(provider_campaign_id=""),
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["church", "resubmission_of"], name="tendlccampaign_one_resubmission")
        ]

    def __str__(self) -> str:
        return f"10DLC campaign {self.provider_campaign_id or '(draft)'}"


class TenDlcNumberAssignment(ChurchOwned):
    """One sender number linked (or being linked) to a provisioned campaign."""

    campaign = models.ForeignKey(TenDlcCampaign, on_delete=models.CASCADE, related_name="assignments")
    sender_number = models.ForeignKey("messaging.SenderNumber", on_delete=models.CASCADE, related_name="+")
    phone_number = models.CharField(max_length=20)
    status = models.CharField(max_length=24, blank=True, help_text="assignmentStatus as the provider reports it.")
    failure_reasons = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "10DLC number assignment"
        constraints = [
            models.UniqueConstraint(fields=["church", "campaign", "sender_number"], name="tendlcassignment_unique"),
        ]
        indexes = [
            # 10dlc.phone_number.update webhooks find the assignment by number.
            models.Index(fields=["phone_number"], name="tendlcassignment_phone"),
        ]

    def __str__(self) -> str:
        return f"{self.phone_number} → {self.campaign}"


class TenDlcEvent(ChurchOwned):
    """What happened to a church's registration, in order: each submission, webhook and poll that
    changed something. Webhooks are stored once (unique provider event id per church)."""

    class Source(models.TextChoices):
        SUBMIT = "submit", "Submitted by staff"
        WEBHOOK = "webhook", "Provider webhook"
        POLL = "poll", "Status poll"
        SUPPORT = "support", "Support"

    brand = models.ForeignKey(TenDlcBrand, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(TenDlcCampaign, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=8, choices=Source.choices)
    event_type = models.CharField(max_length=64, help_text="e.g. 10dlc.campaign.update, brand.submitted")
    provider_event_id = models.CharField(max_length=128, blank=True)
    summary = models.CharField(max_length=255, blank=True, help_text="The status change, in a few words.")
    payload = models.JSONField(default=dict, blank=True, help_text="The provider's status fields (no personal data).")
    occurred_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "10DLC event"
        constraints = [
            # A webhook delivered twice is recorded (and applied) once.
            models.UniqueConstraint(
                fields=["church", "provider_event_id"],
                name="tendlcevent_unique_webhook",
                condition=~Q(provider_event_id=""),
            ),
        ]
        indexes = [
            # The history on the 10DLC page and in the admin, newest first.
            models.Index(fields=["church", "-id"], name="tendlcevent_church_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type}: {self.summary}"
