"""Outbound messaging: sender numbers, broadcasts (Message), one Recipient row per member per message,
templates, and the provider events (webhooks) that move recipients forward."""

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from churches.crypto import EncryptedJSONField, EncryptedTextField
from churches.models import ApiKey, ChurchOwned, Member, User


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


class MessageTemplate(ChurchOwned):
    name = models.CharField(max_length=120)
    body = models.TextField()
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint("church", Lower("name"), name="template_church_name_ci_unique")]

    def __str__(self) -> str:
        return self.name


class Message(ChurchOwned):
    """A broadcast. Counts are kept current by the pipeline (never counted on read)."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        CANCELED = "canceled", "Canceled"
        FAILED = "failed", "Failed"

    author = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    sender = models.ForeignKey(SenderNumber, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    media_urls = models.JSONField(default=list, blank=True)
    audience = models.JSONField(help_text='{"all": true} or {"branch_ids": [], "group_ids": [], "member_ids": []}')
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    status_detail = models.TextField(blank=True, help_text="Why it failed or was stopped, in plain English.")
    scheduled_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Recipients still held then are skipped.")
    encoding = models.CharField(max_length=8, default="GSM-7")
    segments = models.PositiveSmallIntegerField(default=1, help_text="Segments per text, before merge fields.")
    idempotency_key = models.CharField(max_length=128, blank=True)
    resend_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    recipient_count = models.PositiveIntegerField(default=0)
    queued_count = models.IntegerField(default=0)
    sent_count = models.IntegerField(default=0)
    delivered_count = models.IntegerField(default=0)
    failed_count = models.IntegerField(default=0)
    skipped_count = models.IntegerField(default=0)
    segments_sent = models.PositiveIntegerField(default=0, help_text="Segments handed to the provider (billed).")
    prepared_at = models.DateTimeField(null=True, blank=True, help_text="When recipients were materialized.")
    last_dispatched_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    recurring = models.ForeignKey(
        "RecurringMessage",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="messages",
        help_text="The recurring message whose firing this is (its firings, newest first).",
    )

    class Meta:
        constraints = [
            # Idempotency-Key: the same key returns the same message.
            models.UniqueConstraint(
                fields=["church", "idempotency_key"],
                name="message_idempotency_unique",
                condition=~Q(idempotency_key=""),
            ),
        ]
        indexes = [
            # The message list (newest first) and the API's cursor pagination.
            models.Index(fields=["church", "-id"], name="message_church_recent"),
            # The sweeper and the scheduler: unfinished messages only (a small partial index).
            models.Index(
                fields=["status", "scheduled_at"],
                name="message_unfinished",
                condition=Q(status__in=["scheduled", "queued", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"Message {self.pk}: {self.body[:40]}"

    @property
    def counts(self) -> dict[str, int]:
        return {
            "recipients": self.recipient_count,
            "queued": self.queued_count,
            "sent": self.sent_count,
            "delivered": self.delivered_count,
            "failed": self.failed_count,
            "skipped": self.skipped_count,
        }

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SENT, self.Status.CANCELED, self.Status.FAILED)

    @property
    def recipients_counted(self) -> bool:
        """False while a large audience waits to be counted by a worker (``recipient_count`` is 0)."""
        return self.prepared_at is not None or self.recipient_count > 0

    @property
    def recipients_label(self) -> str:
        """ "1,234 members", or "everyone in the audience" while it is being counted."""
        return f"{self.recipient_count:,} members" if self.recipients_counted else "everyone in the audience"


class Recipient(ChurchOwned):
    """One member of one broadcast. The hottest table: each index names the query it serves."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="recipients", db_index=False)
    # No database constraint and no cascade: deleting a member must not rewrite millions of delivery
    # rows (there is deliberately no member_id index here). A deleted member's recipients keep the
    # old id, which then matches nothing.
    member = models.ForeignKey(
        Member, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False
    )
    phone = EncryptedTextField(help_text="The number at the time of sending (encrypted).")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    provider_message_id = models.CharField(max_length=64, blank=True)
    segments = models.PositiveSmallIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    error_reason = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    send_after = models.DateTimeField(null=True, blank=True, help_text="Held (quiet hours, retry back-off).")
    claimed_until = models.DateTimeField(null=True, blank=True, help_text="Lease held by a sending worker.")
    queued_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True, help_text="occurred_at of the last applied event.")

    class Meta:
        constraints = [
            # One text per member per broadcast (materialization dedupes across groups and branches with
            # ON CONFLICT DO NOTHING); also serves the recipients table of a message.
            models.UniqueConstraint(fields=["message", "member"], name="recipient_message_member_unique"),
        ]
        indexes = [
            # Delivery webhooks find their recipient by provider id.
            models.Index(
                fields=["provider_message_id"], name="recipient_provider_id", condition=~Q(provider_message_id="")
            ),
            # The recipients table of a message (pages and API), in id order, optionally by status.
            models.Index(fields=["message", "id"], name="recipient_message_order"),
            # send_batch claims the next queued recipients of a message; the partial index shrinks as
            # the broadcast goes out.
            models.Index(fields=["message", "id"], name="recipient_claimable", condition=Q(status="queued")),
            # The sweeper finds expired leases.
            models.Index(fields=["claimed_until"], name="recipient_leased", condition=Q(status="sending")),
        ]

    def __str__(self) -> str:
        return f"Recipient {self.pk} of message {self.message_id}"


