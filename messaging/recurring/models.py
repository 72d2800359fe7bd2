"""Recurring messages' data: the schedule (RecurringMessage); each firing is a normal broadcast."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from churches.models import ChurchOwned, User

# --- Recurring messages ---------------------------------------------------------------------------

_now = timezone.now  # RecurringMessage has a field called ``timezone``


class RecurringMessage(ChurchOwned):
    """A broadcast sent on a schedule (see ``messaging.recurring.recurrence`` for the schedule math and the rules
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
        "messaging.MessageTemplate",
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
        from messaging.recurring.recurrence import Schedule

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
