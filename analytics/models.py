"""Analytics: one row of figures per church (and per branch) per day, kept current by a set-based rollup
(``services.daily_stats_refresh``) so the page and the API read a few dozen rows, never raw recipients."""

from django.db import models
from django.utils import timezone

from churches.models import Branch, ChurchOwned


class DailyStat(ChurchOwned):
    """A church's figures for one day in its own time zone; ``branch`` empty = the whole church (every
    branch and the unbranched included), a branch = what is attributed to that branch (broadcasts to that
    one branch; opt-outs, replies and new members of its members)."""

    branch = models.ForeignKey(Branch, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    # A branch-limited request reads its branches' rows only (koinonia.tenancy), never the church's.
    branch_scope = "branch"
    # The branch id, or 0 for the whole church: the upsert's conflict target. A nullable column cannot be
    # one (NULLs never conflict in a unique index, on SQLite or PostgreSQL before NULLS NOT DISTINCT).
    branch_key = models.PositiveBigIntegerField(default=0)
    day = models.DateField(help_text="The day in the church's time zone.")
    sent = models.PositiveIntegerField(default=0, help_text="Texts handed to the carrier and not failed.")
    delivered = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    failed_by_reason = models.JSONField(default=dict, blank=True, help_text="{reason: count}")
    opt_outs = models.PositiveIntegerField(default=0)
    opt_ins = models.PositiveIntegerField(default=0)
    replies = models.PositiveIntegerField(default=0, help_text="Texts members sent us (inbound).")
    new_members = models.PositiveIntegerField(default=0)
    segments = models.PositiveBigIntegerField(default=0)
    cost_cents = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # The upsert's target, and the page's read: one church, one scope, a range of days.
            models.UniqueConstraint(fields=["church", "branch_key", "day"], name="dailystat_church_branch_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {'branch ' + str(self.branch_id) if self.branch_id else 'church'}"


class RefreshMark(models.Model):
    """How far the beat refresh has read an append-only table (its highest id seen): the next tick finds
    churches with new rows by a primary-key range, an index scan however large the table grows."""

    source = models.CharField(max_length=32, primary_key=True)
    last_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.source} @ {self.last_id}"
