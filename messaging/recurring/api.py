"""API for recurring messages (``/api/v1/recurring-messages``): list, read, create, edit, pause, resume,
delete, and preview a schedule's next send times. Viewers read; staff change. Writes go through
``messaging.recurring.services``; times are in the schedule's time zone (the church's)."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from churches.models import Role
from koinonia.api.base import ChurchViewSet
from koinonia.api.helpers import acting_user, error_responses, validated_input
from koinonia.api.idempotency import idempotent
from messaging.recurring import recurrence
from messaging.recurring import selectors as recurring_selectors
from messaging.recurring import services as recurring_services
from messaging.recurring.models import RecurringMessage

CONFLICT_WORDING = "Conflicts with its state (e.g. resuming a schedule that has ended)."


class CalendarDateField(serializers.DateField):
    """YYYY-MM-DD; a day the month doesn't have gets a message saying so."""

    def to_internal_value(self, value):
        problem = recurrence.impossible_date_message(value) if isinstance(value, str) else None
        if problem:
            raise serializers.ValidationError(problem)
        return super().to_internal_value(value)


class RecurringAudience(serializers.Serializer):
    all = serializers.BooleanField(required=False, help_text="Everyone subscribed. Leave out the id lists.")
    branch_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False)
    group_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False)
    member_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False)


class ScheduleInput(serializers.Serializer):
    frequency = serializers.ChoiceField(choices=RecurringMessage.Frequency.choices)
    interval = serializers.IntegerField(required=False, min_value=1, help_text="Every N days / weeks / months.")
    weekdays = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text="Weekly: 0 (Monday) … 6 (Sunday)."
    )
    month_day = serializers.IntegerField(
        required=False, allow_null=True, help_text="Monthly: 1–31; 29–31 fall on the last day of shorter months."
    )
    nth_week = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text='Monthly: 1–4 or -1 for the last (with nth_weekday: "second Sunday").',
    )
    nth_weekday = serializers.IntegerField(required=False, allow_null=True, help_text="0 (Monday) … 6 (Sunday).")
    rrule = serializers.CharField(
        required=False, allow_blank=True, max_length=500, help_text="Custom: an RRULE such as FREQ=WEEKLY;BYDAY=SU,WE."
    )
    time_of_day = serializers.TimeField(help_text="Local time, HH:MM.")
    timezone = serializers.CharField(required=False, max_length=64, help_text="Defaults to the church's time zone.")
    start_date = CalendarDateField()
    end_date = CalendarDateField(required=False, allow_null=True, help_text="Last day (inclusive). Or give count.")
    count = serializers.IntegerField(
        required=False, allow_null=True, help_text="Occurrences from the start date. Or give end_date."
    )


class RecurringInput(ScheduleInput):
    name = serializers.CharField(required=False, allow_blank=True, max_length=120)
    body = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text="The text, or give template_id."
    )
    template_id = serializers.IntegerField(
        required=False, allow_null=True, help_text="Send this template's current text at each firing."
    )
    audience = RecurringAudience(help_text='{"all": true}, or any mix of branch_ids, group_ids and member_ids.')


class RecurringOutput(serializers.ModelSerializer):
    audience = RecurringAudience()
    template_id = serializers.IntegerField(allow_null=True)
    time_of_day = serializers.TimeField(format="%H:%M")
    state = serializers.ChoiceField(choices=["active", "paused", "finished"])
    description = serializers.SerializerMethodField()
    next_runs = serializers.SerializerMethodField(help_text="The next five send times, in the schedule's time zone.")

    class Meta:
        model = RecurringMessage
        fields = [
            "id",
            "name",
            "body",
            "template_id",
            "audience",
            *recurring_services.SCHEDULE_FIELDS,
            "state",
            "description",
            "next_run_at",
            "next_runs",
            "fired_count",
            "last_fired_at",
            "last_error",
            "last_error_at",
            "created_at",
            "updated_at",
        ]

    def get_description(self, obj: RecurringMessage) -> str:
        return recurrence.describe(obj.schedule)

    def get_next_runs(self, obj: RecurringMessage) -> list[str]:
        tz = obj.schedule.tz
        return [at.astimezone(tz).isoformat() for at in recurring_selectors.recurring_next_runs(recurring=obj)]


class PreviewOutput(serializers.Serializer):
    description = serializers.CharField()
    next_runs = serializers.ListField(child=serializers.CharField(), help_text="ISO 8601 with the local offset.")


