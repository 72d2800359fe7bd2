"""Tenancy and accounts: the Church (tenant), staff users and their roles, API keys, audit log."""

import secrets
import zoneinfo
from datetime import time

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone as dj_timezone

TIMEZONE_CHOICES = sorted((tz, tz) for tz in zoneinfo.available_timezones() if "/" in tz)


def validate_timezone(value: str) -> None:
    # Not model choices: the tz database changes with tzdata releases and would churn migrations.
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a time zone we know.")


class Role(models.TextChoices):
    """Staff roles, strongest first. Compare with ``Role.at_least``."""

    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    STAFF = "staff", "Staff"
    VIEWER = "viewer", "Viewer"

    @classmethod
    def rank(cls, role: str) -> int:
        return {cls.VIEWER: 1, cls.STAFF: 2, cls.ADMIN: 3, cls.OWNER: 4}.get(role, 0)

    @classmethod
    def at_least(cls, role: str | None, required: str) -> bool:
        return role is not None and cls.rank(role) >= cls.rank(required)


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
    trial_ends_at = models.DateTimeField(null=True, blank=True)
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
    def for_church(self, church: "Church"):
        return self.filter(church=church)


class ChurchOwned(models.Model):
    """Base for every church-owned table: the ``church`` column leads every index."""

    church = models.ForeignKey(Church, on_delete=models.PROTECT, related_name="+")

    objects = ChurchOwnedQuerySet.as_manager()

    class Meta:
        abstract = True


class StaffMembership(ChurchOwned):
    """A user's role in one church. A user may belong to several churches."""

    church = models.ForeignKey(Church, on_delete=models.PROTECT, related_name="staff_memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.STAFF)
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
        choices=[(Role.ADMIN, "Admin"), (Role.STAFF, "Staff"), (Role.VIEWER, "Read only")],
        default=Role.ADMIN,
        help_text="What the key may do; it acts with this role's permissions.",
    )
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=dj_timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["church", "-created_at"], name="apikey_church_recent")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        now = dj_timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class AuditLog(models.Model):
    """Who did what: permission, API key, sign-in, consent, billing, send and support actions.
    ``church`` is null for events outside any church (a failed sign-in, say)."""

    church = models.ForeignKey(Church, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        # Admin and the church's own audit view list a church's most recent events.
        indexes = [models.Index(fields=["church", "-created_at"], name="auditlog_church_recent")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action}"
