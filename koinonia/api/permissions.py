from rest_framework.permissions import BasePermission

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
