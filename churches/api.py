"""API for the church itself, its team, its API keys and its directory (branches, groups, members,
consent). Shapes live in ``churches.serializers``; writes go through ``churches.services``."""

import csv
from datetime import timedelta

from django.db import transaction
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from churches import imports, member_export, selectors, services
from churches import serializers as shapes
from churches.models import ApiKey, Branch, Church, ConsentEvent, Group, ImportJob, Member, Role, StaffMembership
from koinonia.api import scopes as api_scopes
from koinonia.api.base import ChurchAPIView, ChurchViewSet
from koinonia.api.fields import AwareDateTimeField
from koinonia.api.helpers import acting_user, error_responses, validated_input
from koinonia.api.idempotency import idempotent
from koinonia.api.negotiation import JSONErrorsNegotiation
from koinonia.api.pagination import CreatedCursorPagination
from koinonia.api.parsers import FormParser, MultiPartParser
from koinonia.roles import API_KEY_ROLE_CHOICES

CONFLICT_WORDING = "Conflicts with existing data (duplicate name, phone or keyword; opted-out member)."


class ChurchOutput(serializers.ModelSerializer):
    class Meta:
        model = Church
        fields = ["id", "name", "slug", "timezone", "quiet_hours_start", "quiet_hours_end", "created_at"]


class CurrentChurchApi(ChurchAPIView):
    required_scopes = {"SAFE": "church:read"}

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
    required_scopes = {"SAFE": "staff:read"}

    def church_queryset(self):
        return StaffMembership.objects.select_related("user")


class ApiKeyOutput(serializers.ModelSerializer):
    scopes = serializers.ListField(
        child=serializers.CharField(), help_text="Empty: every scope (whatever the role allows)."
    )
    rotated_from = serializers.IntegerField(source="rotated_from_id", allow_null=True, read_only=True)

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "role",
            "scopes",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
            "rotated_from",
        ]


class ApiKeyCreatedOutput(ApiKeyOutput):
    key = serializers.SerializerMethodField(help_text="The full key. Shown once: it is not stored.")

    class Meta(ApiKeyOutput.Meta):
        fields = [*ApiKeyOutput.Meta.fields, "key"]

    def get_key(self, obj) -> str:
        return self.context["raw_key"]


class ApiKeyCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    role = serializers.ChoiceField(choices=API_KEY_ROLE_CHOICES, default=Role.ADMIN)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(api_scopes.SCOPES)),
        required=False,
        default=list,
        help_text="Leave out (or empty) for every scope. A key can't grant a scope or role it lacks itself.",
    )
    expires_at = AwareDateTimeField(required=False, allow_null=True, help_text="ISO 8601 with offset; in the future.")


class ApiKeyRotateInput(serializers.Serializer):
    overlap_hours = serializers.IntegerField(
        min_value=0,
        max_value=720,
        default=24,
        help_text="How long the old key keeps working (0 = stops now). Default 24.",
    )


