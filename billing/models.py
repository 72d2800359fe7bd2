"""Billing: plans (data, edited in admin), each church's subscription mirrored from Stripe, usage per
billing period (aggregate rows bumped with F() — never a row per segment), overage meter reports
(an outbox of Stripe meter events), branch budgets, and the Stripe events we received."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from churches.models import Church, ChurchOwned, ChurchOwnedQuerySet, User


class Plan(models.Model):
    """A price with limits. The one ``is_trial`` plan holds the trial's own allowance."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=64)
    price_cents = models.PositiveIntegerField(help_text="Monthly price in cents.")
    max_members = models.PositiveIntegerField()
    max_branches = models.PositiveIntegerField()
    max_staff_seats = models.PositiveIntegerField()
    included_segments = models.PositiveIntegerField(
        help_text="SMS segments included each billing period (for the trial: over the whole trial)."
    )
    overage_cents_per_1000 = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Price of 1,000 segments beyond the allowance, in cents. Empty = overage off: sends stop "
        "at the allowance.",
    )
    grace_period_days = models.PositiveSmallIntegerField(
        default=7, help_text="Days a past-due church keeps sending broadcasts before they pause."
    )
    stripe_price_id = models.CharField(max_length=100, blank=True, help_text="Stripe price of the monthly fee.")
    stripe_overage_price_id = models.CharField(
        max_length=100, blank=True, help_text="Stripe metered price (on the SMS meter) for overage."
    )
    is_trial = models.BooleanField(default=False)
    is_public = models.BooleanField(default=True, help_text="Offered on the billing page.")
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "price_cents"]
        constraints = [
            models.UniqueConstraint(fields=["is_trial"], condition=Q(is_trial=True), name="plan_single_trial"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def overage_enabled(self) -> bool:
        return self.overage_cents_per_1000 is not None

    def overage_cost_cents(self, segments: int) -> int:
        """What ``segments`` beyond the allowance cost, rounded up to a whole cent."""
        if segments <= 0 or not self.overage_enabled:
            return 0
        return -(-segments * self.overage_cents_per_1000 // 1000)


class Subscription(ChurchOwned):
    """One per church: the trial we start at sign-up, later the mirror of its Stripe subscription."""

    class Status(models.TextChoices):
        TRIALING = "trialing", "Trial"
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Past due"
        UNPAID = "unpaid", "Unpaid"
        CANCELED = "canceled", "Canceled"
        INCOMPLETE = "incomplete", "Incomplete"
        INCOMPLETE_EXPIRED = "incomplete_expired", "Incomplete (expired)"
        PAUSED = "paused", "Paused"

    church = models.OneToOneField(Church, on_delete=models.PROTECT, related_name="+")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.TRIALING)
    trial_ends_at = models.DateTimeField(null=True, blank=True)
    current_period_start = models.DateTimeField()
    current_period_end = models.DateTimeField()
    cancel_at_period_end = models.BooleanField(default=False)
    past_due_since = models.DateTimeField(null=True, blank=True)
    spend_cap_cents = models.PositiveIntegerField(
        null=True, blank=True, help_text="Church-set cap on each period's overage charges; empty = no cap."
    )
    stripe_customer_id = models.CharField(max_length=64, blank=True)
    stripe_subscription_id = models.CharField(max_length=64, blank=True)
    # When the Stripe state we last applied was fetched: an older fetch never overwrites a newer one.
    stripe_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # Webhooks find the church by customer id.
            models.UniqueConstraint(
                fields=["stripe_customer_id"], condition=~Q(stripe_customer_id=""), name="subscription_customer_unique"
            ),
        ]
        indexes = [
            # Webhooks for a subscription id.
            models.Index(fields=["stripe_subscription_id"], name="subscription_stripe_sub"),
        ]

    def __str__(self) -> str:
        return f"{self.church} — {self.plan} ({self.status})"

    @property
    def has_stripe_subscription(self) -> bool:
        return bool(self.stripe_subscription_id)


class UsagePeriod(ChurchOwned):
    """Segments handed to the provider in one billing period; bumped with ``F()`` per batch."""

    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    segments_used = models.PositiveBigIntegerField(default=0)
    credit_segments = models.PositiveIntegerField(default=0, help_text="Extra segments granted by support.")
    overage_reported = models.PositiveBigIntegerField(
        default=0, help_text="Overage segments already handed to Stripe as meter events."
    )
    warned_80_at = models.DateTimeField(null=True, blank=True)
    warned_100_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # The hot-path UPDATE finds the row by (church, period_start).
            models.UniqueConstraint(fields=["church", "period_start"], name="usageperiod_church_period"),
        ]

    def __str__(self) -> str:
        return f"{self.church_id} {self.period_start:%Y-%m-%d}: {self.segments_used}"


class BranchUsage(ChurchOwned):
    """Segments per branch per period, for branch budgets."""

    period_start = models.DateTimeField()
    # An id, not a ForeignKey: Branch belongs to the directory and arrived after billing.
    branch_id = models.PositiveBigIntegerField()
    segments_used = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["church", "period_start", "branch_id"], name="branchusage_church_period_branch"
            ),
        ]


class BranchBudget(ChurchOwned):
    """A church's own monthly segment budget for one branch."""

    branch_id = models.PositiveBigIntegerField()
    monthly_segments = models.PositiveIntegerField()
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["church", "branch_id"], name="branchbudget_church_branch")]

    def __str__(self) -> str:
        return f"Branch {self.branch_id}: {self.monthly_segments} segments"


class MeterReport(ChurchOwned):
    """One overage meter event, written before it is sent (the database is the outbox). The identifier
    names the range of overage it covers, so a retry can never bill the same segments twice."""

    usage_period = models.ForeignKey(UsagePeriod, on_delete=models.PROTECT, related_name="meter_reports")
    identifier = models.CharField(max_length=100)
    segments = models.PositiveIntegerField()
    stripe_customer_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            # The sweeper's "not yet sent" scan.
            models.Index(fields=["created_at"], condition=Q(sent_at=None), name="meterreport_unsent"),
        ]
        # Unique per church (the distribution column leads); identifiers name the church's own usage
        # period, so they never collide across churches anyway, and Stripe dedupes them globally too.
        constraints = [models.UniqueConstraint(fields=["church", "identifier"], name="meterreport_church_identifier")]


class StripeEvent(models.Model):
    """Every Stripe webhook event we accepted, stored once per event id and applied idempotently."""

    event_id = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=100)
    api_version = models.CharField(max_length=40, blank=True)
    stripe_created = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField()
    church = models.ForeignKey(Church, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    received_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=255, blank=True)

    objects = ChurchOwnedQuerySet.as_manager()  # for_church: the one way to scope

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            # The sweeper's "received but not applied" scan.
            models.Index(fields=["received_at"], condition=Q(processed_at=None), name="stripeevent_unprocessed"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"
