"""Read API for the church's sending numbers and its 10DLC registration: ``GET /numbers``, ``/numbers/{id}``
(each number's health and whether it is on the live campaign) and ``GET /tendlc`` (brand, current campaign,
the numbers' assignments, and the state in the words the 10DLC page uses). Any role may read (as on the
pages); ordering numbers and submitting a registration stay on the pages (admins)."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.response import Response

from churches.models import Role
from koinonia.api.base import ChurchAPIView, ChurchViewSet
from koinonia.api.helpers import error_responses
from koinonia.api.pagination import CreatedCursorPagination
from messaging.numbers import selectors
from messaging.numbers.models import NumberCheck, SenderNumber, TenDlcBrand, TenDlcCampaign
from messaging.numbers.tendlc.selectors import tendlc_registration

ROLES = {"SAFE": Role.VIEWER}
SCOPES = {"SAFE": "numbers:read"}


class NumberOutput(serializers.ModelSerializer):
    problems = serializers.CharField(
        source="status_detail", help_text="What is wrong when the status is needs_attention, in plain words."
    )
    last_check_at = serializers.DateTimeField(allow_null=True, help_text="The latest phone-linking check.")
    last_check_outcome = serializers.ChoiceField(choices=NumberCheck.Outcome.choices, allow_null=True)
    tendlc_registered = serializers.SerializerMethodField(
        help_text="Linked to the church's live 10DLC campaign (or a provider that needs none): carriers take its "
        "texts at the full rate. False: sending from it is held to the unregistered rate."
    )
    tendlc_assignment_status = serializers.CharField(
        allow_null=True,
        help_text="The provider's assignment status of the number on the current campaign (e.g. ASSIGNED, "
        "PENDING_ASSIGNMENT, FAILED_ASSIGNMENT); null when it is not on it.",
    )

    class Meta:
        model = SenderNumber
        fields = [
            "id",
            "phone_number",
            "provider",
            "status",
            "problems",
            "is_default",
            "tendlc_registered",
            "tendlc_assignment_status",
            "last_verified_at",
            "last_check_at",
            "last_check_outcome",
            "created_at",
        ]

    def get_tendlc_registered(self, number) -> bool:
        # The rule the send pipeline's throttle uses (messaging.numbers.tendlc.selectors.tendlc_registration).
        return number.provider == "console" or bool(number.campaign_id)


@extend_schema_view(
    list=extend_schema(summary="The church's sending numbers, newest first", responses=NumberOutput(many=True)),
    retrieve=extend_schema(summary="One sending number", responses={200: NumberOutput, **error_responses(404)}),
)
class NumberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ChurchViewSet):
    """The numbers the church texts from, with their health (released numbers included, as history)."""

    model = SenderNumber
    serializer_class = NumberOutput
    roles = ROLES
    required_scopes = SCOPES
    lookup_value_regex = "[0-9]+"
    pagination_class = CreatedCursorPagination

    def church_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request church
            return self.model._default_manager.none()
        return selectors.sender_numbers_with_health(church=self.request.church)


class PlainStateOutput(serializers.Serializer):
    key = serializers.ChoiceField(choices=["not_started", "draft", "pending", "approved", "rejected", "suspended"])
    label = serializers.CharField(help_text="As the 10DLC page shows it, e.g. 'Pending review'.")
    detail = serializers.CharField()
    reasons = serializers.ListField(child=serializers.CharField(), help_text="Why it was refused, when it was.")
    next_step = serializers.ChoiceField(
        choices=["brand", "campaign", "none"], help_text="What the church can do next on the 10DLC page."
    )


class BrandOutput(serializers.ModelSerializer):
    status = serializers.ChoiceField(
        choices=TenDlcBrand.Status.choices, allow_blank=True, help_text="Empty until submitted."
    )
    failure_reasons = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = TenDlcBrand
        fields = [
            "id",
            "display_name",
            "entity_type",
            "status",
            "identity_status",
            "failure_reasons",
            "submitted_at",
            "status_at",
        ]


class CampaignOutput(serializers.ModelSerializer):
    campaign_status = serializers.ChoiceField(
        choices=TenDlcCampaign.CampaignStatus.choices, allow_blank=True, help_text="Empty until submitted."
    )
    failure_reasons = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = TenDlcCampaign
        fields = [
            "id",
            "usecase",
            "campaign_status",
            "submission_status",
            "failure_reasons",
            "submit_when_ready",
            "submitted_at",
            "status_at",
            "provisioned_at",
        ]


class AssignmentOutput(serializers.Serializer):
    number_id = serializers.IntegerField(source="sender_number_id")
    phone_number = serializers.CharField()
    status = serializers.CharField(help_text="The provider's assignment status; empty until it reports one.")
    failure_reasons = serializers.ListField(child=serializers.CharField())
    updated_at = serializers.DateTimeField()


class TenDlcOutput(serializers.Serializer):
    registered = serializers.BooleanField(help_text="The campaign is live with the carriers.")
    state = PlainStateOutput()
    brand = BrandOutput(allow_null=True, help_text="Null until the church's details are first saved.")
    campaign = CampaignOutput(allow_null=True, help_text="The current (newest) campaign; null before the first.")
    assignments = AssignmentOutput(many=True, help_text="The numbers linked (or being linked) to the campaign.")
    unregistered_numbers = serializers.ListField(
        child=serializers.CharField(), help_text="Active numbers not on a live campaign (sending from them is slowed)."
    )
    throttled = serializers.BooleanField(help_text="Sending is held to the unregistered rate for some number.")
    self_service = serializers.BooleanField(help_text="False when support registers the church with the provider.")


class TenDlcApi(ChurchAPIView):
    roles = ROLES
    required_scopes = SCOPES

    @extend_schema(responses=TenDlcOutput, summary="10DLC registration: brand, campaign and number assignments")
    def get(self, request):
        registration = tendlc_registration(church=request.church)
        state = registration.state
        return Response(
            TenDlcOutput(
                {
                    "registered": state.registered,
                    "state": {
                        "key": state.key,
                        "label": state.label,
                        "detail": state.detail,
                        "reasons": state.reasons,
                        "next_step": state.step,
                    },
                    "brand": registration.brand,
                    "campaign": registration.campaign,
                    "assignments": registration.assignments,
                    "unregistered_numbers": registration.unregistered_numbers,
                    "throttled": registration.throttled,
                    "self_service": registration.self_service,
                }
            ).data
        )
