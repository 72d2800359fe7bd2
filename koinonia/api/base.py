"""Bases for every API view: the church comes from the API key (or the staff session), every
queryset is scoped to it, and another church's id is a 404. Subclasses describe their rows in
``church_queryset()``; overriding ``get_queryset()`` is refused at import time."""

from rest_framework import generics, viewsets
from rest_framework.views import APIView

from koinonia.api.authentication import ApiKeyUser
from koinonia.tenancy import ScopedQuerysetGuard, get_scoped_object_or_404, limit_to_branches, scope_to_church


class ChurchContextMixin:
    def initial(self, request, *args, **kwargs):
        # Authentication runs lazily inside DRF; settle it first so church/role come from the
        # right source. A key's church always wins over any session.
        user = request.user
        if isinstance(user, ApiKeyUser):
            request._request.church = user.api_key.church
            limit_to_branches(request._request.church, user.api_key.branch_ids)
            request._request.role = user.api_key.role
            request._request.api_key = user.api_key
        else:
            request._request.api_key = None
        super().initial(request, *args, **kwargs)
        # Parse the body now, so malformed JSON is a 400 even on endpoints that ignore their body.
        if request.method in ("POST", "PUT", "PATCH"):
            request.data  # noqa: B018

    @property
    def church(self):
        return self.request.church


class ChurchAPIView(ChurchContextMixin, APIView):
    """For endpoints that are operations rather than collections (cancel, reply, usage...)."""

    roles: dict[str, str] = {}
    required_scopes: dict = {}  # koinonia.api.scopes: every endpoint declares its own


class ChurchScopedMixin(ScopedQuerysetGuard, ChurchContextMixin):
    _is_scoping_base = True
    roles: dict[str, str] = {}
    required_scopes: dict = {}  # koinonia.api.scopes: every endpoint declares its own
    model = None  # the church-owned model; church_queryset() may add joins and filters

    def church_queryset(self):
        return self.model._default_manager.all()

    def get_queryset(self):
        return scope_to_church(self.church_queryset(), getattr(self.request, "church", None))

    def get_object(self):
        queryset = self.filter_queryset(self.get_queryset())
        lookup_url_kwarg = self.lookup_url_kwarg or self.lookup_field
        obj = get_scoped_object_or_404(
            queryset, self.request.church, **{self.lookup_field: self.kwargs[lookup_url_kwarg]}
        )
        self.check_object_permissions(self.request, obj)
        return obj


class ChurchViewSet(ChurchScopedMixin, viewsets.GenericViewSet):
    pass


class ChurchListAPIView(ChurchScopedMixin, generics.GenericAPIView):
    pass
