"""API for the church itself, its team and its API keys."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from churches import services
from churches.models import ApiKey, Church, Role, StaffMembership
from koinonia.api.base import ChurchAPIView, ChurchViewSet


class ChurchOutput(serializers.ModelSerializer):
    class Meta:
        model = Church
        fields = ["id", "name", "slug", "timezone", "quiet_hours_start", "quiet_hours_end", "created_at"]


class CurrentChurchApi(ChurchAPIView):
    @extend_schema(responses=ChurchOutput, summary="The church this key or session belongs to")
    def get(self, request):
        return Response(ChurchOutput(request.church).data)


class StaffOutput(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.name")

    class Meta:
        model = StaffMembership
        fields = ["id", "name", "email", "role", "created_at"]


class StaffViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ChurchViewSet):
    model = StaffMembership
    serializer_class = StaffOutput
    roles = {"SAFE": Role.VIEWER}

    def church_queryset(self):
        return StaffMembership.objects.select_related("user")


class ApiKeyOutput(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "role", "created_at", "last_used_at", "expires_at", "revoked_at"]


class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ChurchViewSet):
    """API keys are managed by admins; listing shows prefixes only, never keys."""

    model = ApiKey
    serializer_class = ApiKeyOutput
    roles = {"SAFE": Role.ADMIN, "UNSAFE": Role.ADMIN}

    @extend_schema(request=None, responses=ApiKeyOutput)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        api_key = self.get_object()
        user = request.user if not getattr(request, "api_key", None) else None
        api_key = services.api_key_revoke(church=request.church, acting_user=user, api_key_id=api_key.pk)
        return Response(ApiKeyOutput(api_key).data)
