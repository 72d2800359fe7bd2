"""Writes for churches, staff and API keys. Keyword-only, typed, atomic; ``church`` first."""

import hashlib
import secrets
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.text import slugify

from churches.models import (
    STAFF_LANGUAGES,
    ApiKey,
    AuditLog,
    Branch,
    Church,
    Invitation,
    PlatformAuditLog,
    Role,
    StaffMembership,
    User,
)
from churches.selectors import api_key_get, staff_membership_get
from churches.signals import church_created
from koinonia import policy
from koinonia.api import scopes as api_scopes
from koinonia.api.authentication import KEY_PREFIX, hash_api_key
from koinonia.exceptions import BusinessRuleError
from koinonia.roles import API_KEY_ROLE_CHOICES
from koinonia.tenancy import branch_limit

TRIAL_DAYS = 14

__all__ = [
    "api_key_create",
    "api_key_expiry_from_date",
    "api_key_revoke",
    "api_key_rotate",
    "audit_record",
    "church_create",
    "church_send_safety_update",
    "church_signup",
    "church_update",
    "email_digest",
    "invitation_accept",
    "invitation_accept_as_new_user",
    "invitation_find",
    "invitation_is_for",
    "staff_change_role",
    "staff_invite",
    "staff_remove",
    "staff_set_branches",
    "user_set_language",
]


def audit_record(
    *,
    church: Church | None = None,
    church_id: int | None = None,
    action: str,
    actor: User | None = None,
    api_key: ApiKey | None = None,
    target=None,
    data: dict | None = None,
    ip_address: str | None = None,
) -> AuditLog | PlatformAuditLog:
    church_id = church.pk if church is not None else church_id
    if church_id is None:
        # Outside any church (a failed sign-in): the platform log, since AuditLog rows always have a
        # church (its distribution column, koinonia/distribution.py).
        return PlatformAuditLog.objects.create(
            actor=actor if actor is not None and getattr(actor, "pk", None) else None,
            action=action,
            data={**(data or {}), **({"target": f"{target._meta.model_name}:{target.pk}"} if target else {})},
            ip_address=ip_address,
        )
    return AuditLog.objects.create(
        church_id=church_id,
        actor=actor if actor is not None and getattr(actor, "pk", None) else None,
        api_key=api_key,
        action=action,
        target_type=target._meta.model_name if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        data=data or {},
        ip_address=ip_address,
    )


def _unique_slug(name: str) -> str:
    base = slugify(name)[:60] or "church"
    slug, n = base, 1
    while Church.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def church_create(*, name: str, timezone_name: str, owner: User) -> Church:
    """A new church with ``owner`` as its first owner, on a trial."""
    church = Church.objects.create(
        name=name.strip(),
        slug=_unique_slug(name),
        timezone=timezone_name,
        contact_email=owner.email,
        trial_ends_at=timezone.now() + timedelta(days=TRIAL_DAYS),
    )
    StaffMembership.objects.create(church=church, user=owner, role=Role.OWNER)
    audit_record(church=church, actor=owner, action="church.created", target=church)
    transaction.on_commit(lambda: church_created.send(sender=Church, church=church, owner=owner))
    return church


@transaction.atomic
def church_signup(
    *, church_name: str, timezone_name: str, owner_name: str, email: str, password: str
) -> tuple[Church, User]:
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise BusinessRuleError("An account with this email already exists. Sign in instead.", field="email")
    try:
        user = User.objects.create_user(email=email, password=password, name=owner_name.strip())
    except IntegrityError as exc:  # a concurrent sign-up with the same email
        raise BusinessRuleError("An account with this email already exists.", field="email") from exc
    church = church_create(name=church_name, timezone_name=timezone_name, owner=user)
    return church, user


def _require_role(church: Church, user: User, role: str) -> StaffMembership:
    membership = StaffMembership.objects.for_church(church).filter(user=user).first()
    if membership is None or not Role.at_least(membership.role, role):
        raise BusinessRuleError("Your role does not allow this.", code="permission_denied", status=403)
    return membership


