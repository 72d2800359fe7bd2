from rest_framework.permissions import BasePermission

from koinonia.api import scopes
from koinonia.roles import Role
from koinonia.tenancy import required_role


class ChurchRolePermission(BasePermission):
    """Authenticated, with a current church, with the role this method needs (``view.roles``)."""

    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        if getattr(request, "church", None) is None:
            self.message = "You are not a member of any church."
            return False
        return Role.at_least(request.role, required_role(getattr(view, "roles", {}), request.method))


class ApiKeyScopePermission(BasePermission):
    """An API key needs the scopes the view declares for this action or method (``view.required_scopes``,
    see ``koinonia.api.scopes``); a key without scopes has them all. Staff sessions are not scoped.
    A refusal is a 403 ``insufficient_scope`` naming what is missing."""

    def has_permission(self, request, view) -> bool:
        api_key = getattr(request, "api_key", None)
        if api_key is None:
            return True
        # Imported here: DRF imports the permission classes while rest_framework.views, which the error
        # module needs, is still loading.
        from koinonia.api.errors import ApiError

        granted = api_key.scopes or ()
        missing = scopes.missing_scopes(view, request.method, granted)
        if missing is None:
            if not granted:
                return True  # a full-access key; the URL-map test keeps endpoints from declaring nothing
            raise ApiError(
                "This endpoint declares no scope, so only a key with full access may call it.",
                code="insufficient_scope",
                status_code=403,
                details={"required_scopes": []},
            )
        if missing:
            names = ", ".join(missing)
            raise ApiError(
                f"This API key lacks the scope{'s' if len(missing) > 1 else ''} {names}.",
                code="insufficient_scope",
                status_code=403,
                details={
                    "missing_scopes": missing,
                    "required_scopes": list(scopes.required_scopes(view, request.method)),
                },
            )
        return True
