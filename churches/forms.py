import zoneinfo

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from churches.models import MEMBER_LANGUAGES, TIMEZONE_CHOICES, ApiKey, Church, Role, User
from koinonia.api import scopes as api_scopes

US_TIMEZONES = [
    ("America/New_York", "Eastern (New York)"),
    ("America/Chicago", "Central (Chicago)"),
    ("America/Denver", "Mountain (Denver)"),
    ("America/Phoenix", "Arizona (Phoenix)"),
    ("America/Los_Angeles", "Pacific (Los Angeles)"),
    ("America/Anchorage", "Alaska (Anchorage)"),
    ("Pacific/Honolulu", "Hawaii (Honolulu)"),
]
TIMEZONE_FORM_CHOICES = [("Common (US)", US_TIMEZONES), ("All time zones", TIMEZONE_CHOICES)]


class SignupForm(forms.Form):
    church_name = forms.CharField(max_length=200, label="Church name")
    timezone = forms.ChoiceField(choices=TIMEZONE_FORM_CHOICES, initial="America/New_York", label="Time zone")
    owner_name = forms.CharField(max_length=150, label="Your name")
    email = forms.EmailField(label="Your email")
    password = forms.CharField(
        widget=forms.PasswordInput, strip=False, help_text="At least 10 characters; not a common password."
    )

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email already exists. Sign in instead.")
        return email

    def clean_timezone(self):
        value = self.cleaned_data["timezone"]
        if value not in zoneinfo.available_timezones():
            raise forms.ValidationError("Choose a time zone from the list.")
        return value

    def clean(self):
        cleaned = super().clean()
        password = cleaned.get("password")
        if password:
            probe = User(email=cleaned.get("email", ""), name=cleaned.get("owner_name", ""))
            try:
                password_validation.validate_password(password, probe)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return cleaned


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(label="Email", widget=forms.EmailInput(attrs={"autofocus": True}))


class AcceptInvitationSignupForm(forms.Form):
    name = forms.CharField(max_length=150, label="Your name")
    password = forms.CharField(widget=forms.PasswordInput, strip=False)

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean_password(self):
        password = self.cleaned_data["password"]
        password_validation.validate_password(password, User(email=self.email, name=self.data.get("name", "")))
        return password


class InviteForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices, initial=Role.STAFF)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Where the key is used, e.g. “Planning Center sync”.")
    role = forms.ChoiceField(choices=ApiKey._meta.get_field("role").choices, initial=Role.ADMIN)
    scopes = forms.MultipleChoiceField(
        choices=[(name, f"{name} — {scope.description}") for name, scope in api_scopes.SCOPES.items()],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Tick only what the integration needs. None ticked: everything the role allows.",
    )
    expires_on = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The key works through this day (the church's time zone). Empty: no expiry.",
    )


ROTATION_OVERLAPS = [(0, "Stop the old key now"), (1, "1 hour"), (24, "24 hours"), (168, "7 days")]


class ApiKeyRotateForm(forms.Form):
    overlap_hours = forms.TypedChoiceField(
        label="Old key keeps working for", choices=ROTATION_OVERLAPS, coerce=int, initial=24
    )


class ChurchSettingsForm(forms.ModelForm):
    timezone = forms.ChoiceField(choices=TIMEZONE_FORM_CHOICES)

    class Meta:
        model = Church
        fields = [
            "name",
            "timezone",
            "contact_email",
            "contact_phone",
            "quiet_hours_start",
            "quiet_hours_end",
            "welcome_text",
            "help_text",
            "after_hours_reply",
            "welcome_text_es",
            "help_text_es",
            "after_hours_reply_es",
        ]
        widgets = {
            "quiet_hours_start": forms.TimeInput(attrs={"type": "time"}),
            "quiet_hours_end": forms.TimeInput(attrs={"type": "time"}),
            "welcome_text": forms.Textarea(attrs={"rows": 3}),
            "help_text": forms.Textarea(attrs={"rows": 3}),
            "after_hours_reply": forms.Textarea(attrs={"rows": 3}),
            "welcome_text_es": forms.Textarea(attrs={"rows": 3}),
            "help_text_es": forms.Textarea(attrs={"rows": 3}),
            "after_hours_reply_es": forms.Textarea(attrs={"rows": 3}),
        }


class SendSafetyForm(forms.Form):
    """Owners only: which broadcasts by staff wait for an admin's approval."""

    approval_for_everyone = forms.BooleanField(label=_("Sends to everyone need an admin's approval"), required=False)
    approval_over = forms.IntegerField(
        label=_("Sends to more than this many people need an admin's approval"),
        required=False,
        min_value=1,
        max_value=10_000_000,
        help_text=_("Leave empty for no size limit. Sends by owners and admins never wait."),
    )


# --- Directory ------------------------------------------------------------------------------------


def _choices(pairs, blank: str | None = None):
    return ([("", blank)] if blank is not None else []) + [(str(pk), name) for pk, name in pairs]


