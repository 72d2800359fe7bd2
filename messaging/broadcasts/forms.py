"""Forms for the compose and template pages. They validate what was typed; ``messaging.broadcasts.services``
applies the business rules (and its refusals are shown on the field they concern)."""

import zoneinfo

from django import forms
from django.utils import timezone

from churches.models import Church
from messaging.broadcasts import selectors

# Where a service refusal (BusinessRuleError.field) is shown on the compose form.
SERVICE_FIELD_TO_FORM = {"body": "body", "audience": "audience_kind", "scheduled_at": "scheduled_for"}
LOCAL_INPUT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


class ChurchLocalDateTimeField(forms.DateTimeField):
    """A ``datetime-local`` input read (and shown) in the church's time zone, not the server's.
    Times that don't exist or happen twice when clocks change are refused by Django with a message."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def __init__(self, *args, tz: zoneinfo.ZoneInfo | None = None, **kwargs):
        kwargs.setdefault("input_formats", LOCAL_INPUT_FORMATS)
        super().__init__(*args, **kwargs)
        self.tz = tz or zoneinfo.ZoneInfo("UTC")

    def to_python(self, value):
        with timezone.override(self.tz):
            return super().to_python(value)

    def prepare_value(self, value):
        with timezone.override(self.tz):
            return super().prepare_value(value)


class IdListField(forms.Field):
    """Ids posted as repeated inputs (``member_ids=3&member_ids=9``): the compose page's member picker."""

    widget = forms.MultipleHiddenInput
    hidden_widget = forms.MultipleHiddenInput

    def to_python(self, value):
        if not value:
            return []
        if not isinstance(value, list | tuple):
            value = [value]
        try:
            return sorted({int(item) for item in value})
        except (TypeError, ValueError):
            raise forms.ValidationError("Pick members from the list.", code="invalid") from None


class ComposeForm(forms.Form):
    AUDIENCE_CHOICES = [("all", "Everyone subscribed"), ("some", "Chosen branches, groups or members")]
    WHEN_CHOICES = [("now", "Send now"), ("later", "Schedule for later")]

    body = forms.CharField(
        label="Message",
        required=False,  # the service explains an empty or too-long body
        strip=False,
        widget=forms.Textarea(attrs={"rows": 6, "data-compose-body": "", "aria-describedby": "compose-preview"}),
        help_text="Merge fields fill in per person: {first_name}, {last_name}, {church_name}.",
    )
    audience_kind = forms.ChoiceField(
        label="Send to", choices=AUDIENCE_CHOICES, initial="all", widget=forms.RadioSelect
    )
    branch_ids = forms.TypedMultipleChoiceField(
        label="Branches", coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    group_ids = forms.TypedMultipleChoiceField(
        label="Groups", coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    member_ids = IdListField(label="Members", required=False)
    member_q = forms.CharField(label="Find members", required=False, max_length=100)
    when = forms.ChoiceField(label="When", choices=WHEN_CHOICES, initial="now", widget=forms.RadioSelect)
    scheduled_for = ChurchLocalDateTimeField(label="Date and time", required=False)
    idempotency_key = forms.CharField(required=False, max_length=128, widget=forms.HiddenInput)

    def __init__(self, *args, church: Church, **kwargs):
        super().__init__(*args, **kwargs)
        self.church = church
        self.fields["branch_ids"].choices = selectors.branch_choices(church=church)
        self.fields["group_ids"].choices = selectors.group_choices(church=church)
        self.fields["scheduled_for"].tz = church.tzinfo
        self.fields["scheduled_for"].help_text = f"In your church's time zone ({church.timezone})."

    def clean(self):
        data = super().clean()
        if data.get("when") == "later" and not data.get("scheduled_for") and "scheduled_for" not in self.errors:
            self.add_error("scheduled_for", "Pick the date and time to send it.")
        if data.get("when") == "now":
            data["scheduled_for"] = None
        if data.get("audience_kind") == "some" and not any(
            data.get(key) for key in ("branch_ids", "group_ids", "member_ids")
        ):
            self.add_error("audience_kind", "Pick at least one branch, group or member — or send to everyone.")
        return data

    @property
    def audience(self) -> dict:
        data = self.cleaned_data
        if data.get("audience_kind") == "all":
            return {"all": True}
        return {key: data[key] for key in ("branch_ids", "group_ids", "member_ids") if data.get(key)}


class TemplateForm(forms.Form):
    name = forms.CharField(max_length=120)
    body = forms.CharField(
        label="Message",
        strip=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Merge fields: {first_name}, {last_name}, {church_name}.",
    )
