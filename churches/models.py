"""Tenancy and accounts: the Church (tenant), staff users and their roles, API keys, audit log."""

import secrets
import zoneinfo
from datetime import time

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone as dj_timezone

from churches.crypto import EmailIndexField, EncryptedEmailField, EncryptedJSONField, EncryptedTextField
from koinonia.branch_limits import scope_to_branches
from koinonia.roles import (
    API_KEY_ROLE_CHOICES,
    Role,  # the foundation's (tenancy compares roles); re-exported for the apps
)

TIMEZONE_CHOICES = sorted((tz, tz) for tz in zoneinfo.available_timezones() if "/" in tz)


def validate_timezone(value: str) -> None:
    # Not model choices: the tz database changes with tzdata releases and would churn migrations.
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a time zone we know.")


# The languages of the staff pages (settings.LANGUAGES) and of a member's system texts.
STAFF_LANGUAGES = [("en", "English"), ("es", "Español")]
MEMBER_LANGUAGES = STAFF_LANGUAGES


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra):
        if not email:
            raise ValueError("Users need an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)

    def get_by_natural_key(self, username):
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in: church staff (through StaffMembership) or our support staff (is_staff)."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="Support staff: may use Django admin.")
    date_joined = models.DateTimeField(default=dj_timezone.now)
    language = models.CharField(
        max_length=8, blank=True, choices=STAFF_LANGUAGES, help_text="The staff pages' language. Blank: the browser's."
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return (self.name or self.email).split(" ")[0]


class Church(models.Model):
    """The tenant. Every church-owned row points here."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended by support"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    timezone = models.CharField(max_length=64, default="America/New_York", validators=[validate_timezone])
    default_region = models.CharField(
        max_length=2, default="US", help_text="Region used to read phone numbers written without +country."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # Recipient-local window for sends (47 CFR 64.1200(c)(1): 8am-9pm).
    quiet_hours_start = models.TimeField(default=time(21, 0), help_text="No sends from this local time…")
    quiet_hours_end = models.TimeField(default=time(8, 0), help_text="…until this local time.")
    contact_email = models.EmailField(blank=True)
    contact_phone = models.CharField(max_length=32, blank=True)
    welcome_text = models.TextField(blank=True)
    help_text = models.TextField(blank=True)
    after_hours_reply = models.TextField(blank=True)
    # What members whose language is Spanish get instead (blank: the text above).
    welcome_text_es = models.TextField(blank=True, verbose_name="Welcome text in Spanish")
    help_text_es = models.TextField(blank=True, verbose_name="Help text in Spanish")
    after_hours_reply_es = models.TextField(blank=True, verbose_name="After-hours reply in Spanish")
    trial_ends_at = models.DateTimeField(null=True, blank=True)
    # Send safety (owners set it): a broadcast from someone below admin is held for an admin's approval
    # when it goes to everyone or to more people than ``approval_over`` (blank: no size limit).
    approval_for_everyone = models.BooleanField(
        default=False, help_text="Sends to everyone by staff wait for an admin's approval."
    )
    approval_over = models.PositiveIntegerField(
        null=True, blank=True, help_text="Sends by staff to more than this many people wait for an admin's approval."
    )
    created_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        verbose_name_plural = "churches"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class ChurchOwnedQuerySet(models.QuerySet):
    """Every church-owned model's manager (``Model.objects.for_church(church)``). ``koinonia.lint.
    tenancy_check`` fails a query of a church-owned table that is not scoped."""

    def for_church(self, church: "Church | int"):
        """This church's rows — the one way to scope a queryset. ``None`` yields nothing, never everything.
        A church limited to some branches (a branch-limited staff member's request) also narrows the
        models that declare ``branch_scope`` (``koinonia.tenancy.scope_to_branches``)."""
        if church is None:
            return self.none()
        return scope_to_branches(self.filter(church=church), church)


class ChurchOwned(models.Model):
    """Base for every church-owned table. ``church`` leads every index and unique constraint, so the
    FK's own single-column index would be redundant (db_index=False); each subclass declares one."""

    church = models.ForeignKey(Church, on_delete=models.PROTECT, related_name="+", db_index=False)

    objects = ChurchOwnedQuerySet.as_manager()

    class Meta:
        abstract = True


class StaffMembership(ChurchOwned):
    """A user's role in one church. A user may belong to several churches."""

    church = models.ForeignKey(Church, on_delete=models.PROTECT, related_name="staff_memberships", db_index=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.STAFF)
    # Empty: the whole church. Otherwise members, sends, inbox and analytics of these branches only
    # (applied to ``request.church`` by CurrentChurchMiddleware; owners are never limited). Ids in a
    # list, not a many-to-many, so resolving the church on every request costs no extra query; a
    # deleted branch's id matches nothing.
    branch_ids = models.JSONField(default=list, blank=True, help_text="Empty: every branch.")
    created_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["church", "user"], name="staffmembership_church_user_unique")]
        # (user) lookups — "which churches may this user open" — are served by the FK index.

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} at {self.church}"