class ProviderEvent(models.Model):
    """Every provider callback, stored once (unique event id), so callbacks are idempotent and
    replayable. Events that arrive before the send result they refer to stay pending and are applied
    when it lands."""

    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending"
        APPLIED = "applied", "Applied"
        IGNORED = "ignored", "Ignored (stale or duplicate state)"
        UNMATCHED = "unmatched", "No matching message"
        ERROR = "error", "Error"

    provider = models.CharField(max_length=16)
    event_id = models.CharField(max_length=128)
    event_type = models.CharField(max_length=64)
    provider_message_id = models.CharField(max_length=64, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    payload = EncryptedJSONField(help_text="The callback as received (encrypted: it carries phone numbers).")
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    detail = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["provider", "event_id"], name="providerevent_unique")]
        indexes = [
            # Applying events that arrived before their send result was recorded.
            models.Index(fields=["provider_message_id"], name="providerevent_pending", condition=Q(outcome="pending")),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_type} {self.event_id}"


# --- Recurring messages ---------------------------------------------------------------------------

_now = timezone.now  # RecurringMessage has a field called ``timezone``


class RecurringMessage(ChurchOwned):
    """A broadcast sent on a schedule (see ``messaging.recurrence`` for the schedule math and the rules
    for clock changes and short months). Each firing is a normal Message (``Message.recurring``) sent
    through ``message_send`` with the firing key ``recurring:<id>:<send time>``, so a duplicate tick or a
    second scheduler finds the message already made."""

    class Frequency(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"
        MONTHLY = "monthly", "Monthly"
        RRULE = "rrule", "Custom rule (RRULE)"

    name = models.CharField(max_length=120, blank=True, help_text="A label for the list, e.g. “Sunday reminder”.")
    template = models.ForeignKey(
        MessageTemplate,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="When set, each firing sends the template's current text.",
    )
    body = models.TextField(blank=True, help_text="The text (kept as a fallback when a template is used).")
    audience = models.JSONField(help_text='{"all": true} or {"branch_ids": [], "group_ids": [], "member_ids": []}')
    frequency = models.CharField(max_length=8, choices=Frequency.choices)
    interval = models.PositiveSmallIntegerField(default=1, help_text="Every N days / weeks / months.")
    weekdays = models.JSONField(default=list, blank=True, help_text="Weekly: 0 (Monday) … 6 (Sunday).")
    month_day = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Monthly: 1–31.")
    nth_week = models.SmallIntegerField(null=True, blank=True, help_text="Monthly: 1–4, or -1 for the last.")
    nth_weekday = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Monthly: 0 (Monday) … 6.")
    rrule = models.CharField(max_length=500, blank=True, help_text="Custom: RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=SU")
    time_of_day = models.TimeField(help_text="Local time in ``timezone``.")
    timezone = models.CharField(max_length=64, help_text="The church's time zone when the schedule was saved.")
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True, help_text="Last day it may be sent (inclusive).")
    count = models.PositiveIntegerField(null=True, blank=True, help_text="Occurrences from the start date.")
    active = models.BooleanField(default=True, help_text="Off while paused.")
    next_run_at = models.DateTimeField(null=True, blank=True, help_text="UTC; empty once the schedule has ended.")
    fired_count = models.PositiveIntegerField(default=0)
    last_fired_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, help_text="Why the last firing was not sent, in plain English.")
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=_now)
    updated_at = models.DateTimeField(default=_now)

    class Meta:
        indexes = [
            # The recurring-messages list and API (newest first).
            models.Index(fields=["church", "-id"], name="recurring_church_recent"),
            # The scheduler's due query across churches: next_run_at <= now among active schedules only.
            models.Index(fields=["next_run_at"], name="recurring_due", condition=Q(active=True)),
        ]

    def __str__(self) -> str:
        return self.name or f"Recurring message {self.pk}"

    @property
    def schedule(self):
        from messaging.recurrence import Schedule

        return Schedule(
            frequency=self.frequency,
            time_of_day=self.time_of_day,
            timezone=self.timezone,
            start_date=self.start_date,
            interval=self.interval,
            weekdays=tuple(self.weekdays or ()),
            month_day=self.month_day,
            nth_week=self.nth_week,
            nth_weekday=self.nth_weekday,
            rrule=self.rrule,
            end_date=self.end_date,
            count=self.count,
        )

    @property
    def state(self) -> str:
        if not self.active:
            return "paused"
        return "active" if self.next_run_at else "finished"

    @property
    def text(self) -> str:
        """What the next firing sends."""
        return self.template.body if self.template_id and self.template else self.body