def _check_can_grant(actor_membership: StaffMembership, role: str) -> None:
    # Admins manage the team, but only owners make (or unmake) owners.
    if role == Role.OWNER and actor_membership.role != Role.OWNER:
        raise BusinessRuleError("Only an owner can make someone an owner.", code="permission_denied", status=403)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def staff_invite(*, church: Church, acting_user: User, email: str, role: str) -> tuple[Invitation, str]:
    """Invite ``email`` to the team; returns the invitation and the raw token (emailed, not stored)."""
    actor = _require_role(church, acting_user, Role.ADMIN)
    _check_can_grant(actor, role)
    email = email.strip().lower()
    if StaffMembership.objects.for_church(church).filter(user__email__iexact=email).exists():
        raise BusinessRuleError("This person is already on the team.", field="email", code="conflict", status=409)
    policy.current().check(church=church, resource="staff_seats", adding=1)
    # A new invitation replaces any pending one for the same address.
    Invitation.objects.for_church(church).filter(email__iexact=email, accepted_at=None, revoked_at=None).update(
        revoked_at=timezone.now()
    )
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        church=church,
        email=email,
        role=role,
        token_hash=_hash_token(token),
        invited_by=acting_user,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS),
    )
    audit_record(
        church=church, actor=acting_user, action="staff.invited", target=invitation, data={"email": email, "role": role}
    )
    accept_url = f"{settings.PUBLIC_BASE_URL}/invitations/{token}/"
    body = render_to_string(
        "churches/email/invitation.txt", {"church": church, "inviter": acting_user, "url": accept_url, "role": role}
    )
    transaction.on_commit(
        lambda: send_mail(f"Join {church.name} on Koinonia", body, settings.DEFAULT_FROM_EMAIL, [email])
    )
    return invitation, token