def _service_fields(data: dict) -> dict:
    fields = dict(data)
    if "audience" in fields:
        fields["audience"] = dict(fields["audience"])
    return fields


@extend_schema_view(
    list=extend_schema(summary="Recurring messages, newest first", responses=RecurringOutput(many=True)),
    retrieve=extend_schema(
        summary="One recurring message",
        responses={200: RecurringOutput, **error_responses(404, conflict=CONFLICT_WORDING)},
    ),
)
class RecurringMessageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ChurchViewSet):
    """Messages sent on a schedule. Each firing is a normal message (``GET /messages``)."""

    model = RecurringMessage
    serializer_class = RecurringOutput
    roles = {"SAFE": Role.VIEWER, "UNSAFE": Role.STAFF}
    required_scopes = {"SAFE": "messages:read", "UNSAFE": "messages:send"}
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = "[0-9]+"

    def church_queryset(self):
        return recurring_selectors.recurring_list(church=self.church)

    @extend_schema(
        summary="Create a recurring message (staff)",
        description="Impossible schedules (February 30, an end before the start, a rule that never "
        "happens) are refused with a message per field.",
        request=RecurringInput,
        responses={201: RecurringOutput, **error_responses(400, 403, conflict=CONFLICT_WORDING)},
    )
    @idempotent
    def create(self, request):
        data = validated_input(RecurringInput, request.data)
        recurring = recurring_services.recurring_create(
            church=self.church,
            acting_user=acting_user(request),
            api_key=getattr(request, "api_key", None),
            **_service_fields(data),
        )
        return Response(RecurringOutput(recurring).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Edit a recurring message (staff; only the fields sent change)",
        description="The next send time is worked out again from now.",
        request=RecurringInput(partial=True),
        responses={200: RecurringOutput, **error_responses(400, 403, 404, conflict=CONFLICT_WORDING)},
    )
    def partial_update(self, request, pk=None):
        recurring = self.get_object()
        data = validated_input(RecurringInput, request.data, partial=True)
        recurring = recurring_services.recurring_update(
            church=self.church,
            recurring=recurring,
            acting_user=acting_user(request),
            api_key=getattr(request, "api_key", None),
            **_service_fields(data),
        )
        return Response(RecurringOutput(recurring).data)

    @extend_schema(
        summary="Delete a recurring message (staff)",
        request=None,
        responses={204: None, **error_responses(403, 404, conflict=CONFLICT_WORDING)},
    )
    def destroy(self, request, pk=None):
        recurring = self.get_object()
        recurring_services.recurring_delete(
            church=self.church,
            recurring=recurring,
            acting_user=acting_user(request),
            api_key=getattr(request, "api_key", None),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Pause (staff)",
        request=None,
        responses={200: RecurringOutput, **error_responses(403, 404, conflict=CONFLICT_WORDING)},
    )
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        recurring = recurring_services.recurring_pause(
            church=self.church,
            recurring=self.get_object(),
            acting_user=acting_user(request),
            api_key=getattr(request, "api_key", None),
        )
        return Response(RecurringOutput(recurring).data)

    @extend_schema(
        summary="Resume from the next send time (staff)",
        description="Times missed while paused are not sent.",
        request=None,
        responses={200: RecurringOutput, **error_responses(403, 404, 409, conflict=CONFLICT_WORDING)},
    )
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        recurring = recurring_services.recurring_resume(
            church=self.church,
            recurring=self.get_object(),
            acting_user=acting_user(request),
            api_key=getattr(request, "api_key", None),
        )
        return Response(RecurringOutput(recurring).data)

    @extend_schema(
        summary="Preview a schedule's next five send times without saving it (staff)",
        request=ScheduleInput,
        responses={200: PreviewOutput, **error_responses(400, 403, conflict=CONFLICT_WORDING)},
    )
    @action(detail=False, methods=["post"])
    def preview(self, request):
        data = dict(validated_input(ScheduleInput, request.data))
        data.setdefault("timezone", self.church.timezone)
        schedule, times = recurring_selectors.schedule_preview(church=self.church, **data)
        return Response(
            PreviewOutput(
                {
                    "description": recurrence.describe(schedule),
                    "next_runs": [at.astimezone(schedule.tz).isoformat() for at in times],
                }
            ).data
        )