class MemberFilterForm(forms.Form):
    """The member list's search box, filters and sort; invalid values are simply ignored."""

    SORTS = [("name", "Name A–Z"), ("-name", "Name Z–A"), ("-created", "Newest first"), ("created", "Oldest first")]

    q = forms.CharField(required=False, max_length=100, label="Search")
    branch = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    group = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    status = forms.ChoiceField(required=False, label="SMS status")
    sort = forms.ChoiceField(required=False, choices=SORTS)

    def __init__(self, *args, branches, groups, **kwargs):
        super().__init__(*args, **kwargs)
        from churches.models import SmsStatus

        self.fields["q"].widget.attrs.update(placeholder="Name, phone or email", type="search")
        self.fields["branch"].choices = _choices(branches, "All branches")
        self.fields["group"].choices = _choices(groups, "All groups")
        self.fields["status"].choices = [("", "Any status"), *SmsStatus.choices]

    def filters(self) -> dict:
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "q": data.get("q") or "",
            "branch_id": data.get("branch"),
            "group_id": data.get("group"),
            "sms_status": data.get("status") or None,
            "sort": data.get("sort") or "name",
        }


class MemberForm(forms.Form):
    first_name = forms.CharField(max_length=100, required=False)
    last_name = forms.CharField(max_length=100, required=False)
    phone = forms.CharField(max_length=40, label="Mobile phone", help_text="Any common format, e.g. (312) 555-0123.")
    email = forms.EmailField(required=False)
    branch = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    groups = forms.TypedMultipleChoiceField(required=False, coerce=int, widget=forms.CheckboxSelectMultiple)
    timezone = forms.ChoiceField(required=False, help_text="Leave blank to use the phone number's area code.")
    language = forms.ChoiceField(
        required=False,
        choices=[("", "Not known yet"), *MEMBER_LANGUAGES],
        help_text="The language of automatic texts (opt-out confirmation, HELP, welcome, after-hours).",
    )

    def __init__(self, *args, branches, groups, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["branch"].choices = _choices(branches, "No branch")
        self.fields["groups"].choices = _choices(groups)
        self.fields["timezone"].choices = [("", "From the area code"), *TIMEZONE_FORM_CHOICES]


class MemberCreateForm(MemberForm):
    consent = forms.CharField(
        required=False,
        max_length=2000,
        label="How did they agree to receive texts?",
        help_text="E.g. “Signed the connect card on May 4”. Leave blank if they haven't yet: "
        "they are added as “No consent yet” and won't be texted.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class ConsentForm(forms.Form):
    kind = forms.ChoiceField(choices=[("opt_in", "Opted in"), ("opt_out", "Opted out")])
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") == "opt_in" and not (cleaned.get("note") or "").strip():
            self.add_error("note", "Say how they agreed to receive texts, e.g. “Asked in person on Sunday”.")
        return cleaned


class BulkMemberForm(forms.Form):
    ACTIONS = [
        ("add_to_group", "Add to group"),
        ("remove_from_group", "Remove from group"),
        ("delete", "Delete members"),
    ]
    action = forms.ChoiceField(choices=ACTIONS)
    group = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    member_ids = forms.TypedMultipleChoiceField(coerce=int, error_messages={"required": "Tick at least one member."})

    def __init__(self, *args, groups, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["group"].choices = _choices(groups, "Choose a group")
        # Ids are checked against the church by the services; here they only need to be integers.
        self.fields["member_ids"].valid_value = lambda value: str(value).isdigit()

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") in ("add_to_group", "remove_from_group") and not cleaned.get("group"):
            self.add_error("group", "Choose a group.")
        return cleaned


class BranchForm(forms.Form):
    name = forms.CharField(max_length=120)
    address = forms.CharField(max_length=255, required=False)


class GroupForm(forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    branch = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    keyword = forms.CharField(
        max_length=30, required=False, help_text="Optional: members text this word (like YOUTH) to join."
    )

    def __init__(self, *args, branches, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["branch"].choices = _choices(branches, "Whole church")


class ImportUploadForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="Saved as “CSV UTF-8”, with a header row.")


class ImportStartForm(forms.Form):
    """Column mapping (one select per column of the file), consent statement and defaults."""

    consent_text = forms.CharField(
        max_length=2000,
        label="How did these people agree to receive texts?",
        help_text="Required. E.g. “Connect card sign-up, 2025”. It is recorded for each member you import.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    group = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Also add everyone to")
    branch = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Branch for rows without one")

    def __init__(self, *args, header, mapping, branches, groups, field_choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["group"].choices = _choices(groups, "No group")
        self.fields["branch"].choices = _choices(branches, "No branch")
        by_column = {column: member_field for member_field, column in mapping.items()}
        self.column_fields = []
        for index, title in enumerate(header):
            name = f"column_{index}"
            self.fields[name] = forms.ChoiceField(
                required=False,
                choices=[("", "Don't import"), *field_choices],
                initial=by_column.get(index, ""),
                label=title or f"Column {index + 1}",
            )
            self.column_fields.append(self[name])

    def mapping(self) -> dict[str, int]:
        chosen: dict[str, int] = {}
        for name, value in self.cleaned_data.items():
            if name.startswith("column_") and value:
                if value in chosen:
                    raise forms.ValidationError(f"Two columns are set to “{dict(self.field_choices)[value]}”.")
                chosen[value] = int(name.removeprefix("column_"))
        return chosen

    @property
    def field_choices(self):
        return self.fields["column_0"].choices[1:] if "column_0" in self.fields else []
