"""Reads for churches, staff and API keys."""

from django.db.models import QuerySet

from churches.models import ApiKey, AuditLog, Church, Invitation, StaffMembership, User


def membership_list_for_user(*, user: User) -> QuerySet[StaffMembership]:
    return StaffMembership.objects.filter(user=user).select_related("church").order_by("church__name")


def team_list(*, church: Church) -> QuerySet[StaffMembership]:
    return StaffMembership.objects.filter(church=church).select_related("user").order_by("user__name", "user__email")


def pending_invitation_list(*, church: Church) -> QuerySet[Invitation]:
    from django.utils import timezone

    return Invitation.objects.filter(
        church=church, accepted_at=None, revoked_at=None, expires_at__gt=timezone.now()
    ).order_by("-created_at")


def api_key_list(*, church: Church) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(church=church).select_related("created_by").order_by("-created_at")


def audit_log_recent(*, church: Church, limit: int = 50) -> QuerySet[AuditLog]:
    return AuditLog.objects.filter(church=church).select_related("actor", "api_key")[:limit]
