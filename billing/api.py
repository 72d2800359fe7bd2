"""GET /api/v1/usage: this billing period's allowance, usage and projection (owners and admins)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from billing import selectors
from churches.models import Role
from koinonia.api.base import ChurchAPIView


class PlanOutput(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    price_cents = serializers.IntegerField()


class SendEstimateOutput(serializers.Serializer):
    segments = serializers.IntegerField()
    within_allowance = serializers.BooleanField()
    overage_segments = serializers.IntegerField()
    overage_cents = serializers.IntegerField()
    allowed = serializers.BooleanField()
    code = serializers.CharField()
    message = serializers.CharField()


class UsageOutput(serializers.Serializer):
    status = serializers.CharField(help_text="trialing, trial_expired, active, past_due, past_due_blocked, ...")
    plan = PlanOutput()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    allowance = serializers.IntegerField(help_text="Segments included this period (plan + credits).")
    used = serializers.IntegerField()
    remaining = serializers.IntegerField()
    projected = serializers.IntegerField(help_text="Segments by period end at the current pace.")
    overage_enabled = serializers.BooleanField()
    overage_segments = serializers.IntegerField()
    overage_cents = serializers.IntegerField()
    projected_overage_cents = serializers.IntegerField()
    spend_cap_cents = serializers.IntegerField(allow_null=True)
    can_broadcast = serializers.BooleanField()
    send = SendEstimateOutput(required=False, help_text="With ?segments=N: what a send of N segments would do.")


class UsageApi(ChurchAPIView):
    roles = {"SAFE": Role.ADMIN}
    required_scopes = {"SAFE": "billing:read"}

    @extend_schema(
        responses=UsageOutput,
        summary="Usage this billing period",
        parameters=[OpenApiParameter("segments", int, description="Estimate a send of this many segments.")],
    )
    def get(self, request):
        try:
            adding = max(0, min(int(request.query_params.get("segments", 0)), 10_000_000))
        except ValueError:
            adding = 0
        sub = selectors.subscription_get(church=request.church)
        summary = selectors.usage_summary(church=request.church, sub=sub, adding=adding)
        return Response(UsageOutput(summary).data)
