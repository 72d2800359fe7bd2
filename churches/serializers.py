"""Input and output shapes of the directory API (branches, groups, members, consent). Serializers only
validate and render: writes go through ``churches.services``."""

from rest_framework import serializers

from churches.models import Branch, ConsentEvent, Group, Member, SmsStatus, validate_timezone
from churches.selectors import MEMBER_SORTS
from churches.services import BULK_UPSERT_MAX_ROWS

# --- Branches -------------------------------------------------------------------------------------


class BranchOutput(serializers.ModelSerializer):
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Branch
        fields = ["id", "name", "address", "timezone", "member_count", "created_at"]


class BranchInput(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    address = serializers.CharField(max_length=255, required=False, allow_blank=True)
    timezone = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        validators=[validate_timezone],
        help_text="IANA time zone when the branch's differs from the church's, e.g. America/Denver.",
    )


class BranchDeleteOutput(serializers.Serializer):
    deleted = serializers.BooleanField()
    members_unassigned = serializers.IntegerField(help_text="Members of the branch, kept without a branch.")
    groups_unassigned = serializers.IntegerField(help_text="Groups of the branch, kept without a branch.")


# --- Groups ---------------------------------------------------------------------------------------


class GroupOutput(serializers.ModelSerializer):
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Group
        fields = ["id", "name", "description", "branch_id", "keyword", "welcome_text", "member_count", "created_at"]


class GroupInput(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True)
    branch_id = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    keyword = serializers.CharField(
        max_length=30, required=False, allow_blank=True, help_text="One word members text to join, e.g. YOUTH."
    )
    welcome_text = serializers.CharField(
        required=False, allow_blank=True, help_text="Sent to a member who joins by texting the keyword."
    )


class GroupDeleteOutput(serializers.Serializer):
    deleted = serializers.BooleanField()
    members_removed = serializers.IntegerField(help_text="Memberships removed; the members themselves stay.")


class GroupMembersInput(serializers.Serializer):
    member_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=BULK_UPSERT_MAX_ROWS
    )


class GroupMembersAddOutput(serializers.Serializer):
    added = serializers.IntegerField()
    already_members = serializers.IntegerField()
    unknown_member_ids = serializers.ListField(
        child=serializers.IntegerField(), help_text="Ids that are not members of this church: ignored."
    )


class GroupMembersRemoveOutput(serializers.Serializer):
    removed = serializers.IntegerField()
    not_in_group = serializers.IntegerField(help_text="Requested ids that were not in the group (or unknown).")


# --- Members --------------------------------------------------------------------------------------


class MemberOutput(serializers.ModelSerializer):
    """``group_ids`` come from the view's ``context["group_ids"]`` (one query per page, no N+1)."""

    phone = serializers.CharField(help_text="E.164, e.g. +13125550123.")
    group_ids = serializers.SerializerMethodField()

    class Meta:
        model = Member
        fields = [
            "id",
            "first_name",
            "last_name",
            "phone",
            "email",
            "branch_id",
            "group_ids",
            "sms_status",
            "timezone",
            "language",
            "created_at",
            "updated_at",
        ]

    def get_group_ids(self, member) -> list[int]:
        return self.context["group_ids"].get(member.pk, [])


class MemberSortFilter(serializers.Serializer):
    sort = serializers.ChoiceField(
        choices=list(MEMBER_SORTS),
        required=False,
        default="-created",
        help_text="name / -name: by last then first name; created / -created: by when added (default newest).",
    )


class MemberListFilters(MemberSortFilter):
    q = serializers.CharField(required=False, allow_blank=True, help_text="Name, email, or a full phone number.")
    branch_id = serializers.IntegerField(required=False, min_value=1)
    group_id = serializers.IntegerField(required=False, min_value=1)
    sms_status = serializers.ChoiceField(choices=SmsStatus.choices, required=False)


class MemberExportFilters(MemberListFilters):
    sort = serializers.ChoiceField(
        choices=list(MEMBER_SORTS), required=False, default="name", help_text="As for the list; default by name."
    )
    format = serializers.ChoiceField(choices=["csv"], default="csv", help_text="csv (the only format).")


def _timezone_field():
    return serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        validators=[validate_timezone],
        help_text="IANA time zone; blank: from the phone's area code.",
    )


class MemberFieldsInput(serializers.Serializer):
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, help_text="Any common format; stored as E.164.")
    email = serializers.EmailField(required=False, allow_blank=True)
    branch_id = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    group_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=500)
    timezone = _timezone_field()
    language = serializers.CharField(
        max_length=20,
        required=False,
        allow_blank=True,
        help_text="en or es: the language of the system texts they get (opt-out confirmation, HELP, "
        "after-hours reply, welcome). Blank: not known yet (set when they text in Spanish).",
    )


class MemberCreateInput(MemberFieldsInput):
    consent = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="How the church obtained permission to text this person (e.g. “Signed the connect card on "
        "2024-05-05”). With it the member starts subscribed and the consent ledger records it; without it, "
        "never_consented.",
    )