class WelcomeSent(ChurchOwned):
    """A member was welcomed (or is being welcomed) with the church's welcome text: at most once, ever."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+", db_index=False)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    batch_key = models.CharField(max_length=128, help_text="The idempotency key of the welcome broadcast.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # Once per member; also serves "was this member welcomed?".
            models.UniqueConstraint(fields=["church", "member"], name="welcomesent_church_member_unique"),
        ]
        indexes = [models.Index(fields=["church", "batch_key"], name="welcomesent_church_batch")]

    def __str__(self) -> str:
        return f"Welcome to member {self.member_id}"


# --- Background job visibility (support) ----------------------------------------------------------


class TaskFailure(models.Model):
    """A Celery task that failed for good (the broker keeps no record). Arguments and messages are
    summarized and scrubbed: no phone numbers here."""

    task_name = models.CharField(max_length=200)
    task_id = models.CharField(max_length=64, blank=True)
    args_summary = models.TextField(blank=True)
    exception_type = models.CharField(max_length=200)
    exception_message = models.TextField(blank=True)
    traceback = models.TextField(blank=True, help_text="The last lines of the traceback.")
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # The support page's "recent failures" and pruning by age.
        indexes = [models.Index(fields=["-occurred_at"], name="taskfailure_recent")]

    def __str__(self) -> str:
        return f"{self.task_name}: {self.exception_type}"


class PeriodicJobRun(models.Model):
    """One run of a job that celery-beat scheduled (recorded for every task beat sends)."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        OK = "ok", "Succeeded"
        FAILED = "failed", "Failed"

    job = models.CharField(max_length=200, help_text="The task name.")
    task_id = models.CharField(max_length=64, blank=True)
    scheduled_by = models.CharField(max_length=200, blank=True, help_text="The beat instance (host:pid) that sent it.")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.RUNNING)
    detail = models.TextField(blank=True)

    class Meta:
        # The support page's "last run of each job", and pruning by age.
        indexes = [models.Index(fields=["job", "-started_at"], name="periodicjobrun_job_recent")]

    def __str__(self) -> str:
        return f"{self.job} at {self.started_at:%Y-%m-%d %H:%M:%S}"


class BeatHeartbeat(models.Model):
    """Written by the celery-beat process itself each time it sends a periodic task: the last tick of
    each beat instance, whether or not any worker picks the task up."""

    instance = models.CharField(max_length=200, unique=True, help_text="host:pid of the beat process.")
    started_at = models.DateTimeField(default=timezone.now)
    last_tick_at = models.DateTimeField(default=timezone.now)
    last_task = models.CharField(max_length=200, blank=True)
    ticks = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.instance


class BackgroundJobs(PeriodicJobRun):
    """Support's "Background jobs" page in the admin (queues, beat, periodic jobs, failures)."""

    class Meta:
        proxy = True
        verbose_name = "background jobs"
        verbose_name_plural = "background jobs"


# --- 10DLC registration (US long-code texting) ----------------------------------------------------
# Statuses are stored exactly as the provider spells them (reference/providers.md §1.9) so that a
# webhook, a poll and support's provider console all read the same; ``messaging.tendlc.plain_state``
# derives the few words staff see.

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
    resubmission_of = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="resubmitted_as"
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

    def __str__(self) -> str:
        return f"10DLC campaign {self.provider_campaign_id or '(draft)'}"


class TenDlcNumberAssignment(ChurchOwned):
    """One sender number linked (or being linked) to a provisioned campaign."""

    campaign = models.ForeignKey(TenDlcCampaign, on_delete=models.CASCADE, related_name="assignments")
    sender_number = models.ForeignKey(SenderNumber, on_delete=models.CASCADE, related_name="+")
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
