"""Two-way texting: one Conversation per member (or visitor) per church, its messages (inbound texts,
staff replies, automatic replies, internal notes), canned replies, the consent review queue, and the
church's inbox settings and each staff member's notification preference."""

from datetime import time

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from churches.crypto import EncryptedTextField
from churches.models import ApiKey, Church, ChurchOwned, ChurchOwnedQuerySet, Member, User
from churches.phones import format_phone_for_display
from messaging.models import SenderNumber


class InboxSettings(models.Model):
    """How a church's inbox behaves. One row per church, created on first use with these defaults."""

    class UnknownSender(models.TextChoices):
        CREATE_MEMBER = "create_member", "Add them as a member (no consent to texts yet)"
        VISITOR = "visitor", "Keep them as a visitor conversation"

    church = models.OneToOneField(Church, on_delete=models.CASCADE, related_name="inbox_settings")
    unknown_sender = models.CharField(max_length=16, choices=UnknownSender.choices, default=UnknownSender.VISITOR)
    office_hours_enabled = models.BooleanField(
        default=False, help_text="Answer texts that arrive outside office hours with the after-hours reply."
    )
    office_days = models.CharField(
        max_length=7, default="01234", help_text="Weekdays the office is open: 0 = Monday … 6 = Sunday."
    )
    office_opens = models.TimeField(default=time(9, 0))
    office_closes = models.TimeField(default=time(17, 0))
    welcome_new_members = models.BooleanField(
        default=True, help_text="Send the church's welcome text to people who text in for the first time."
    )
    show_broadcasts = models.BooleanField(default=True, help_text="Show the broadcasts a member received in threads.")

    objects = ChurchOwnedQuerySet.as_manager()  # for_church: the one way to scope

    class Meta:
        verbose_name_plural = "inbox settings"

    def __str__(self) -> str:
        return f"Inbox settings of church {self.church_id}"


