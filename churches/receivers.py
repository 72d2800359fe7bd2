"""Sign-in auditing: Django announces sign-ins through auth signals, so we listen there."""

from churches.models import StaffMembership
from churches.services import audit_record


def _client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


def record_sign_in(sender, request, user, **kwargs):
    church_ids = list(StaffMembership.objects.filter(user=user).values_list("church_id", flat=True)[:1])
    audit_record(
        church_id=church_ids[0] if church_ids else None,
        actor=user,
        action="auth.signed_in",
        ip_address=_client_ip(request),
    )


def record_failed_sign_in(sender, credentials, request=None, **kwargs):
    audit_record(
        church=None,
        action="auth.sign_in_failed",
        data={"email": str(credentials.get("username", ""))[:254]},
        ip_address=_client_ip(request),
    )