class MemberUpdateInput(MemberFieldsInput):
    """PATCH: only the fields sent change. ``group_ids`` replaces the member's groups. ``sms_status`` is
    not editable: consent changes go through ``members/{id}/consent``."""

    sms_status = serializers.CharField(required=False, write_only=True, help_text="Not accepted; see consent.")

    def validate_sms_status(self, value):
        raise serializers.ValidationError("sms_status changes only with consent: POST members/{id}/consent.")


class MemberBulkRowInput(MemberFieldsInput):
    """One row of a bulk upsert: matched by phone; keys left out are left alone; group_ids are added."""


class MemberBulkInput(serializers.Serializer):
    """Used for validation of the envelope only; each row is validated on its own, so one bad row is
    rejected in the answer instead of failing the batch."""

    members = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=BULK_UPSERT_MAX_ROWS)
    consent = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class MemberBulkSchemaInput(serializers.Serializer):
    members = MemberBulkRowInput(many=True, help_text=f"1 to {BULK_UPSERT_MAX_ROWS} members.")
    consent = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="How consent was obtained. New and never-consented members become subscribed; opted-out "
        "members are never re-subscribed.",
    )


class MemberBulkRowOutput(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the row in the request, from 0.")
    status = serializers.ChoiceField(choices=["created", "updated", "unchanged", "rejected"])
    id = serializers.IntegerField(allow_null=True, help_text="The member's id (null when rejected).")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), help_text="Why the row was rejected."
    )
    note = serializers.CharField(help_text="Anything worth knowing, e.g. an opted-out member was not re-subscribed.")


class MemberBulkOutput(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = MemberBulkRowOutput(many=True)


# --- Consent --------------------------------------------------------------------------------------

API_CONSENT_SOURCES = [ConsentEvent.Source.API, ConsentEvent.Source.WEB_FORM]


class ConsentOutput(serializers.ModelSerializer):
    evidence = serializers.CharField(source="raw_text")
    recorded_by = serializers.SerializerMethodField()

    class Meta:
        model = ConsentEvent
        fields = ["id", "kind", "source", "evidence", "recorded_by", "created_at"]

    def get_recorded_by(self, event) -> str | None:
        if event.actor_id:
            return event.actor.name or event.actor.email
        if event.api_key_id:
            return f"API key “{event.api_key.name}”"
        return None


class ConsentInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[ConsentEvent.Kind.OPT_IN, ConsentEvent.Kind.OPT_OUT])
    source = serializers.ChoiceField(
        choices=API_CONSENT_SOURCES,
        default=ConsentEvent.Source.API,
        help_text="web_form: the member filled in a form themselves (may re-subscribe an opted-out member); "
        "api: the church attests consent obtained otherwise (may not re-subscribe an opted-out member).",
    )
    evidence = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="How consent was obtained or withdrawn (form URL and time, the member's words...). "
        "Required for opt_in.",
    )

    def validate(self, attrs):
        if attrs["kind"] == ConsentEvent.Kind.OPT_IN and not attrs.get("evidence", "").strip():
            raise serializers.ValidationError({"evidence": ["Say how the member gave consent."]})
        return attrs


class ConsentRecordedOutput(serializers.Serializer):
    event = ConsentOutput()
    sms_status = serializers.ChoiceField(choices=SmsStatus.choices)


# --- CSV import -----------------------------------------------------------------------------------


class ImportInput(serializers.Serializer):
    file = serializers.FileField(help_text="A CSV file (UTF-8) with a header row.")
    consent = serializers.CharField(
        max_length=2000, help_text="How these people agreed to receive texts, e.g. “Connect card sign-up”."
    )
    mapping = serializers.JSONField(
        required=False,
        help_text='Member field → column index from 0, e.g. {"phone": 2, "first_name": 0}. Fields: phone, '
        "first_name, last_name, full_name, email, groups, branch. Omitted: guessed from the header names.",
    )
    group_id = serializers.IntegerField(required=False, min_value=1, help_text="Add every imported member to it.")
    branch_id = serializers.IntegerField(required=False, min_value=1, help_text="Members without a branch column.")

    def validate_mapping(self, value):
        if not isinstance(value, dict) or not all(isinstance(k, str) and type(v) is int for k, v in value.items()):
            raise serializers.ValidationError('Give an object of field → column index, e.g. {"phone": 2}.')
        return value


class ImportJobOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["pending", "queued", "running", "done", "failed"])
    file_name = serializers.CharField()
    mapping = serializers.DictField(child=serializers.IntegerField())
    group_id = serializers.IntegerField(allow_null=True)
    branch_id = serializers.IntegerField(allow_null=True)
    total_rows = serializers.IntegerField()
    processed_rows = serializers.IntegerField()
    percent = serializers.IntegerField()
    created = serializers.IntegerField(source="created_count")
    updated = serializers.IntegerField(source="updated_count")
    unchanged = serializers.IntegerField(source="unchanged_count")
    rejected = serializers.IntegerField(source="rejected_count")
    error = serializers.CharField(source="error_message")
    report_url = serializers.SerializerMethodField(help_text="CSV of the rejected rows with reasons, once any.")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_report_url(self, job) -> str | None:
        if not job.rejected_count:
            return None
        return self.context["request"].build_absolute_uri(f"/api/v1/members/import/{job.pk}/report")
