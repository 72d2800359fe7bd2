"""API for broadcasts and templates: send or schedule (with Idempotency-Key), preview, cancel, resend to
failed, recipients with delivery status. Viewers read; staff send and manage templates. Writes go through
``messaging.broadcasts.services``; reads through ``messaging.broadcasts.selectors``."""

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import (
    extend_schema,
    extend_schema_serializer,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from churches.models import Role
from koinonia.api.base import ChurchViewSet
from koinonia.api.helpers import acting_user, error_responses, validated_input
from koinonia.api.idempotency import idempotent
from messaging.broadcasts import selectors, services
from messaging.broadcasts.models import Message, MessageTemplate, Recipient
from messaging.broadcasts.services import MAX_MEDIA

# --- Shapes ---------------------------------------------------------------------------------------

CONFLICT_WORDING = "Conflicts with the current state (already finished, nothing failed, no sending number, duplicate)."


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with a UTC offset. A time without one is refused rather than guessed."""

    def to_internal_value(self, value):
        if isinstance(value, str):
            parsed = parse_datetime(value.strip())
            if parsed is not None and parsed.tzinfo is None:
                raise serializers.ValidationError(
                    "Give the time with its UTC offset, e.g. 2026-05-03T09:00:00-05:00 or 2026-05-03T14:00:00Z."
                )
        return super().to_internal_value(value)


class Audience(serializers.Serializer):
    all = serializers.BooleanField(required=False, help_text="Everyone subscribed. Leave out the id lists.")
    branch_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False)
    group_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False)
    member_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False)


class MessageCountsOutput(serializers.Serializer):
    recipients = serializers.IntegerField(
        allow_null=True,
        help_text="Subscribed members in the audience, counted when the message is accepted (audiences over "
        "1,000 are counted by a worker within seconds: null until then) and exact once the message is prepared.",
    )
    queued = serializers.IntegerField()
    sent = serializers.IntegerField(help_text="Handed to the carrier, no delivery report yet.")
    delivered = serializers.IntegerField()
    failed = serializers.IntegerField()
    skipped = serializers.IntegerField(help_text="Not sent: opted out meanwhile, canceled, or held past expiry.")


# Named "Message" in the schema (conversations has its own MessageOutput).
@extend_schema_serializer(component_name="Message")
class MessageOutput(serializers.ModelSerializer):
    audience = Audience()
    counts = MessageCountsOutput(read_only=True)
    resend_of = serializers.IntegerField(source="resend_of_id", allow_null=True, read_only=True)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not instance.recipients_counted:
            data["counts"]["recipients"] = None
        return data

    class Meta:
        model = Message
        fields = [
            "id",
            "body",
            "media_urls",
            "audience",
            "status",
            "status_detail",
            "scheduled_at",
            "segments",
            "encoding",
            "counts",
            "resend_of",
            "created_at",
        ]


class MessageInput(serializers.Serializer):
    body = serializers.CharField(
        allow_blank=True,
        trim_whitespace=False,
        help_text="Merge fields: {first_name}, {last_name}, {full_name}, {church_name}.",
    )
    audience = Audience(
        help_text='{"all": true}, or any mix of branch_ids, group_ids and member_ids. Members are '
        "deduplicated; only subscribed members receive texts."
    )
    scheduled_at = AwareDateTimeField(
        required=False, allow_null=True, help_text="ISO 8601 with offset. Leave out to send now."
    )
    media_urls = serializers.ListField(child=serializers.URLField(), required=False, max_length=MAX_MEDIA)


class MessagePreviewInput(serializers.Serializer):
    body = serializers.CharField(allow_blank=True, trim_whitespace=False)
    audience = Audience(required=False, help_text="Leave out to preview the text alone.")
    media_urls = serializers.ListField(child=serializers.URLField(), required=False, max_length=MAX_MEDIA)
    preview_member_id = serializers.IntegerField(
        required=False, min_value=1, help_text="Show the text as this audience member gets it (default: the first)."
    )


class PreviewSampleOutput(serializers.Serializer):
    member_id = serializers.IntegerField()
    name = serializers.CharField()
    text = serializers.CharField(help_text="Exactly what this member receives, merge fields filled.")
    characters = serializers.IntegerField()
    segments = serializers.IntegerField()
    encoding = serializers.ChoiceField(choices=["GSM-7", "UCS-2"])


class PreviewChoiceOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class PreviewCostOutput(serializers.Serializer):
    segments = serializers.IntegerField(help_text="Segments this send would use in total.")
    allowance = serializers.IntegerField(allow_null=True)
    remaining = serializers.IntegerField(help_text="Segments left in this period's allowance now.")
    remaining_after = serializers.IntegerField(help_text="Segments left after this send.")
    within_allowance = serializers.BooleanField()
    overage_segments = serializers.IntegerField()
    overage_cents = serializers.IntegerField()
    allowed = serializers.BooleanField(help_text="False when the plan would refuse this send (text says why).")
    text = serializers.CharField()


class MessagePreviewOutput(serializers.Serializer):
    recipients = serializers.IntegerField(allow_null=True, help_text="Subscribed members in the audience.")
    encoding = serializers.ChoiceField(choices=["GSM-7", "UCS-2"])
    characters = serializers.IntegerField(help_text="Length in the encoding's units, merge fields as typed.")
    segments = serializers.IntegerField(help_text="Segments per text (merge fields at typical lengths).")
    total_segments = serializers.IntegerField(allow_null=True, help_text="segments × recipients.")
    non_gsm_chars = serializers.ListField(child=serializers.CharField(), help_text="Characters that force UCS-2.")
    replaceable_chars = serializers.ListField(
        child=serializers.CharField(), help_text="Those of them that fixed_body replaces (smart quotes, dashes...)."
    )
    fixed_body = serializers.CharField(help_text="The body with smart quotes, dashes and odd spaces made plain.")
    needs_confirmation = serializers.BooleanField(help_text="The compose page asks before sending this.")
    problems = serializers.DictField(
        child=serializers.CharField(), help_text="What message_send would refuse, per field (empty when fine)."
    )
    sample = PreviewSampleOutput(allow_null=True, help_text="The text as one audience member receives it.")
    sample_choices = PreviewChoiceOutput(many=True, help_text="Audience members the preview can be shown for.")
    cost = PreviewCostOutput(allow_null=True, help_text="Cost against the plan; null when nothing is metered.")
    needs_approval = serializers.BooleanField(help_text="Sent by you, it would wait for an admin's approval.")


class RecipientOutput(serializers.ModelSerializer):
    phone = serializers.CharField(help_text="E.164, as it was when the text was sent.")

    class Meta:
        model = Recipient
        fields = [
            "id",
            "member_id",
            "phone",
            "status",
            "error_code",
            "error_reason",
            "attempts",
            "queued_at",
            "sent_at",
            "delivered_at",
            "failed_at",
        ]


class RecipientFilter(serializers.Serializer):
    status = serializers.ChoiceField(choices=Recipient.Status.choices, required=False)


class MessageFilter(serializers.Serializer):
    status = serializers.ChoiceField(choices=Message.Status.choices, required=False)


class TemplateOutput(serializers.ModelSerializer):
    class Meta:
        model = MessageTemplate
        fields = ["id", "name", "body", "created_at", "updated_at"]


class TemplateInput(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    body = serializers.CharField(trim_whitespace=False, allow_blank=True)


# --- Helpers --------------------------------------------------------------------------------------


class TemplateCursorPagination(CursorPagination):
    ordering = ("name", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


class RecipientCursorPagination(CursorPagination):
    """In the order they were queued (ids grow), which is also roughly the sending order."""

    ordering = "id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


# --- Messages -------------------------------------------------------------------------------------

STAFF_WRITES = {"SAFE": Role.VIEWER, "UNSAFE": Role.STAFF}
MESSAGE_SCOPES = {"SAFE": "messages:read", "UNSAFE": "messages:send"}  # templates too (koinonia/api/scopes.py)
ADMIN_ONLY = {"SAFE": Role.ADMIN, "UNSAFE": Role.ADMIN}
APPROVE_SCOPES = {"SAFE": "messages:approve", "UNSAFE": "messages:approve"}


class MessageRejectInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, help_text="Emailed to the author.")


class MessageViewSet(mixins.RetrieveModelMixin, ChurchViewSet):
    """Broadcasts. POST sends now or schedules; counts are kept current by the send pipeline."""

    model = Message
    serializer_class = MessageOutput
    roles = STAFF_WRITES
    required_scopes = MESSAGE_SCOPES
    lookup_value_regex = "[0-9]+"
    message_status: str | None = None

    def church_queryset(self):
        return selectors.message_list(church=self.church, status=self.message_status)

    @extend_schema(
        summary="Messages, newest first",
        parameters=[MessageFilter],
        responses={200: MessageOutput(many=True), **error_responses(400, conflict=CONFLICT_WORDING)},
    )
    def list(self, request):
        self.message_status = validated_input(MessageFilter, request.query_params).get("status")
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(MessageOutput(page, many=True).data)

    @extend_schema(
        summary="One message with its counts",
        responses={200: MessageOutput, **error_responses(404, conflict=CONFLICT_WORDING)},
    )
    def retrieve(self, request, pk=None):
        return Response(MessageOutput(self.get_object()).data)

    @extend_schema(
        summary="Send a message now, or schedule it (staff)",
        description="Answers at once with the message and its counts; texts go out in the background. "
        "Send an `Idempotency-Key` header (a UUID per intended message) to retry safely: a retry with the same "
        "key and body gets the first answer again (with `Idempotent-Replayed: true`) and sends nothing twice.",
        request=MessageInput,
        responses={201: MessageOutput, **error_responses(402, 400, 403, 409, conflict=CONFLICT_WORDING)},
    )
    @idempotent
    def create(self, request):
        data = validated_input(MessageInput, request.data)
        message = services.message_send(
            church=self.church,
            author=acting_user(request),
            api_key=getattr(request, "api_key", None),
            body=data["body"],
            audience=dict(data["audience"]),
            scheduled_at=data.get("scheduled_at"),
            media_urls=data.get("media_urls") or [],
            acting_role=request.role,
        )
        return Response(MessageOutput(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Approve a message held for approval (admin)",
        description="A message by a staff key or person that the church's send-safety setting held "
        "(`status` `held`) goes out now, or at its scheduled time if that is still ahead. The plan is checked "
        "again. Anything not held is a 409.",
        request=None,
        responses={200: MessageOutput, **error_responses(403, 404, 409, conflict=CONFLICT_WORDING)},
    )
    @action(detail=True, methods=["post"], roles=ADMIN_ONLY, required_scopes=APPROVE_SCOPES)
    def approve(self, request, pk=None):
        message = self.get_object()
        message = services.message_approve(
            church=self.church,
            message_id=message.pk,
            acting_user=acting_user(request),
            api_key=getattr(request, "api_key", None),
        )
        return Response(MessageOutput(message).data)

    @extend_schema(
        summary="Reject a message held for approval (admin)",
        description="Nothing is sent; `status` becomes `rejected` and the author is emailed the reason.",
        request=MessageRejectInput,
        responses={200: MessageOutput, **error_responses(400, 403, 404, 409, conflict=CONFLICT_WORDING)},
    )
    @action(detail=True, methods=["post"], roles=ADMIN_ONLY, required_scopes=APPROVE_SCOPES)
    def reject(self, request, pk=None):
        message = self.get_object()
        data = validated_input(MessageRejectInput, request.data)
        message = services.message_reject(
            church=self.church,
            message_id=message.pk,
            acting_user=acting_user(request),
            api_key=getattr(request, "api_key", None),
            reason=data.get("reason", ""),
        )
        return Response(MessageOutput(message).data)

    @extend_schema(
        summary="Stop a scheduled or sending message (staff)",
        description="Texts already handed to the carrier can't be recalled; everything still waiting is skipped.",
        request=None,
        responses={200: MessageOutput, **error_responses(403, 404, 409, conflict=CONFLICT_WORDING)},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        message = self.get_object()
        message = services.message_cancel(
            church=self.church,
            message_id=message.pk,
            acting_user=acting_user(request),
            api_key=getattr(request, "api_key", None),
        )
        return Response(MessageOutput(message).data)

    @extend_schema(
        summary="Send the same text again to the members whose texts failed (staff)",
        description="Creates a new message (its `resend_of` is this one) to the failed recipients who are "
        "still subscribed.",
        request=None,
        responses={201: MessageOutput, **error_responses(402, 403, 404, 409, conflict=CONFLICT_WORDING)},
    )
    @action(detail=True, methods=["post"], url_path="resend-failed")
    @idempotent
    def resend_failed(self, request, pk=None):
        message = self.get_object()
        resent = services.message_resend_failed(
            church=self.church,
            message_id=message.pk,
            author=acting_user(request),
            api_key=getattr(request, "api_key", None),
        )
        return Response(MessageOutput(resent).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="The message's recipients with their delivery status",
        parameters=[RecipientFilter],
        responses={200: RecipientOutput(many=True), **error_responses(400, 404, conflict=CONFLICT_WORDING)},
    )
    @action(detail=True, methods=["get"], pagination_class=RecipientCursorPagination)
    def recipients(self, request, pk=None):
        message = self.get_object()
        wanted = validated_input(RecipientFilter, request.query_params).get("status")
        rows = selectors.recipient_list(church=self.church, message=message, status=wanted).select_related(None)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(RecipientOutput(page, many=True).data)

    @extend_schema(
        summary="Preview a message without sending it (staff)",
        description="Recipient count, encoding, segments per text and in total, the characters that force "
        "UCS-2 and the body with smart quotes and dashes replaced. Refusals `POST /messages` would make "
        "(too long, nobody subscribed...) are reported in `problems`, not as errors.",
        request=MessagePreviewInput,
        responses={200: MessagePreviewOutput, **error_responses(400, 403, conflict=CONFLICT_WORDING)},
    )
    @action(detail=False, methods=["post"])
    def preview(self, request):
        data = validated_input(MessagePreviewInput, request.data)
        audience = data.get("audience")
        preview = selectors.message_preview(
            church=self.church,
            body=data["body"],
            audience=dict(audience) if audience is not None else None,
            media_urls=data.get("media_urls"),
            preview_member_id=data.get("preview_member_id"),
            acting_role=request.role,
        )
        return Response(MessagePreviewOutput(preview).data)


# --- Templates ------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Message templates, by name", responses=TemplateOutput(many=True)),
    retrieve=extend_schema(
        summary="One template", responses={200: TemplateOutput, **error_responses(404, conflict=CONFLICT_WORDING)}
    ),
)
class TemplateViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ChurchViewSet):
    """Saved texts to start a message from. Viewers read; staff add, edit and delete."""

    model = MessageTemplate
    serializer_class = TemplateOutput
    roles = STAFF_WRITES
    required_scopes = MESSAGE_SCOPES
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = "[0-9]+"
    pagination_class = TemplateCursorPagination

    def church_queryset(self):
        return selectors.template_list(church=self.church).select_related(None)

    @extend_schema(
        summary="Add a template (staff)",
        request=TemplateInput,
        responses={201: TemplateOutput, **error_responses(400, 403, 409, conflict=CONFLICT_WORDING)},
    )
    @idempotent
    def create(self, request):
        data = validated_input(TemplateInput, request.data)
        template = services.template_create(
            church=self.church, acting_user=acting_user(request), name=data["name"], body=data["body"]
        )
        return Response(TemplateOutput(template).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Edit a template (staff; only the fields sent change)",
        request=TemplateInput(partial=True),
        responses={200: TemplateOutput, **error_responses(400, 403, 404, 409, conflict=CONFLICT_WORDING)},
    )
    def partial_update(self, request, pk=None):
        template = self.get_object()
        data = validated_input(TemplateInput, request.data, partial=True)
        template = services.template_update(
            church=self.church, template=template, acting_user=acting_user(request), **data
        )
        return Response(TemplateOutput(template).data)

    @extend_schema(
        summary="Delete a template (staff)",
        request=None,
        responses={204: None, **error_responses(403, 404, conflict=CONFLICT_WORDING)},
    )
    def destroy(self, request, pk=None):
        template = self.get_object()
        services.template_delete(church=self.church, template=template, acting_user=acting_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