class Invitation(ChurchOwned):
    """An emailed invitation to join a church's team with a role; the token is stored hashed."""

    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.STAFF)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=dj_timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["church", "-created_at"], name="invitation_church_recent")]

    def __str__(self) -> str:
        return f"Invitation for {self.email} to {self.church_id}"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > dj_timezone.now()


def generate_api_key_secret() -> str:
    return secrets.token_urlsafe(32)


class ApiKey(ChurchOwned):
    """An integrator's key. Only the prefix (to find it) and a SHA-256 hash (to check it) are kept;
    the full key is shown once, at creation."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    role = models.CharField(
        max_length=16,
        choices=API_KEY_ROLE_CHOICES,
        default=Role.ADMIN,
        help_text="What the key may do; it acts with this role's permissions.",
    )
    scopes = models.JSONField(
        default=list,
        blank=True,
        help_text="What the key may touch (koinonia.api.scopes). Empty: everything its role allows.",
    )
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Copied from a branch-limited creator's membership: the key sees those branches only, like its
    # creator. Ids in a list (not a many-to-many) so authenticating a call costs no extra query.
    branch_ids = models.JSONField(default=list, blank=True, help_text="Empty: every branch.")
    created_at = models.DateTimeField(default=dj_timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Set on the key a rotation made: the key it replaces (which keeps working until its expires_at).
    rotated_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rotated_to"
    )

    class Meta:
        indexes = [models.Index(fields=["church", "-created_at"], name="apikey_church_recent")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        now = dj_timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= dj_timezone.now()


class IdempotencyRecord(ChurchOwned):
    """An API answer kept for its ``Idempotency-Key`` (``koinonia.api.idempotency``): per church and caller,
    for 24 hours. ``status_code`` is null while the request that claimed the key is running."""

    caller = models.CharField(max_length=40, help_text="key:<api key id> or user:<user id>.")
    key = models.CharField(max_length=128)
    fingerprint = models.CharField(max_length=64, help_text="HMAC of method, path and body.")
    path = models.CharField(max_length=200)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # The answer as sent: it can carry a member's phone or email, so it is encrypted like them.
    response_body = EncryptedTextField(null=True, blank=True)
    created_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["church", "caller", "key"], name="idempotencyrecord_church_caller_key")
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotencyrecord_created")]  # the hourly purge

    def __str__(self) -> str:
        return f"{self.caller} {self.key}"


class AuditLog(models.Model):
    """Who did what in a church: permission, API key, sign-in, consent, billing, send and support
    actions. Events outside any church (a failed sign-in, say) go to ``PlatformAuditLog``: a distributed
    table cannot hold a row without its distribution column (koinonia/distribution.py)."""

    church = models.ForeignKey(Church, on_delete=models.PROTECT, related_name="+", db_index=False)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=dj_timezone.now)

    objects = ChurchOwnedQuerySet.as_manager()  # for_church: the one way to scope

    class Meta:
        # Admin and the church's own audit view list a church's most recent events.
        indexes = [models.Index(fields=["church", "-created_at"], name="auditlog_church_recent")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action}"


class PlatformAuditLog(models.Model):
    """Audit events that belong to no church (a failed sign-in, a sign-in by a user without a church).
    A local table: it stays on the coordinator when tenant tables are distributed by church."""

    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=64)
    data = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        indexes = [models.Index(fields=["-created_at"], name="platformauditlog_recent")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action}"


# --- Directory ------------------------------------------------------------------------------------


class Branch(ChurchOwned):
    """A campus or congregation of the church, with its own time zone when it differs."""

    name = models.CharField(max_length=120)
    address = models.CharField(max_length=255, blank=True)
    timezone = models.CharField(max_length=64, blank=True, validators=[validate_timezone])
    created_at = models.DateTimeField(default=dj_timezone.now)

    branch_scope = "pk"  # a branch-limited request sees its own branches only (koinonia.tenancy)

    class Meta:
        verbose_name_plural = "branches"
        constraints = [
            models.UniqueConstraint("church", Lower("name"), name="branch_church_name_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class Group(ChurchOwned):
    """A list of members (youth, choir, volunteers). Members may text ``keyword`` to join."""

    branch = models.ForeignKey(Branch, null=True, blank=True, on_delete=models.SET_NULL, related_name="groups")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    keyword = models.CharField(
        max_length=30, blank=True, help_text="Members text this word to join (letters and digits, no spaces)."
    )
    welcome_text = models.TextField(blank=True, help_text="Sent to a member who joins by texting the keyword.")
    created_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint("church", Lower("name"), name="group_church_name_ci_unique"),
            # Inbound keyword matching looks up (church, keyword) case-insensitively.
            models.UniqueConstraint(
                "church", Lower("keyword"), name="group_church_keyword_ci_unique", condition=~Q(keyword="")
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SmsStatus(models.TextChoices):
    SUBSCRIBED = "subscribed", "Subscribed"
    UNSUBSCRIBED = "unsubscribed", "Opted out"
    NEVER_CONSENTED = "never_consented", "No consent yet"


class Member(ChurchOwned):
    """A person the church texts. The phone is encrypted; ``phone_hash`` is its keyed blind index and
    makes the member unique per church. The email is encrypted too; ``email_local_hash`` (the part
    before the "@", keyed) finds it for the search box. ``sms_status`` changes only with a
    ConsentEvent (services)."""

    branch_scope = "branch"  # koinonia.tenancy.scope_to_branches

    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    phone = EncryptedTextField()
    phone_hash = models.CharField(max_length=32)
    email = EncryptedEmailField(blank=True, default="")
    email_local_hash = EmailIndexField(source="email")
    branch = models.ForeignKey(Branch, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    sms_status = models.CharField(max_length=20, choices=SmsStatus.choices, default=SmsStatus.NEVER_CONSENTED)
    timezone = models.CharField(
        max_length=64, blank=True, validators=[validate_timezone], help_text="Blank: from the area code."
    )
    # The language of the system texts they receive (opt-out confirmation, HELP, after-hours reply,
    # welcome). Blank: English until they text in another language (conversations.consent_classifier).
    # db_default: set-based inserts (the CSV import's INSERT … SELECT, COPY in benchmarks) name no language.
    language = models.CharField(max_length=8, blank=True, default="", db_default="", choices=MEMBER_LANGUAGES)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=dj_timezone.now)
    updated_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        constraints = [
            # One member per phone per church; also serves lookups by phone (inbound texts, imports).
            models.UniqueConstraint(fields=["church", "phone_hash"], name="member_church_phone_unique"),
        ]
        indexes = [
            # The member list's default order (last name, first name) and its keyset pagination.
            models.Index(fields=["church", "last_name", "first_name", "id"], name="member_church_name"),
            # Audience materialization: subscribed members of a church (optionally of a branch).
            models.Index(fields=["church", "sms_status", "branch"], name="member_church_status_branch"),
            # "Newest first" in the member list and the API's default order.
            models.Index(fields=["church", "-id"], name="member_church_recent"),
            # The search box's email lookups (selectors.member_email_prefix_filter); members without
            # an email are never looked up this way, so they are left out.
            models.Index(
                fields=["church", "email_local_hash"],
                name="member_church_email_hash",
                condition=~Q(email_local_hash=""),
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or f"Member {self.pk}"

    def save(self, *args, **kwargs):
        # The email's blind index is computed in pre_save; a partial save that writes the email must
        # write its index too.
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "email" in update_fields:
            kwargs["update_fields"] = {*update_fields, "email_local_hash"}
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class GroupMembership(ChurchOwned):
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships", db_index=False)
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="group_memberships")
    created_at = models.DateTimeField(default=dj_timezone.now)

    branch_scope = "member__branch"

    class Meta:
        constraints = [
            # Serves "members of group G" (audiences, group pages); the member FK index serves
            # "groups of member M".
            models.UniqueConstraint(fields=["church", "group", "member"], name="groupmembership_unique"),
        ]

    def __str__(self) -> str:
        return f"member {self.member_id} in group {self.group_id}"


class ConsentEvent(ChurchOwned):
    """Append-only consent ledger. Every change of a member's sms_status writes one of these in the
    same transaction; so do HELP requests and the confirmation texts we send."""

    branch_scope = "member__branch"

    class Kind(models.TextChoices):
        OPT_IN = "opt_in", "Opted in"
        OPT_OUT = "opt_out", "Opted out"
        HELP = "help", "Asked for help"
        CONFIRMATION_SENT = "confirmation_sent", "Confirmation sent"

    class Source(models.TextChoices):
        KEYWORD = "keyword", "Keyword texted by the member"
        REASONABLE_MANNER = "reasonable_manner", "Opt-out in the member's own words"
        STAFF = "staff", "Staff"
        IMPORT = "import", "Import"
        API = "api", "API"
        PROVIDER_REPORT = "provider_report", "Carrier / provider report"
        WEB_FORM = "web_form", "Web form"
        SYSTEM = "system", "System"

    # Indexed on its own too: deleting members cascades here by member id alone.
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="consent_events")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    source = models.CharField(max_length=24, choices=Source.choices)
    raw_text = models.TextField(blank=True, help_text="The member's words, or how consent was obtained.")
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    api_key = models.ForeignKey("ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        indexes = [
            # A member's consent history, newest first.
            models.Index(fields=["church", "member", "-created_at"], name="consent_church_member_recent"),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} via {self.get_source_display()}"


class ImportJob(ChurchOwned):
    """One CSV upload of members: the file, how its columns map to member fields, how consent was
    obtained, and the progress and outcome of the run. The file's text is kept in the row itself,
    encrypted, so that a worker on any machine can run (or resume) the job; ``processed_rows`` is the
    resume point and moves in the same transaction as the members it accounts for.

    The file is personal data (a phone book): it is discarded when the run finishes, keeping only the
    header and the rejected rows (encrypted) for the report, which is deleted after
    ``IMPORT_REPORT_RETENTION_DAYS`` (``report_expires_at``). Uploads never run, or failed and never
    retried, are discarded after the same period."""

    # rotate_phone_keys re-encrypts this many rows per transaction: each holds a whole file (up to
    # MEMBER_IMPORT_MAX_BYTES).
    rotation_batch = 5

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for you to check the columns"
        QUEUED = "queued", "Waiting to start"
        RUNNING = "running", "Importing"
        DONE = "done", "Finished"
        FAILED = "failed", "Failed"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    file_name = models.CharField(max_length=255, blank=True)
    content = EncryptedTextField(
        null=True, blank=True, help_text="The uploaded CSV, decoded and encrypted; NULL once the run is done."
    )
    report_header = EncryptedJSONField(
        null=True, blank=True, help_text="The file's header row, kept (encrypted) for the rejected-rows report."
    )
    report_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="When the rejected-rows report (and any file left) is deleted."
    )
    mapping = models.JSONField(default=dict, blank=True, help_text='Member field → column index, e.g. {"phone": 2}.')
    consent_text = models.TextField(blank=True, help_text="How the church obtained consent to text these people.")
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    branch = models.ForeignKey(Branch, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    error_message = models.TextField(blank=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=dj_timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life of the running worker.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The import page lists a church's recent imports.
        indexes = [models.Index(fields=["church", "-created_at"], name="importjob_church_recent")]

    def __str__(self) -> str:
        return f"Import {self.pk} ({self.file_name})"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 0


class ImportRejectedRow(ChurchOwned):
    """A row of an import that was not applied, and why (bad phone, duplicate in the file, opted out,
    over the plan's member limit...), with its cells: the downloadable report is these rows, so it
    outlives the file (until the job's ``report_expires_at``)."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rejected_rows", db_index=False)
    row_number = models.PositiveIntegerField(help_text="As a spreadsheet numbers it: the header is row 1.")
    # Both encrypted: the cells are the member's details, and a reason may quote a cell ("“x@y” isn't
    # an email address.").
    reason = EncryptedTextField()
    cells = EncryptedJSONField(null=True, blank=True, help_text="The row as it was in the file.")

    class Meta:
        constraints = [
            # The report reads a job's rows in order; re-running a chunk inserts nothing twice.
            models.UniqueConstraint(fields=["church", "job", "row_number"], name="importrejectedrow_unique"),
        ]

    def __str__(self) -> str:
        return f"row {self.row_number}: {self.reason}"