class StaffNotificationPreference(ChurchOwned):
    """Whether a staff member is emailed about new inbound texts (no row: yes for staff and up)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    email_on_inbound = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["church", "user"], name="staffnotificationpref_church_user_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: email_on_inbound={self.email_on_inbound}"


class Conversation(ChurchOwned):
    """One thread per member per church (or per visitor number, when the church keeps unknown senders
    as visitors). The latest message is denormalized here so the inbox list reads one table."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"
        ARCHIVED = "archived", "Archived"

    # A branch-limited request sees its branches' members' threads only; visitors have no branch.
    branch_scope = "member__branch"

    member = models.ForeignKey(Member, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    visitor_phone = EncryptedTextField(blank=True, null=True)
    visitor_phone_hash = models.CharField(max_length=32, blank=True)
    visitor_opted_out = models.BooleanField(default=False, help_text="A visitor who asked us to stop.")
    sender = models.ForeignKey(
        SenderNumber, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="Number they text."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    restricted = models.BooleanField(
        default=False, help_text="Pastoral care: only owners, admins and the assignee can read it."
    )
    unread_count = models.PositiveIntegerField(default=0)
    last_message_at = models.DateTimeField(default=timezone.now)
    last_message_preview = models.CharField(max_length=160, blank=True)
    last_message_direction = models.CharField(max_length=10, blank=True)
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_auto_reply_at = models.DateTimeField(null=True, blank=True, help_text="Last after-hours reply sent.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["church", "member"], name="conversation_church_member_unique", condition=Q(member__isnull=False)
            ),
            models.UniqueConstraint(
                fields=["church", "visitor_phone_hash"],
                name="conversation_church_visitor_unique",
                condition=Q(member__isnull=True),
            ),
        ]
        indexes = [
            # The inbox list: a church's threads by latest message (keyset pagination on the pair).
            models.Index(fields=["church", "-last_message_at", "-id"], name="conversation_church_latest"),
            # The inbox's status filter (open / closed / archived), same order.
            models.Index(fields=["church", "status", "-last_message_at"], name="conversation_church_status"),
            # The unread badge total: only unread threads (a small partial index, summed on every inbox view).
            models.Index(
                fields=["church", "status"], name="conversation_church_unread", condition=Q(unread_count__gt=0)
            ),
            # "Mine": a staff member's assigned threads.
            models.Index(
                fields=["church", "assignee", "-last_message_at"],
                name="conversation_church_assignee",
                condition=Q(assignee__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"Conversation {self.pk}"

    @property
    def is_visitor(self) -> bool:
        return self.member_id is None

    @property
    def phone(self) -> str:
        return self.member.phone if self.member_id else (self.visitor_phone or "")

    @property
    def display_name(self) -> str:
        """Who this thread is with, as staff read it: the member's name, else an unknown sender's
        number as people write it ("(312) 555-0142"), rather than an anonymous "Visitor"."""
        if self.member_id:
            return self.member.full_name or "(no name)"
        if self.visitor_phone:
            return format_phone_for_display(self.visitor_phone)
        return "Unknown number"


class ConversationMessage(ChurchOwned):
    """One item of a thread. Inbound texts, outbound texts (staff replies and automatic replies) and
    internal notes (never sent) share the table so a thread reads in one query."""

    class Direction(models.TextChoices):
        INBOUND = "inbound", "From the member"
        OUTBOUND = "outbound", "To the member"
        NOTE = "note", "Internal note"

    branch_scope = "conversation__member__branch"

    class Kind(models.TextChoices):
        TEXT = "text", "Text"
        CONFIRMATION = "confirmation", "Opt-out confirmation"
        HELP = "help", "Help reply"
        OPT_IN = "opt_in", "Opt-in confirmation"
        KEYWORD = "keyword", "Group keyword reply"
        AFTER_HOURS = "after_hours", "After-hours reply"
        WELCOME = "welcome", "Welcome text"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        BLOCKED = "blocked", "Not sent (opted out)"
        NOTE = "note", "Note"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False)
    direction = models.CharField(max_length=10, choices=Direction.choices)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.TEXT)
    body = models.TextField(blank=True)
    # [{"content_type": ..., "path": <storage path or "">, "source_url": <provider URL, inbound only>,
    #   "size": int, "error": ""}]
    media = models.JSONField(default=list, blank=True)
    consent_intent = models.CharField(max_length=10, blank=True, help_text="Classifier verdict (inbound).")
    provider = models.CharField(max_length=16, blank=True)
    provider_message_id = models.CharField(max_length=64, blank=True)
    dedupe_key = models.CharField(max_length=128, blank=True, help_text="Makes automatic replies once-only.")
    status = models.CharField(max_length=10, choices=Status.choices)
    error_reason = models.TextField(blank=True)
    segments = models.PositiveSmallIntegerField(null=True, blank=True)
    author = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One confirmation per opt-out event, one welcome per member...: see services.
            models.UniqueConstraint(
                fields=["church", "dedupe_key"], name="conversationmessage_dedupe", condition=~Q(dedupe_key="")
            ),
        ]
        indexes = [
            # A thread, oldest first (and "newer than id N" for live updates).
            models.Index(fields=["church", "conversation", "id"], name="convmessage_thread"),
            # Delivery callbacks and inbound duplicates find their message by provider id.
            models.Index(
                fields=["provider_message_id"], name="convmessage_provider_id", condition=~Q(provider_message_id="")
            ),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.direction} {self.pk}: {self.body[:40]}"


class CannedReply(ChurchOwned):
    """A saved answer staff pick from when replying."""

    title = models.CharField(max_length=80)
    body = models.TextField()
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "canned replies"
        constraints = [models.UniqueConstraint("church", Lower("title"), name="cannedreply_church_title_ci_unique")]

    def __str__(self) -> str:
        return self.title


class ConsentReview(ChurchOwned):
    """A text that may be a revocation of consent but reads ambiguously: staff decide, nothing is
    guessed. Confirming records the opt-out (source "reasonable manner", with the member's words)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a decision"
        CONFIRMED = "confirmed", "Confirmed as opt-out"
        DISMISSED = "dismissed", "Not an opt-out"

    branch_scope = "member__branch"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+", db_index=False)
    # One review per message: unique (church, message) below, church first (the distribution column).
    # The FK keeps its own index: deleting conversation messages finds their reviews by message alone.
    message = models.ForeignKey(ConversationMessage, on_delete=models.CASCADE, related_name="+")
    member = models.ForeignKey(Member, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    raw_text = models.TextField()
    reason = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # The review queue: a church's pending items, oldest first.
            models.Index(fields=["church", "status", "created_at"], name="consentreview_church_status"),
        ]
        constraints = [models.UniqueConstraint(fields=["church", "message"], name="consentreview_church_message")]

    def __str__(self) -> str:
        return f"Review {self.pk} ({self.status})"