def email_digest(email: str) -> str:
    """A stable name for an address in cache keys and logs, without the address itself."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def invitation_is_for(*, invitation: Invitation, user: User) -> bool:
    """An invitation is for the address it was sent to, and no other account."""
    return (user.email or "").strip().lower() == invitation.email.strip().lower()


def invitation_find(*, token: str) -> Invitation | None:
    invitation = Invitation.objects.select_related("church").filter(token_hash=_hash_token(token)).first()
    return invitation if invitation is not None and invitation.is_pending else None


@transaction.atomic
def invitation_accept(*, token: str, user: User) -> StaffMembership:
    invitation = invitation_find(token=token)
    if invitation is None:
        raise BusinessRuleError("This invitation is no longer valid. Ask for a new one.", code="invalid_invitation")
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_pending:
        raise BusinessRuleError("This invitation has already been used.", code="invalid_invitation")
    if not invitation_is_for(invitation=invitation, user=user):
        raise BusinessRuleError(
            f"This invitation was sent to {invitation.email}. Sign in with that address to accept it.",
            code="invitation_email_mismatch",
            status=403,
        )
    if not StaffMembership.objects.for_church(invitation.church).filter(user=user).exists():
        policy.current().check(church=invitation.church, resource="staff_seats", adding=1)
    membership, created = StaffMembership.objects.get_or_create(
        church=invitation.church, user=user, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    audit_record(
        church=invitation.church,
        actor=user,
        action="staff.joined",
        target=membership,
        data={"role": membership.role, "invitation": invitation.pk, "already_member": not created},
    )
    return membership


@transaction.atomic
def invitation_accept_as_new_user(*, token: str, name: str, password: str) -> User:
    invitation = invitation_find(token=token)
    if invitation is None:
        raise BusinessRuleError("This invitation is no longer valid. Ask for a new one.", code="invalid_invitation")
    if User.objects.filter(email__iexact=invitation.email).exists():
        raise BusinessRuleError("An account with this email already exists. Sign in to accept.", field="email")
    user = User.objects.create_user(email=invitation.email, password=password, name=name.strip())
    invitation_accept(token=token, user=user)
    return user


def _owner_count(church: Church) -> int:
    return StaffMembership.objects.for_church(church).filter(role=Role.OWNER).count()


@transaction.atomic
def staff_change_role(*, church: Church, acting_user: User, membership_id: int, role: str) -> StaffMembership:
    actor = _require_role(church, acting_user, Role.ADMIN)
    # Lock the church's owner rows so two simultaneous demotions cannot remove both last owners.
    list(StaffMembership.objects.for_church(church).select_for_update().filter(role=Role.OWNER))
    membership = staff_membership_get(
        church=church, id=membership_id, queryset=StaffMembership.objects.select_for_update()
    )
    if role not in Role.values:
        raise BusinessRuleError("Unknown role.", field="role")
    _check_can_grant(actor, role)
    _check_can_grant(actor, membership.role)
    if membership.role == Role.OWNER and role != Role.OWNER and _owner_count(church) == 1:
        raise BusinessRuleError("A church needs at least one owner. Make someone else an owner first.", field="role")
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        church=church,
        actor=acting_user,
        action="staff.role_changed",
        target=membership,
        data={"user": membership.user.email, "from": previous, "to": role},
    )
    return membership


def user_set_language(*, user: User, language: str) -> User:
    """A user's staff-page language ("" = the browser's). Not church data: no church argument."""
    if language not in {"", *(code for code, _ in STAFF_LANGUAGES)}:
        raise BusinessRuleError("Choose a language from the list.", field="language")
    if user.language != language:
        user.language = language
        user.save(update_fields=["language"])
    return user


@transaction.atomic
def staff_set_branches(
    *, church: Church, acting_user: User, membership_id: int, branch_ids: list[int]
) -> StaffMembership:
    """Limit a staff member to some branches (members, sends, inbox and analytics of those only; see
    ``koinonia.tenancy``), or to none of them = the whole church. Owners are never limited."""
    actor = _require_role(church, acting_user, Role.ADMIN)
    membership = staff_membership_get(
        church=church, id=membership_id, queryset=StaffMembership.objects.select_for_update().select_related("user")
    )
    _check_can_grant(actor, membership.role)
    wanted = {int(branch_id) for branch_id in branch_ids}
    if wanted and membership.role == Role.OWNER:
        raise BusinessRuleError("Owners see the whole church; they cannot be limited to branches.", field="branches")
    found = set(Branch.objects.for_church(church).filter(pk__in=wanted).values_list("pk", flat=True))
    if wanted - found:
        raise BusinessRuleError("Choose branches from the list.", field="branches")
    membership.branch_ids = sorted(found)
    membership.save(update_fields=["branch_ids"])
    audit_record(
        church=church,
        actor=acting_user,
        action="staff.branches_changed",
        target=membership,
        data={"user": membership.user.email, "branch_ids": sorted(found)},
    )
    return membership


@transaction.atomic
def staff_remove(*, church: Church, acting_user: User, membership_id: int) -> None:
    actor = _require_role(church, acting_user, Role.ADMIN)
    list(StaffMembership.objects.for_church(church).select_for_update().filter(role=Role.OWNER))
    membership = staff_membership_get(
        church=church, id=membership_id, queryset=StaffMembership.objects.select_related("user")
    )
    _check_can_grant(actor, membership.role)
    if membership.role == Role.OWNER and _owner_count(church) == 1:
        raise BusinessRuleError("You cannot remove the last owner. Make someone else an owner first.")
    audit_record(
        church=church,
        actor=acting_user,
        action="staff.removed",
        target=membership,
        data={"user": membership.user.email, "role": membership.role},
    )
    membership.delete()


API_KEY_ROLES = (Role.ADMIN, Role.STAFF, Role.VIEWER)
DEFAULT_ROTATION_OVERLAP = timedelta(hours=24)
MAX_ROTATION_OVERLAP = timedelta(days=30)


def api_key_expiry_from_date(*, church: Church, day: date) -> datetime:
    """A key "expiring on" a day works through that day, in the church's time zone: it stops at the
    first instant of the next day."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=church.tzinfo)


