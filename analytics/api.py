"""GET /api/v1/analytics?days=30&branch_id=…: the analytics page's figures — a daily series and totals
from the daily rollup (any role may read)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from analytics import selectors
from churches.models import Role
from churches.selectors import branch_get
from koinonia.api.base import ChurchAPIView


class RangeInput(serializers.Serializer):
    days = serializers.ChoiceField(choices=selectors.RANGES, required=False, default=selectors.DEFAULT_RANGE)
    branch_id = serializers.IntegerField(required=False, min_value=1, allow_null=True, default=None)


class DayOutput(serializers.Serializer):
    day = serializers.DateField()
    sent = serializers.IntegerField(help_text="Texts handed to the carrier and not failed (delivered included).")
    delivered = serializers.IntegerField()
    failed = serializers.IntegerField()
    delivery_rate = serializers.FloatField(allow_null=True, help_text="delivered / (sent + failed); null if none.")
    failed_by_reason = serializers.DictField(child=serializers.IntegerField())
    opt_outs = serializers.IntegerField()
    opt_ins = serializers.IntegerField()
    replies = serializers.IntegerField(help_text="Texts members sent the church.")
    new_members = serializers.IntegerField()
    segments = serializers.IntegerField()
    cost_cents = serializers.IntegerField()


class TotalsOutput(serializers.Serializer):
    sent = serializers.IntegerField()
    delivered = serializers.IntegerField()
    failed = serializers.IntegerField()
    delivery_rate = serializers.FloatField(allow_null=True)
    opt_outs = serializers.IntegerField()
    opt_ins = serializers.IntegerField()
    replies = serializers.IntegerField()
    new_members = serializers.IntegerField()
    segments = serializers.IntegerField()
    cost_cents = serializers.IntegerField()


class ReasonOutput(serializers.Serializer):
    reason = serializers.CharField()
    count = serializers.IntegerField()


class AnalyticsOutput(serializers.Serializer):
    days = serializers.IntegerField()
    first_day = serializers.DateField()
    last_day = serializers.DateField(help_text="Today in the church's time zone.")
    branch_id = serializers.IntegerField(allow_null=True)
    totals = TotalsOutput()
    failed_by_reason = ReasonOutput(many=True, help_text="Most frequent first.")
    series = DayOutput(many=True, help_text="One entry per day, oldest first (days without activity are zeros).")
    price_per_1000_cents = serializers.IntegerField(allow_null=True, help_text="Null: the plan has no per-text price.")
    cost_basis = serializers.CharField()
    updated_at = serializers.DateTimeField(allow_null=True, help_text="When the figures were last refreshed.")


class AnalyticsApi(ChurchAPIView):
    roles = {"SAFE": Role.VIEWER}
    required_scopes = {"SAFE": "analytics:read"}

    @extend_schema(
        responses=AnalyticsOutput,
        summary="Daily figures and totals",
        parameters=[
            OpenApiParameter("days", int, enum=list(selectors.RANGES), description="7, 30 (default) or 90."),
            OpenApiParameter("branch_id", int, description="One branch's figures instead of the whole church's."),
        ],
    )
    def get(self, request):
        given = RangeInput(data=request.query_params)
        given.is_valid(raise_exception=True)
        branch = None
        if given.validated_data.get("branch_id"):
            branch = branch_get(church=request.church, id=given.validated_data["branch_id"])
        report = selectors.analytics_report(church=request.church, days=given.validated_data["days"], branch=branch)
        del report["branch"]  # the model; the API names it by id
        report["branch_id"] = branch.pk if branch else None
        reasons = report["failed_by_reason"]
        report["failed_by_reason"] = [{"reason": reason, "count": count} for reason, count in reasons]
        # The report is already plain numbers, dates and strings in AnalyticsOutput's shape (the schema and
        # tests/analytics hold it to that); running 90 days x 12 fields through serializer fields would
        # cost more CPU than the rest of the request.
        return Response(report)
