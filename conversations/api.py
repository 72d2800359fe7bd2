"""API for conversations: the inbox list with filters, a thread's messages, replies (text and picture),
notes, status / assignment / restricted updates, and the consent review queue. Viewers read; staff
reply and triage. A member's consent history and recorded opt-ins live with the directory API
(``members/{id}/consent``)."""

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from churches.models import Role
from conversations import selectors, services
from conversations.models import CannedReply, ConsentReview, Conversation, ConversationMessage
from conversations.services.media import IMAGE_TYPES, safe_image_type
from koinonia.api.base import ChurchViewSet
from koinonia.api.helpers import error_responses, validated_input
from koinonia.api.idempotency import idempotent
from koinonia.api.pagination import CreatedCursorPagination
from koinonia.api.parsers import FormParser, JSONParser, MultiPartParser

ROLES = {"SAFE": Role.VIEWER, "UNSAFE": Role.STAFF}
SCOPES = {"SAFE": "conversations:read", "UNSAFE": "conversations:write"}


def acting_user(request):
    return None if getattr(request, "api_key", None) else request.user


class LatestFirstPagination(CursorPagination):
    ordering = ("-last_message_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 200


class MemberBrief(serializers.Serializer):
    id = serializers.IntegerField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    phone = serializers.CharField()
    sms_status = serializers.CharField()


class ConversationOutput(serializers.ModelSerializer):
    member = serializers.SerializerMethodField()
    visitor_phone = serializers.SerializerMethodField()
    assignee_id = serializers.IntegerField(allow_null=True)

    class Meta:
        model = Conversation
        fields = [
            "id",
            "member",
            "visitor_phone",
            "status",
            "assignee_id",
            "restricted",
            "unread_count",
            "last_message_at",
            "last_message_preview",
            "last_message_direction",
            "created_at",
        ]

    @extend_schema(responses=MemberBrief(allow_null=True))
    def get_member(self, obj) -> dict | None:
        if not obj.member_id:
            return None
        m = obj.member
        return {
            "id": m.pk,
            "first_name": m.first_name,
            "last_name": m.last_name,
            "phone": m.phone,
            "sms_status": m.sms_status,
        }

    def get_visitor_phone(self, obj) -> str | None:
        return obj.visitor_phone if not obj.member_id else None


class MediaOutput(serializers.Serializer):
    content_type = serializers.CharField()
    url = serializers.CharField(allow_null=True)
    error = serializers.CharField()


class ConversationMessageOutput(serializers.ModelSerializer):
    media = serializers.SerializerMethodField()
    author = serializers.SerializerMethodField()

    class Meta:
        model = ConversationMessage
        fields = [
            "id",
            "direction",
            "kind",
            "body",
            "media",
            "status",
            "error_reason",
            "author",
            "created_at",
            "sent_at",
        ]

    @extend_schema(responses=MediaOutput(many=True))
    def get_media(self, obj) -> list:
        request = self.context.get("request")
        items = []
        for index, item in enumerate(obj.media):
            url = None
            if item.get("path"):
                path = reverse("conversation-media", args=[obj.conversation_id, obj.pk, index])
                url = request.build_absolute_uri(path) if request else path
            items.append({"content_type": item.get("content_type", ""), "url": url, "error": item.get("error", "")})
        return items

    def get_author(self, obj) -> str | None:
        return obj.author.get_full_name() if obj.author_id else None


class ConversationUpdateInput(serializers.Serializer):
    # A plain string (validated by the service): a second enum named "status" would collide in the schema.
    status = serializers.CharField(required=False, help_text="open, closed or archived")
    assignee_id = serializers.IntegerField(required=False, allow_null=True)
    restricted = serializers.BooleanField(required=False)


class ReplyInput(serializers.Serializer):
    body = serializers.CharField(required=False, allow_blank=True, default="")
    media = serializers.FileField(required=False, help_text="A JPEG, PNG or GIF picture, at most 5 MB.")


class NoteInput(serializers.Serializer):
    body = serializers.CharField()


class ConversationViewSet(mixins.RetrieveModelMixin, ChurchViewSet):
    """One thread per member. Restricted threads are visible only to owners, admins and the assignee;
    to anyone else they do not exist (404)."""

    model = Conversation
    serializer_class = ConversationOutput
    pagination_class = LatestFirstPagination
    roles = ROLES
    required_scopes = SCOPES
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def church_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request church
            return self.model._default_manager.none()
        return selectors.visible_conversations(
            church=self.request.church, user=acting_user(self.request), role=self.request.role
        ).select_related("member")

    @extend_schema(
        parameters=[
            OpenApiParameter("filter", enum=list(selectors.FILTERS), default="open"),
            OpenApiParameter("q", description="Name, phone or words of the latest message"),
        ],
        responses=ConversationOutput(many=True),
        summary="The inbox: conversations by latest message",
    )
    def list(self, request):
        filter_by = request.query_params.get("filter", "open")
        if filter_by not in selectors.FILTERS:
            filter_by = "open"
        rows = selectors.conversation_list(
            church=request.church,
            user=acting_user(request),
            role=request.role,
            filter_by=filter_by,
            q=request.query_params.get("q", ""),
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(ConversationOutput(page, many=True).data)

    @extend_schema(
        request=ConversationUpdateInput, responses=ConversationOutput, summary="Change status, assignee or restricted"
    )
    def partial_update(self, request, pk=None):
        conversation = self.get_object()
        data = validated_input(ConversationUpdateInput, request.data)
        kwargs = {key: data[key] for key in ("status", "restricted") if key in data}
        if "assignee_id" in data:
            kwargs["assignee_id"] = data["assignee_id"]
        conversation = services.conversation_update(
            church=request.church,
            conversation=conversation,
            acting_user=acting_user(request),
            acting_role=request.role,
            api_key=request.api_key,
            **kwargs,
        )
        return Response(ConversationOutput(conversation).data)

    @extend_schema(responses=ConversationMessageOutput(many=True), summary="A thread's messages, newest first")
    @action(detail=True, methods=["get"], pagination_class=CreatedCursorPagination)
    def messages(self, request, pk=None):
        conversation = self.get_object()
        rows = selectors.thread_message_rows(conversation=conversation)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(
            ConversationMessageOutput(page, many=True, context={"request": request}).data
        )

    @extend_schema(
        request=ReplyInput,
        responses={201: ConversationMessageOutput, **error_responses(400, 402, 404, 409)},
        summary="Reply with text and/or a picture",
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def reply(self, request, pk=None):
        conversation = self.get_object()
        data = validated_input(ReplyInput, request.data)
        upload = None
        if data.get("media") is not None:
            f = data["media"]
            upload = services.Upload(name=f.name, content_type=f.content_type or "", size=f.size, file=f)
        message = services.reply_send(
            church=request.church,
            conversation=conversation,
            acting_user=acting_user(request),
            api_key=request.api_key,
            body=data.get("body", ""),
            upload=upload,
        )
        message.refresh_from_db()
        return Response(
            ConversationMessageOutput(message, context={"request": request}).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        request=NoteInput, responses={201: ConversationMessageOutput}, summary="Add an internal note (never sent)"
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def notes(self, request, pk=None):
        conversation = self.get_object()
        data = validated_input(NoteInput, request.data)
        note = services.note_add(
            church=request.church, conversation=conversation, acting_user=acting_user(request), body=data["body"]
        )
        return Response(
            ConversationMessageOutput(note, context={"request": request}).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=None, responses=ConversationOutput, summary="Mark the thread read")
    @action(detail=True, methods=["post"], url_path="read")
    def read(self, request, pk=None):
        conversation = self.get_object()
        services.conversation_mark_read(church=request.church, conversation=conversation)
        return Response(ConversationOutput(conversation).data)

    @extend_schema(responses={(200, "image/*"): bytes}, summary="Download a picture of a message")
    @action(
        detail=True, methods=["get"], url_path=r"messages/(?P<message_id>\d+)/media/(?P<index>\d+)", url_name="media"
    )
    def media(self, request, pk=None, message_id=None, index=None):
        conversation = self.get_object()
        return media_response(conversation=conversation, message_id=int(message_id), index=int(index))


def media_response(*, conversation: Conversation, message_id: int, index: int) -> FileResponse:
    """A stored picture, served so that it can only ever be a picture: one of the image types we allow
    (anything else goes out as an opaque download), never sniffed into HTML by the browser, and
    sandboxed by its own CSP should it be opened directly."""
    message = selectors.message_with_media(church=conversation.church, message_id=message_id)
    if message is None or message.conversation_id != conversation.pk or index >= len(message.media):
        raise Http404("Not found.")
    item = message.media[index]
    if not item.get("path"):
        raise Http404("Not downloaded.")
    content_type = safe_image_type(item.get("content_type"))
    if content_type is not None:
        served_type = content_type
        disposition = f'inline; filename="picture-{message.pk}-{index}{IMAGE_TYPES[content_type]}"'
    else:
        served_type = "application/octet-stream"
        disposition = f'attachment; filename="file-{message.pk}-{index}.bin"'
    response = FileResponse(default_storage.open(item["path"], "rb"), content_type=served_type)
    response["Content-Disposition"] = disposition
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


class ConsentReviewOutput(serializers.ModelSerializer):
    class Meta:
        model = ConsentReview
        fields = ["id", "conversation_id", "member_id", "raw_text", "reason", "status", "decided_at", "created_at"]


REVIEW_DECIDED = "The review was already decided."


class ConsentReviewViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ChurchViewSet):
    """Texts that might revoke consent but read ambiguously. Staff confirm (records the opt-out with the
    member's words and sends the one confirmation) or dismiss."""

    model = ConsentReview
    serializer_class = ConsentReviewOutput
    roles = ROLES
    required_scopes = SCOPES

    def church_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.model._default_manager.none()
        visible = selectors.visible_conversations(
            church=self.request.church, user=acting_user(self.request), role=self.request.role
        ).values("id")
        rows = selectors.review_list(church=self.request.church).filter(conversation_id__in=visible)
        if self.action == "list":
            review_status = self.request.query_params.get("status", ConsentReview.Status.PENDING)
            if review_status not in ConsentReview.Status.values:
                choices = ", ".join(ConsentReview.Status.values)
                raise serializers.ValidationError({"status": [f"Choose one of: {choices}."]})
            rows = rows.filter(status=review_status)
        return rows

    @extend_schema(
        request=None,
        responses={200: ConsentReviewOutput, **error_responses(404, 409, conflict=REVIEW_DECIDED)},
        summary="Confirm: it is an opt-out",
    )
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        review = services.review_confirm(
            church=request.church, review=self.get_object(), acting_user=acting_user(request)
        )
        return Response(ConsentReviewOutput(review).data)

    @extend_schema(
        request=None,
        responses={200: ConsentReviewOutput, **error_responses(404, 409, conflict=REVIEW_DECIDED)},
        summary="Dismiss: not an opt-out",
    )
    @action(detail=True, methods=["post"])
    def dismiss(self, request, pk=None):
        review = services.review_dismiss(
            church=request.church, review=self.get_object(), acting_user=acting_user(request)
        )
        return Response(ConsentReviewOutput(review).data)


# --- Canned replies ---------------------------------------------------------------------------------


class CannedReplyOutput(serializers.ModelSerializer):
    class Meta:
        model = CannedReply
        fields = ["id", "title", "body", "created_at"]


class CannedReplyInput(serializers.Serializer):
    title = serializers.CharField(max_length=80, help_text="Unique in the church (case ignored).")
    body = serializers.CharField(max_length=1600)


class ByTitlePagination(CursorPagination):
    ordering = ("title", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


CANNED_CONFLICT = "There is already a canned reply with that title."


@extend_schema_view(
    list=extend_schema(summary="Canned replies, by title", responses=CannedReplyOutput(many=True)),
    retrieve=extend_schema(
        summary="One canned reply", responses={200: CannedReplyOutput, **error_responses(404, conflict=CANNED_CONFLICT)}
    ),
)
class CannedReplyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ChurchViewSet):
    """Saved answers staff pick from when replying. Viewers read; staff add, edit and delete."""

    model = CannedReply
    serializer_class = CannedReplyOutput
    roles = ROLES
    required_scopes = SCOPES
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = "[0-9]+"
    pagination_class = ByTitlePagination

    def church_queryset(self):
        return CannedReply.objects.all()

    @extend_schema(
        summary="Add a canned reply (staff)",
        request=CannedReplyInput,
        responses={201: CannedReplyOutput, **error_responses(400, 403, 409, conflict=CANNED_CONFLICT)},
    )
    @idempotent
    def create(self, request):
        data = validated_input(CannedReplyInput, request.data)
        canned = services.canned_reply_create(church=self.church, acting_user=acting_user(request), **data)
        return Response(CannedReplyOutput(canned).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Edit a canned reply (staff; only the fields sent change)",
        request=CannedReplyInput(partial=True),
        responses={200: CannedReplyOutput, **error_responses(400, 403, 404, 409, conflict=CANNED_CONFLICT)},
    )
    def partial_update(self, request, pk=None):
        canned = self.get_object()
        data = validated_input(CannedReplyInput, request.data, partial=True)
        canned = services.canned_reply_update(
            church=self.church, canned=canned, acting_user=acting_user(request), **data
        )
        return Response(CannedReplyOutput(canned).data)

    @extend_schema(
        summary="Delete a canned reply (staff)",
        request=None,
        responses={204: None, **error_responses(403, 404, conflict=CANNED_CONFLICT)},
    )
    def destroy(self, request, pk=None):
        canned = self.get_object()
        services.canned_reply_delete(church=self.church, canned=canned, acting_user=acting_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
