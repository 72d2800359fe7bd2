"""Staff roles, strongest first. A foundation piece, not churches': the tenancy mechanism
(``koinonia.tenancy``, ``koinonia.api.permissions``) compares roles on every request and must not
import an app, while ``churches.models`` stores them (``StaffMembership.role``, ``ApiKey.role``) and
re-exports ``Role`` for the apps. Compare with ``Role.at_least``."""

from django.db import models


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


# The roles an API key may have (no owner keys), with the labels the keys page shows.
API_KEY_ROLE_CHOICES = [(Role.ADMIN.value, "Admin"), (Role.STAFF.value, "Staff"), (Role.VIEWER.value, "Read only")]
