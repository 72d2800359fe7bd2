"""Outgoing webhooks (Standard Webhooks): a church's endpoints, the events it announced (the outbox),
and one row per delivery attempt. docs/webhooks.md is the integrator's side of it."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from churches.crypto import EncryptedTextField
from churches.models import ChurchOwned, User


class WebhookEndpoint(ChurchOwned):
    """Where a church's events are posted, and which ones. The signing secret (``whsec_…``) is
    encrypted at rest like members' phones and shown once, at creation or rotation; after a rotation
    the previous secret keeps signing too until ``previous_secret_expires_at``."""

    url = models.CharField(max_length=2000)  # checked by services.clean_url (scheme, host, SSRF rule)
    description = models.CharField(max_length=500, blank=True)
    events = models.JSONField(default=list, help_text='Event types it receives ("*": all of them).')
    enabled = models.BooleanField(default=True)
    secret = EncryptedTextField()
    previous_secret = EncryptedTextField(null=True, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # Health: failed attempts in a row, since when, and the last success (the disabling rule reads them).
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["church", "created_at"], name="webhookendpoint_church")]

    def __str__(self) -> str:
        return self.url

    def receives(self, type: str) -> bool:
        return "*" in self.events or type in self.events

    def signing_secrets(self, now=None) -> list[str]:
        """The secrets every delivery is signed with now: the current one, and the previous one while
        the rotation overlap lasts."""
        now = now or timezone.now()
        secrets = [self.secret]
        if self.previous_secret and self.previous_secret_expires_at and self.previous_secret_expires_at > now:
            secrets.append(self.previous_secret)
        return secrets


class WebhookEvent(ChurchOwned):
    """One announced event (the outbox row): the payload every endpoint receives, byte for byte, on
    every attempt. The id is the ``webhook-id`` header, so receivers can deduplicate retries."""

    id = models.CharField(primary_key=True, max_length=40, editable=False)
    type = models.CharField(max_length=64)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["church", "-created_at"], name="webhookevent_church_recent")]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class WebhookDelivery(ChurchOwned):
    """One attempt to post one event to one endpoint. Attempt 1 is written with the event; a failed
    attempt that will be retried (``retrying``) writes the next one (``pending``, due at
    ``next_attempt_at``). A worker claims a pending attempt (``claimed_until``) before posting, so a
    duplicate task or a sweep never posts it twice at once."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        RETRYING = "retrying", "Failed, will retry"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="+", db_index=False)
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="+")
    attempt = models.PositiveIntegerField(default=1)
    # A one-off (redelivery from the log, test event): no automatic retries, and no part in disabling.
    manual = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True, help_text="The first 1 KB of the answer.")
    error = models.CharField(max_length=300, blank=True, help_text="Why no answer was had (timeout, refused…).")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The endpoint's delivery log, newest first (cursor pagination by id).
            models.Index(fields=["church", "endpoint", "-id"], name="webhookdelivery_endpoint_log"),
            # The sweeper's due attempts: only pending rows are indexed.
            models.Index(fields=["next_attempt_at"], name="webhookdelivery_due", condition=Q(status="pending")),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → endpoint {self.endpoint_id} (attempt {self.attempt})"
