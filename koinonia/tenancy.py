"""The one tenancy mechanism.

Every request has at most one current church (``request.church``) and role (``request.role``):
from the signed-in user's session (``churches.middleware.CurrentChurchMiddleware``, which owns the
memberships) or from the API key (API base class). This module imports no app: it is the foundation
the apps build on.
Pages subclass ``ChurchPageMixin``; API views subclass ``koinonia.api.base.ChurchAPIView`` /
``ChurchViewSet``. Both scope every queryset to the current church in a ``get_queryset`` that
subclasses may not override (they describe their rows in ``church_queryset`` instead), and both
answer another church's id with 404 — the same answer as a missing id.

Branch limits ride on the same path: a staff member (or API key) limited to some branches gets a
``request.church`` marked with those branch ids (``limit_to_branches``). ``for_church`` — and so
``scope_to_church``, every access function and both base classes — then also narrows each model that
names its way to a branch in ``branch_scope`` (Member: ``"branch"``, Conversation:
``"member__branch"`` …): another branch's member is a 404 exactly like another church's. Rows with no
branch (church-wide) are outside every limit. Work without a request (tasks, webhooks) loads its own
Church and is never limited.
"""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from koinonia.branch_limits import branch_limit, limit_to_branches, scope_to_branches  # noqa: F401 (re-exported)
from koinonia.exceptions import NotFound
from koinonia.roles import Role

SESSION_CHURCH_KEY = "current_church_id"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def scope_to_church(queryset: QuerySet, church) -> QuerySet:
    """Limit ``queryset`` to one church's rows. ``church=None`` yields nothing, never everything."""
    if church is None:
        return queryset.none()
    if queryset.model._meta.model_name == "church":
        return queryset.filter(pk=church.pk)
    return queryset.for_church(church)


def church_object_get(queryset: QuerySet, *, church, id, message: str = "Not found."):
    """The body of every access function (``churches.selectors.member_get`` ...): one query for the row
    ``id`` of ``church`` among ``queryset`` (the caller's joins, annotations or row lock). A missing id,
    a malformed one and another church's id all raise the same ``NotFound``."""
    try:
        return scope_to_church(queryset, church).get(pk=id)
    except (queryset.model.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound(message) from exc


# Model -> its access function, filled by ``access_function`` as the apps' selectors are imported.
ACCESS_FUNCTIONS: dict[type, object] = {}


def access_function(model):
    """Register ``fn(*, church, id, queryset=None)`` as the one way to fetch a ``model`` row by id: the
    scoped base classes' ``get_object`` call it too, so pages and API share it."""

    def register(fn):
        ACCESS_FUNCTIONS[model] = fn
        return fn

    return register


def get_scoped_object_or_404(queryset: QuerySet, church, **lookup):
    """Fetch one row of the current church; a missing row and another church's row look the same.
    A lookup by ``pk`` goes through the model's access function when it has one."""
    access = ACCESS_FUNCTIONS.get(queryset.model)
    if access is not None and set(lookup) == {"pk"}:
        try:
            return access(church=church, id=lookup["pk"], queryset=queryset)
        except NotFound as exc:
            # A view's own object missing is the page missing, even inside ``except BusinessRuleError``.
            raise Http404(exc.message) from exc
    try:
        return scope_to_church(queryset, church).get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("Not found.") from exc


def required_role(role_map: dict[str, str], method: str) -> str:
    """Per-method role map: an explicit entry wins, then SAFE/UNSAFE defaults."""
    if method in role_map:
        return role_map[method]
    if method in SAFE_METHODS:
        return role_map.get("SAFE", Role.VIEWER)
    return role_map.get("UNSAFE", Role.STAFF)


class ScopedQuerysetGuard:
    """Refuses, at class creation, a subclass that overrides ``get_queryset`` (which would silently
    bypass the church scope). Describe rows in ``church_queryset()``; the base applies the scope."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__ and not cls.__dict__.get("_is_scoping_base", False):
            raise TypeError(
                f"{cls.__name__} overrides get_queryset(); override church_queryset() instead so "
                "the church scope is always applied."
            )


class ChurchPageMixin(LoginRequiredMixin, ScopedQuerysetGuard):
    """Base for staff pages: signed in, with a current church, with the role the method needs.

    ``roles`` maps HTTP methods (or "SAFE" / "UNSAFE") to the least role allowed; by default viewers
    may read and staff may write.
    """

    _is_scoping_base = True
    roles: dict[str, str] = {}
    model = None

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if request.church is None:
            from django.shortcuts import redirect

            return redirect("no_church")
        if not Role.at_least(request.role, required_role(self.roles, request.method)):
            raise PermissionDenied("Your role does not allow this.")
        return super().dispatch(request, *args, **kwargs)

    def church_queryset(self) -> QuerySet:
        return self.model._default_manager.all()

    def get_queryset(self) -> QuerySet:
        return scope_to_church(self.church_queryset(), self.request.church)

    def get_object(self, queryset=None):
        queryset = self.get_queryset() if queryset is None else queryset
        lookup = {"pk": self.kwargs.get("pk")}
        return get_scoped_object_or_404(queryset, self.request.church, **lookup)