def _check_api_key_grant(*, role: str, scopes: list[str], expires_at, acting_key: ApiKey | None) -> None:
    """What a new key (or a rotation) may be given. A key acting through the API can hand out no more
    than it holds itself: not a stronger role, not a scope it lacks — so a leaked narrow key can never
    mint a broad one."""
    if role not in API_KEY_ROLES:
        raise BusinessRuleError("An API key's role must be admin, staff or viewer.", field="role")
    unknown = api_scopes.unknown_scopes(scopes)
    if unknown:
        raise BusinessRuleError(f"Unknown scope: {', '.join(unknown)}.", field="scopes")
    beyond = api_scopes.scopes_beyond_role(scopes, role)
    if beyond:
        raise BusinessRuleError(
            f"A key with the {dict(API_KEY_ROLE_CHOICES)[role].lower()} role can't use {', '.join(beyond)}; "
            "choose a stronger role or leave the scope out.",
            field="scopes",
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise BusinessRuleError("The expiry must be in the future.", field="expires_at")
    if acting_key is not None:
        if Role.rank(role) > Role.rank(acting_key.role):
            raise BusinessRuleError(
                "A key can't create a key with a stronger role than its own.",
                code="permission_denied",
                status=403,
                field="role",
            )
        beyond_caller = sorted(api_scopes.effective_scopes(scopes) - api_scopes.effective_scopes(acting_key.scopes))
        if beyond_caller:
            raise BusinessRuleError(
                f"This key can't grant scopes it does not have: {', '.join(beyond_caller)}.",
                code="permission_denied",
                status=403,
                field="scopes",
            )


def _api_key_new(
    *, church: Church, acting_user: User | None, name: str, role: str, scopes: list[str], expires_at, rotated_from=None
) -> tuple[ApiKey, str]:
    prefix = secrets.token_hex(4)
    raw_key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        church=church,
        name=name.strip() or "API key",
        prefix=prefix,
        key_hash=hash_api_key(raw_key),
        role=role,
        scopes=scopes,
        created_by=acting_user if getattr(acting_user, "pk", None) else None,
        expires_at=expires_at,
        rotated_from=rotated_from,
        # A key made by a branch-limited user (or key) is limited like them; a rotation keeps the limit.
        branch_ids=(rotated_from.branch_ids if rotated_from else []) or sorted(branch_limit(church) or ()),
    )
    return api_key, raw_key


