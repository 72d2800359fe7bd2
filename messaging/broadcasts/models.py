"""Broadcasts' data: templates, the broadcast (Message, with live counters), one Recipient row per member per
message (the hot table), the provider callbacks that move recipients forward (ProviderEvent, stored once), and
the once-ever welcome record (WelcomeSent)."""

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from churches.crypto import EncryptedJSONField, EncryptedTextField
from churches.models import ApiKey, ChurchOwned, Member, User


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
        # Send safety (Church.approval_*): waiting for an admin, then queued/scheduled or rejected.
        HELD = "held", "Awaiting approval"
        REJECTED = "rejected", "Rejected"

    author = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    sender = models.ForeignKey(
        "messaging.SenderNumber", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
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
    # When a send task last gave it a turn (messaging/broadcasts/fair.py): the least recently served
    # church, then message, goes next; never served (NULL) goes first.
    last_turn_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    approval_decided_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="Who approved or rejected."
    )
    approval_decided_at = models.DateTimeField(null=True, blank=True)
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
            # The fair scheduler's "when was this church last served": sending messages only.
            models.Index(
                fields=["church", "last_turn_at"], name="message_sending_turns", condition=Q(status="sending")
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
        return self.status in (self.Status.SENT, self.Status.CANCELED, self.Status.FAILED, self.Status.REJECTED)

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
        # An inbound text stored by the webhook, waiting for conversations' inbound batch (never
        # "pending", which the status batch and the sweeper read as delivery reports).
        RECEIVED = "received", "Received (inbound text waiting for its batch)"

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
            # The inbound batch and its sweeper: stored texts not yet applied, oldest first.
            models.Index(fields=["id"], name="providerevent_received", condition=Q(outcome="received")),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_type} {self.event_id}"


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