class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ChurchViewSet):
    """API keys are managed by admins; listing shows prefixes only, never keys. A key may create and
    rotate keys only up to its own role and scopes."""

    model = ApiKey
    serializer_class = ApiKeyOutput
    roles = {"SAFE": Role.ADMIN, "UNSAFE": Role.ADMIN}
    required_scopes = {"SAFE": "api_keys:manage", "UNSAFE": "api_keys:manage"}
    lookup_value_regex = "[0-9]+"

    @extend_schema(
        summary="Create a key (admins); the full key is in the answer, once",
        description="Not idempotent: the key is shown once and never stored, so an Idempotency-Key could not "
        "replay it. A retried create makes a second key; revoke the spare.",
        request=ApiKeyCreateInput,
        responses={201: ApiKeyCreatedOutput, **error_responses(400, 403)},
    )
    def create(self, request):
        data = validated_input(ApiKeyCreateInput, request.data)
        api_key, raw_key = services.api_key_create(
            church=self.church,
            acting_user=acting_user(request),
            acting_key=getattr(request, "api_key", None),
            **data,
        )
        return Response(ApiKeyCreatedOutput(api_key, context={"raw_key": raw_key}).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Rotate a key: a new key like it, the old one working for an overlap",
        description="The new key has the old one's name, role, scopes and expiry; the old key keeps working "
        "for overlap_hours (default 24), then expires.",
        request=ApiKeyRotateInput,
        responses={201: ApiKeyCreatedOutput, **error_responses(400, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def rotate(self, request, pk=None):
        old = self.get_object()
        data = validated_input(ApiKeyRotateInput, request.data)
        api_key, raw_key = services.api_key_rotate(
            church=self.church,
            acting_user=acting_user(request),
            acting_key=getattr(request, "api_key", None),
            api_key_id=old.pk,
            overlap=timedelta(hours=data["overlap_hours"]),
        )
        return Response(ApiKeyCreatedOutput(api_key, context={"raw_key": raw_key}).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ApiKeyOutput, **error_responses(403, 404)})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        api_key = self.get_object()
        api_key = services.api_key_revoke(
            church=request.church,
            acting_user=acting_user(request),
            acting_key=getattr(request, "api_key", None),
            api_key_id=api_key.pk,
        )
        return Response(ApiKeyOutput(api_key).data)


# --- Directory ------------------------------------------------------------------------------------
# Viewers read; staff create and edit members, groups and memberships; admins delete.
DIRECTORY_ROLES = {"SAFE": Role.VIEWER, "UNSAFE": Role.STAFF, "DELETE": Role.ADMIN}
DIRECTORY_METHODS = ["get", "post", "patch", "delete", "head", "options"]  # PATCH edits; no PUT
# Groups, branches, imports and consent are the directory too: one pair of scopes covers them all.
DIRECTORY_SCOPES = {"SAFE": "members:read", "UNSAFE": "members:write"}


class DirectoryViewSet(ChurchViewSet):
    roles = DIRECTORY_ROLES
    required_scopes = DIRECTORY_SCOPES
    http_method_names = DIRECTORY_METHODS
    lookup_value_regex = "[0-9]+"


@extend_schema_view(
    list=extend_schema(summary="Branches, with how many members each has", responses=shapes.BranchOutput),
    retrieve=extend_schema(
        summary="One branch", responses={200: shapes.BranchOutput, **error_responses(404, conflict=CONFLICT_WORDING)}
    ),
)
class BranchViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, DirectoryViewSet):
    """Branches (campuses, congregations). Viewers read, staff add and edit, admins delete."""

    model = Branch
    serializer_class = shapes.BranchOutput

    def church_queryset(self):
        return selectors.branch_list_with_member_counts(church=self.church)

    @extend_schema(
        summary="Add a branch",
        request=shapes.BranchInput,
        responses={201: shapes.BranchOutput, **error_responses(402, 400, 403, 409, conflict=CONFLICT_WORDING)},
    )
    @idempotent
    def create(self, request):
        data = validated_input(shapes.BranchInput, request.data)
        branch = services.branch_create(
            church=self.church,
            acting_user=acting_user(request),
            name=data["name"],
            address=data.get("address", ""),
            timezone_name=data.get("timezone", ""),
        )
        branch.member_count = 0
        return Response(shapes.BranchOutput(branch).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Edit a branch (only the fields sent change)",
        request=shapes.BranchInput(partial=True),
        responses={200: shapes.BranchOutput, **error_responses(400, 403, 404, 409, conflict=CONFLICT_WORDING)},
    )
    def partial_update(self, request, pk=None):
        branch = self.get_object()
        data = validated_input(shapes.BranchInput, request.data, partial=True)
        services.branch_update(church=self.church, branch=branch, acting_user=acting_user(request), **data)
        return Response(shapes.BranchOutput(self.get_object()).data)

    @extend_schema(
        summary="Delete a branch (admins). Its members and groups stay, without a branch.",
        request=None,
        responses={200: shapes.BranchDeleteOutput, **error_responses(403, 404, conflict=CONFLICT_WORDING)},
    )
    def destroy(self, request, pk=None):
        branch = self.get_object()
        moved = services.branch_delete(church=self.church, branch=branch, acting_user=acting_user(request))
        return Response({"deleted": True, "members_unassigned": moved["members"], "groups_unassigned": moved["groups"]})


class MemberCursorPagination(CreatedCursorPagination):
    """Cursor pagination in the order the caller chose with ``sort`` (the view validates it)."""

    def get_ordering(self, request, queryset, view):
        return selectors.MEMBER_SORTS[getattr(view, "member_sort", "-created")]


class MemberPageMixin:
    # Renders members with their group ids: two queries per page, whatever its size (no N+1).

    def member_page_response(self, queryset):
        page = self.paginate_queryset(queryset)
        group_ids = selectors.member_group_ids(church=self.church, member_ids=[m.pk for m in page])
        return self.get_paginated_response(shapes.MemberOutput(page, many=True, context={"group_ids": group_ids}).data)

    def member_response(self, member, status_code=status.HTTP_200_OK):
        group_ids = selectors.member_group_ids(church=self.church, member_ids=[member.pk])
        return Response(shapes.MemberOutput(member, context={"group_ids": group_ids}).data, status=status_code)


@extend_schema_view(
    list=extend_schema(summary="Groups, with how many members each has", responses=shapes.GroupOutput),
    retrieve=extend_schema(
        summary="One group", responses={200: shapes.GroupOutput, **error_responses(404, conflict=CONFLICT_WORDING)}
    ),
)
class GroupViewSet(MemberPageMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, DirectoryViewSet):
    """Groups and their members. Viewers read, staff add, edit and change memberships, admins delete."""

    model = Group
    serializer_class = shapes.GroupOutput

    def church_queryset(self):
        return selectors.group_list_with_member_counts(church=self.church)

    @staticmethod
    def _service_fields(data: dict) -> dict:
        fields = dict(data)
        if "branch_id" in fields:
            fields["branch"] = fields.pop("branch_id")
        return fields

    @extend_schema(
        summary="Add a group",
        request=shapes.GroupInput,
        responses={201: shapes.GroupOutput, **error_responses(400, 403, 409, conflict=CONFLICT_WORDING)},
    )
    @idempotent
    def create(self, request):
        data = validated_input(shapes.GroupInput, request.data)
        group = services.group_create(
            church=self.church, acting_user=acting_user(request), **self._service_fields(data)
        )
        group.member_count = 0
        return Response(shapes.GroupOutput(group).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Edit a group (only the fields sent change)",
        request=shapes.GroupInput(partial=True),
        responses={200: shapes.GroupOutput, **error_responses(400, 403, 404, 409, conflict=CONFLICT_WORDING)},
    )
    def partial_update(self, request, pk=None):
        group = self.get_object()
        data = validated_input(shapes.GroupInput, request.data, partial=True)
        services.group_update(
            church=self.church, group=group, acting_user=acting_user(request), **self._service_fields(data)
        )
        return Response(shapes.GroupOutput(self.get_object()).data)

    @extend_schema(
        summary="Delete a group (admins). Its members stay; only their memberships go.",
        request=None,
        responses={200: shapes.GroupDeleteOutput, **error_responses(403, 404, conflict=CONFLICT_WORDING)},
    )
    def destroy(self, request, pk=None):
        group = self.get_object()
        removed = services.group_delete(church=self.church, group=group, acting_user=acting_user(request))
        return Response({"deleted": True, "members_removed": removed})

    @extend_schema(
        methods=["GET"],
        summary="Members of the group",
        parameters=[shapes.MemberSortFilter],
        responses={200: shapes.MemberOutput(many=True), **error_responses(400, 404, conflict=CONFLICT_WORDING)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Add members to the group (staff). Other churches' ids are ignored and reported.",
        request=shapes.GroupMembersInput,
        responses={200: shapes.GroupMembersAddOutput, **error_responses(400, 403, 404, conflict=CONFLICT_WORDING)},
    )
    @extend_schema(
        methods=["DELETE"],
        summary="Remove members from the group (staff); body as for POST. Same as POST members/remove.",
        request=shapes.GroupMembersInput,
        responses={200: shapes.GroupMembersRemoveOutput, **error_responses(400, 403, 404, conflict=CONFLICT_WORDING)},
    )
    @action(
        detail=True,
        methods=["get", "post", "delete"],
        roles={"SAFE": Role.VIEWER, "UNSAFE": Role.STAFF},
        pagination_class=MemberCursorPagination,
    )
    def members(self, request, pk=None):
        group = self.get_object()
        if request.method == "POST":
            return self._add_members(request, group)
        if request.method == "DELETE":
            return self._remove_members(request, group)
        self.member_sort = validated_input(shapes.MemberSortFilter, request.query_params)["sort"]
        return self.member_page_response(selectors.member_search(church=self.church, group_id=group.pk))

    @extend_schema(
        summary="Remove members from the group (staff)",
        request=shapes.GroupMembersInput,
        responses={200: shapes.GroupMembersRemoveOutput, **error_responses(400, 403, 404, conflict=CONFLICT_WORDING)},
    )
    @action(detail=True, methods=["post"], url_path="members/remove", roles={"UNSAFE": Role.STAFF})
    def members_remove(self, request, pk=None):
        return self._remove_members(request, self.get_object())

    def _add_members(self, request, group):
        requested = set(validated_input(shapes.GroupMembersInput, request.data)["member_ids"])
        known = selectors.directory_ids_in_church(church=self.church, model=Member, ids=requested)
        added = services.group_members_add(
            church=self.church, group=group, member_ids=known, acting_user=acting_user(request)
        )
        return Response(
            {"added": added, "already_members": len(known) - added, "unknown_member_ids": sorted(requested - known)}
        )

    def _remove_members(self, request, group):
        requested = set(validated_input(shapes.GroupMembersInput, request.data)["member_ids"])
        removed = services.group_members_remove(
            church=self.church, group=group, member_ids=requested, acting_user=acting_user(request)
        )
        return Response({"removed": removed, "not_in_group": len(requested) - removed})


@extend_schema_view(
    retrieve=extend_schema(
        summary="One member", responses={200: shapes.MemberOutput, **error_responses(404, conflict=CONFLICT_WORDING)}
    ),
)
class MemberViewSet(MemberPageMixin, DirectoryViewSet):
    """Members: phones in E.164, consent through the ledger. Viewers read, staff add and edit, admins delete."""

    model = Member
    serializer_class = shapes.MemberOutput
    pagination_class = MemberCursorPagination
    member_filters: dict = {}

    def church_queryset(self):
        if not self.member_filters:
            return super().church_queryset()
        return selectors.member_search(church=self.church, **self.member_filters)

    @extend_schema(
        summary="Members, filtered and sorted",
        parameters=[shapes.MemberListFilters],
        responses={200: shapes.MemberOutput(many=True), **error_responses(400, conflict=CONFLICT_WORDING)},
    )
    def list(self, request):
        filters = dict(validated_input(shapes.MemberListFilters, request.query_params))
        self.member_sort = filters.pop("sort")
        self._check_directory_filters(filters)
        self.member_filters = {**filters, "sort": self.member_sort}
        return self.member_page_response(self.get_queryset())

    def _check_directory_filters(self, filters: dict) -> None:
        unknown = {}
        for key, model, message in (("branch_id", Branch, "Unknown branch."), ("group_id", Group, "Unknown group.")):
            if key in filters and not selectors.directory_ids_in_church(
                church=self.church, model=model, ids=[filters[key]]
            ):
                unknown[key] = [message]
        if unknown:
            raise serializers.ValidationError(unknown)

    @extend_schema(
        summary="Every member matching the filters, as CSV (staff), streamed",
        description="The columns of the members page's export: First Name, Last Name, Mobile, Email, Branch, "
        "Groups, SMS Status, Time Zone, Added. Filters as for the list. The file is streamed as it is read, "
        "so it starts at once whatever the church's size. Recorded in the audit log.",
        parameters=[shapes.MemberExportFilters],
        responses={(200, "text/csv"): OpenApiTypes.STR, **error_responses(400, 403, conflict=CONFLICT_WORDING)},
    )
    @action(
        detail=False,
        methods=["get"],
        roles={"SAFE": Role.STAFF},  # the whole phone book, as on the page
        required_scopes={"SAFE": "members:read"},
        content_negotiation_class=JSONErrorsNegotiation,
    )
    def export(self, request):
        filters = dict(validated_input(shapes.MemberExportFilters, request.query_params))
        filters.pop("format")
        self._check_directory_filters(filters)
        filters.setdefault("q", "")
        services.audit_record(
            church=self.church,
            actor=acting_user(request),
            api_key=getattr(request, "api_key", None),
            action="members.exported",
            data={key: value for key, value in filters.items() if value and key != "q"},
        )
        response = StreamingHttpResponse(
            member_export.member_export_lines(church=self.church, filters=filters),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="{self.church.slug}-members.csv"'
        return response

    def retrieve(self, request, pk=None):
        return self.member_response(self.get_object())

    @extend_schema(
        summary="Add a member (staff)",
        request=shapes.MemberCreateInput,
        responses={201: shapes.MemberOutput, **error_responses(402, 400, 403, 409, conflict=CONFLICT_WORDING)},
    )
    @idempotent
    def create(self, request):
        data = dict(validated_input(shapes.MemberCreateInput, request.data))
        api_key = getattr(request, "api_key", None)
        member = services.member_create(
            church=self.church,
            acting_user=acting_user(request),
            branch=data.pop("branch_id", None),
            timezone_name=data.pop("timezone", ""),
            source=ConsentEvent.Source.API,
            api_key=api_key,
            **data,
        )
        return self.member_response(member, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Edit a member (staff; only the fields sent change; group_ids replaces the member's groups)",
        request=shapes.MemberUpdateInput(partial=True),
        responses={200: shapes.MemberOutput, **error_responses(400, 403, 404, 409, conflict=CONFLICT_WORDING)},
    )
    def partial_update(self, request, pk=None):
        member = self.get_object()
        data = dict(validated_input(shapes.MemberUpdateInput, request.data, partial=True))
        if "branch_id" in data:
            data["branch"] = data.pop("branch_id")
        services.member_update(church=self.church, member=member, acting_user=acting_user(request), **data)
        return self.member_response(member)

    @extend_schema(
        summary="Delete a member (admins), with their memberships and consent history",
        request=None,
        responses={204: None, **error_responses(403, 404, conflict=CONFLICT_WORDING)},
    )
    def destroy(self, request, pk=None):
        member = self.get_object()
        services.member_delete_many(church=self.church, member_ids=[member.pk], acting_user=acting_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Create or update up to 1000 members, matched by phone (staff)",
        description="Each row is created, updated, left unchanged or rejected (with reasons) on its own; one bad "
        "row does not fail the batch. Keys a row leaves out are left alone; group_ids are added, never removed. "
        "With consent, new and never-consented members become subscribed; opted-out members never are.",
        request=shapes.MemberBulkSchemaInput,
        responses={200: shapes.MemberBulkOutput, **error_responses(402, 400, 403, 409, conflict=CONFLICT_WORDING)},
    )
    @action(detail=False, methods=["post"])
    @idempotent
    def bulk(self, request):
        envelope = validated_input(shapes.MemberBulkInput, request.data)
        row_results: list[dict | None] = []
        valid_rows, positions = [], []
        for index, raw in enumerate(envelope["members"]):
            row = shapes.MemberBulkRowInput(data=raw)
            if row.is_valid():
                row_results.append(None)
                valid_rows.append(row.validated_data)
                positions.append(index)
            else:
                row_results.append({"status": "rejected", "id": None, "errors": row.errors, "note": ""})
        api_key = getattr(request, "api_key", None)
        outcomes = services.member_bulk_upsert(
            church=self.church,
            acting_user=acting_user(request),
            rows=valid_rows,
            consent=envelope["consent"],
            source=ConsentEvent.Source.API,
            api_key=api_key,
        )
        for index, outcome in zip(positions, outcomes, strict=True):
            row_results[index] = {
                "status": outcome.status,
                "id": outcome.member_id,
                "errors": outcome.errors,
                "note": outcome.note,
            }
        results = [{"index": i, **r} for i, r in enumerate(row_results)]
        counts = {key: sum(r["status"] == key for r in results) for key in ("created", "updated", "unchanged")}
        counts["rejected"] = sum(r["status"] == "rejected" for r in results)
        return Response({**counts, "results": results})

    @extend_schema(
        methods=["GET"],
        summary="The member's consent history, newest first",
        responses={200: shapes.ConsentOutput(many=True), **error_responses(404, conflict=CONFLICT_WORDING)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Record an opt-in or opt-out (staff)",
        description="An opted-out member can only be re-subscribed by their own action (source web_form); "
        "otherwise the answer is 409 opted_out.",
        request=shapes.ConsentInput,
        responses={201: shapes.ConsentRecordedOutput, **error_responses(400, 403, 404, 409, conflict=CONFLICT_WORDING)},
    )
    @action(detail=True, methods=["get", "post"], pagination_class=CreatedCursorPagination)
    @idempotent
    def consent(self, request, pk=None):
        member = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(selectors.consent_history(church=self.church, member=member))
            return self.get_paginated_response(shapes.ConsentOutput(page, many=True).data)
        data = validated_input(shapes.ConsentInput, request.data)
        event = services.consent_record(
            church=self.church,
            member=member,
            kind=data["kind"],
            source=data["source"],
            raw_text=data.get("evidence", "").strip(),
            actor=acting_user(request),
            api_key=getattr(request, "api_key", None),
        )
        return Response(
            {"event": shapes.ConsentOutput(event).data, "sms_status": member.sms_status}, status=status.HTTP_201_CREATED
        )


class _Echo:
    def write(self, value):
        return value


@extend_schema_view(
    list=extend_schema(summary="Recent CSV imports (staff)", responses=shapes.ImportJobOutput),
    retrieve=extend_schema(
        summary="An import's status, progress and counts (poll it)",
        responses={200: shapes.ImportJobOutput, **error_responses(403, 404, conflict=CONFLICT_WORDING)},
    ),
)
class MemberImportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ChurchViewSet):
    """CSV imports of members: upload, then poll the job. The same engine as the import page."""

    model = ImportJob
    serializer_class = shapes.ImportJobOutput
    roles = {"SAFE": Role.STAFF, "UNSAFE": Role.STAFF}  # the file holds members' details
    required_scopes = DIRECTORY_SCOPES
    lookup_value_regex = "[0-9]+"
    parser_classes = [MultiPartParser, FormParser]  # a file upload

    def church_queryset(self):
        return ImportJob.objects.defer("content")  # the file's text can be megabytes; polls don't need it

    @extend_schema(
        summary="Upload a CSV of members and start importing it (staff)",
        description="Answers 202 with the job at once; poll GET members/import/{id} until status is done or "
        "failed. Members are matched by phone: existing ones are updated, new ones created subscribed with the "
        "consent statement; opted-out members stay opted out. Rejected rows are listed in report_url.",
        request={"multipart/form-data": shapes.ImportInput},
        responses={202: shapes.ImportJobOutput, **error_responses(402, 400, 403, conflict=CONFLICT_WORDING)},
    )
    @idempotent
    def create(self, request):
        data = validated_input(shapes.ImportInput, request.data)
        extras = {}
        for key, model, message in (("group_id", Group, "Unknown group."), ("branch_id", Branch, "Unknown branch.")):
            if key in data:
                extras[key[:-3]] = selectors.directory_object(church=self.church, model=model, pk=data[key])
                if extras[key[:-3]] is None:
                    raise serializers.ValidationError({key: [message]})
        upload = data["file"]
        imports.check_upload_size(upload.size)  # before reading a byte of it
        # Upload and start together: a refused mapping or consent leaves no half-made job behind.
        with transaction.atomic():
            job = imports.member_import_upload(
                church=self.church, acting_user=acting_user(request), file_name=upload.name, data=upload.read()
            )
            job = imports.member_import_start(
                church=self.church,
                job=job,
                acting_user=acting_user(request),
                mapping=data.get("mapping", job.mapping),
                consent_text=data["consent"],
                **extras,
            )
        return Response(shapes.ImportJobOutput(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="The rejected rows of an import as CSV, with row numbers and reasons",
        responses={(200, "text/csv"): OpenApiTypes.STR, **error_responses(403, 404, conflict=CONFLICT_WORDING)},
    )
    @action(detail=True, methods=["get"])
    def report(self, request, pk=None):
        job = self.get_object()
        writer = csv.writer(_Echo())
        response = StreamingHttpResponse(
            (writer.writerow(row) for row in imports.member_import_report_rows(job=job)),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-rejected-rows.csv"'
        return response