@transaction.atomic
def api_key_create(
    *,
    church: Church,
    acting_user: User | None,
    name: str,
    role: str = Role.ADMIN,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
    acting_key: ApiKey | None = None,
) -> tuple[ApiKey, str]:
    """Returns the key row and the full key, which is never stored and cannot be shown again. No scopes
    means every scope (whatever the role allows); ``acting_key`` is the key making this one, if any."""
    scopes = list(dict.fromkeys(scopes or []))
    _check_api_key_grant(role=role, scopes=scopes, expires_at=expires_at, acting_key=acting_key)
    api_key, raw_key = _api_key_new(
        church=church, acting_user=acting_user, name=name, role=role, scopes=scopes, expires_at=expires_at
    )
    audit_record(
        church=church,
        actor=acting_user,
        api_key=acting_key,
        action="api_key.created",
        target=api_key,
        data={
            "name": api_key.name,
            "role": role,
            "prefix": api_key.prefix,
            "scopes": scopes,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return api_key, raw_key


@transaction.atomic
def api_key_rotate(
    *,
    church: Church,
    acting_user: User | None,
    api_key_id: int,
    overlap: timedelta = DEFAULT_ROTATION_OVERLAP,
    acting_key: ApiKey | None = None,
) -> tuple[ApiKey, str]:
    """A new key with the old one's name, role, scopes and expiry; the old key keeps working for
    ``overlap`` (then expires), so an integration can switch over without downtime. Returns the new key
    row and its full key (shown once)."""
    if overlap < timedelta(0) or overlap > MAX_ROTATION_OVERLAP:
        raise BusinessRuleError("The overlap must be between 0 hours and 30 days.", field="overlap_hours")
    old = api_key_get(church=church, id=api_key_id, queryset=ApiKey.objects.select_for_update())
    if not old.is_active:
        raise BusinessRuleError(
            "This key is revoked or expired; create a new key instead.", code="conflict", status=409
        )
    successor = ApiKey.objects.for_church(church).filter(rotated_from=old, revoked_at__isnull=True).first()
    if successor is not None and successor.is_active:
        raise BusinessRuleError(
            f"This key was already rotated (new key kn_{successor.prefix}_…); rotate that one instead.",
            code="conflict",
            status=409,
        )
    if acting_key is not None:
        _check_api_key_grant(role=old.role, scopes=old.scopes, expires_at=None, acting_key=acting_key)
    new, raw_key = _api_key_new(
        church=church,
        acting_user=acting_user,
        name=old.name,
        role=old.role,
        scopes=list(old.scopes),
        expires_at=old.expires_at,
        rotated_from=old,
    )
    now = timezone.now()
    old_ends = now + overlap
    if old.expires_at is None or old.expires_at > old_ends:
        old.expires_at = old_ends
        old.save(update_fields=["expires_at"])
    audit_record(
        church=church,
        actor=acting_user,
        api_key=acting_key,
        action="api_key.rotated",
        target=old,
        data={
            "name": old.name,
            "prefix": old.prefix,
            "new_key_id": new.pk,
            "new_prefix": new.prefix,
            "overlap_hours": round(overlap.total_seconds() / 3600, 2),
            "old_key_expires_at": old.expires_at.isoformat(),
        },
    )
    return new, raw_key


@transaction.atomic
def api_key_revoke(
    *, church: Church, acting_user: User | None, api_key_id: int, acting_key: ApiKey | None = None
) -> ApiKey:
    api_key = api_key_get(church=church, id=api_key_id, queryset=ApiKey.objects.select_for_update())
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit_record(
            church=church,
            actor=acting_user,
            api_key=acting_key,
            action="api_key.revoked",
            target=api_key,
            data={"name": api_key.name, "prefix": api_key.prefix},
        )
    return api_key


@transaction.atomic
def church_update(*, church: Church, acting_user: User, **fields) -> Church:
    allowed = {
        "name",
        "timezone",
        "contact_email",
        "contact_phone",
        "quiet_hours_start",
        "quiet_hours_end",
        "welcome_text",
        "help_text",
        "after_hours_reply",
        "welcome_text_es",
        "help_text_es",
        "after_hours_reply_es",
    }
    unknown = set(fields) - allowed
    if unknown:
        raise BusinessRuleError(f"Unknown settings: {', '.join(sorted(unknown))}.")
    changed = {k: v for k, v in fields.items() if getattr(church, k) != v}
    for key, value in changed.items():
        setattr(church, key, value)
    if changed:
        church.save(update_fields=list(changed))
        audit_record(
            church=church,
            actor=acting_user,
            action="church.settings_changed",
            target=church,
            data={"fields": sorted(changed)},
        )
    return church


@transaction.atomic
def church_send_safety_update(
    *, church: Church, acting_user: User, approval_for_everyone: bool, approval_over: int | None
) -> Church:
    """The owner's send-safety rule (messaging/broadcasts/approval.py applies it to each send)."""
    if approval_over is not None and approval_over < 1:
        raise BusinessRuleError("Give a number of people of 1 or more, or leave it empty.", field="approval_over")
    before = {"approval_for_everyone": church.approval_for_everyone, "approval_over": church.approval_over}
    after = {"approval_for_everyone": bool(approval_for_everyone), "approval_over": approval_over}
    if before != after:
        church.approval_for_everyone, church.approval_over = after["approval_for_everyone"], after["approval_over"]
        church.save(update_fields=["approval_for_everyone", "approval_over"])
        audit_record(church=church, actor=acting_user, action="church.send_safety_changed", target=church, data=after)
    return church
