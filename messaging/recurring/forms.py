"""The recurring-message form. It reads what was typed into the fields ``recurring_services`` takes;
the service applies the rules (its refusals are shown on the field they concern)."""

from django import forms

from churches.models import Church
from messaging.recurring import recurrence
from messaging.recurring import selectors as recurring_selectors
from messaging.recurring.models import RecurringMessage

# Where a service refusal (BusinessRuleError.field) is shown on the form.
SERVICE_FIELD_TO_FORM = {
    "audience": "audience_kind",
    "template_id": "template",
    "rrule": "rrule",
    "timezone": None,
    "frequency": "frequency",
    "interval": "interval",
    "weekdays": "weekdays",
    "month_day": "month_day",
    "nth_week": "nth_week",
    "nth_weekday": "nth_weekday",
    "time_of_day": "time_of_day",
    "start_date": "start_date",
    "end_date": "end_date",
    "count": "count",
    "body": "body",
}
WEEKDAY_CHOICES = [(6, "Sunday"), (0, "Monday"), (1, "Tuesday"), (2, "Wednesday"), (3, "Thursday"), (4, "Friday")]
WEEKDAY_CHOICES.append((5, "Saturday"))
NTH_CHOICES = [(1, "First"), (2, "Second"), (3, "Third"), (4, "Fourth"), (-1, "Last")]


class CalendarDateField(forms.DateField):
    """A date input; a day the month doesn't have ("2026-02-30") is named as such."""

    widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")

    def to_python(self, value):
        problem = recurrence.impossible_date_message(value) if isinstance(value, str) else None
        if problem:
            raise forms.ValidationError(problem, code="invalid")
        return super().to_python(value)


class RecurringForm(forms.Form):
    AUDIENCE_CHOICES = [("all", "Everyone subscribed"), ("some", "Chosen branches or groups")]
    MONTHLY_CHOICES = [("day", "On a day of the month"), ("weekday", "On a weekday (e.g. second Sunday)")]
    ENDS_CHOICES = [("never", "Never"), ("on", "On a date"), ("after", "After a number of times")]

    name = forms.CharField(max_length=120, required=False, help_text="For your list, e.g. “Sunday reminder”.")
    template = forms.TypedChoiceField(
        label="Template", coerce=int, required=False, empty_value=None, help_text="Sends the template's current text."
    )
    body = forms.CharField(
        label="Message",
        required=False,  # the service explains an empty or too-long text
        strip=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Or write the text. Merge fields: {first_name}, {last_name}, {church_name}.",
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
    member_ids = forms.CharField(required=False, widget=forms.HiddenInput)  # kept from API-made audiences
    frequency = forms.ChoiceField(
        label="Repeats",
        choices=[
            (value, "Custom" if value == "rrule" else label) for value, label in RecurringMessage.Frequency.choices
        ],
        initial="weekly",
        widget=forms.RadioSelect,
    )
    weekdays = forms.TypedMultipleChoiceField(
        label="On", coerce=int, choices=WEEKDAY_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
    monthly_mode = forms.ChoiceField(
        label="Monthly", choices=MONTHLY_CHOICES, initial="day", required=False, widget=forms.RadioSelect
    )
    month_day = forms.IntegerField(
        label="Day of the month", required=False, help_text="1–31; 29–31 fall on the last day of shorter months."
    )
    nth_week = forms.TypedChoiceField(label="Which", coerce=int, choices=NTH_CHOICES, required=False, empty_value=None)
    nth_weekday = forms.TypedChoiceField(
        label="Weekday", coerce=int, choices=WEEKDAY_CHOICES, required=False, empty_value=None
    )
    rrule = forms.CharField(
        label="Custom rule",
        required=False,
        max_length=500,
        help_text="For schedules the choices above can't make, in iCalendar form: FREQ=WEEKLY;BYDAY=SU,WE is "
        "“every week on Sunday and Wednesday”.",
    )
    interval = forms.IntegerField(label="Every", min_value=1, max_value=recurrence.MAX_INTERVAL, initial=1)
    time_of_day = forms.TimeField(label="Time", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    start_date = CalendarDateField(label="Starting")
    ends = forms.ChoiceField(label="Ends", choices=ENDS_CHOICES, initial="never", widget=forms.RadioSelect)
    end_date = CalendarDateField(label="End date", required=False)
    count = forms.IntegerField(label="Number of times", required=False)

    def __init__(self, *args, church: Church, **kwargs):
        super().__init__(*args, **kwargs)
        self.church = church
        self.fields["template"].choices = [("", "— none —"), *recurring_selectors.template_choices(church=church)]
        self.fields["branch_ids"].choices = recurring_selectors.branch_choices(church=church)
        self.fields["group_ids"].choices = recurring_selectors.group_choices(church=church)
        self.fields["time_of_day"].help_text = f"In your church's time zone ({church.timezone})."

    def clean_member_ids(self) -> list[int]:
        raw = self.cleaned_data.get("member_ids") or ""
        return sorted({int(part) for part in raw.split(",") if part.strip().isdigit()})

    def clean(self):
        data = super().clean()
        if data.get("frequency") == "weekly" and not data.get("weekdays") and "weekdays" not in self.errors:
            self.add_error("weekdays", "Pick at least one day of the week.")
        if data.get("ends") == "on" and not data.get("end_date") and "end_date" not in self.errors:
            self.add_error("end_date", "Pick the last day to send it.")
        if data.get("ends") == "after" and not data.get("count") and "count" not in self.errors:
            self.add_error("count", "How many times should it be sent?")
        if data.get("audience_kind") == "some" and not any(
            data.get(key) for key in ("branch_ids", "group_ids", "member_ids")
        ):
            self.add_error("audience_kind", "Pick at least one branch or group — or send to everyone.")
        return data

    def service_fields(self) -> dict:
        """What ``recurring_create`` / ``recurring_update`` take, from the cleaned form."""
        data = self.cleaned_data
        if data["audience_kind"] == "all":
            audience = {"all": True}
        else:
            audience = {key: data[key] for key in ("branch_ids", "group_ids", "member_ids") if data.get(key)}
        by_weekday = data.get("monthly_mode") == "weekday"
        return {
            "name": data.get("name") or "",
            "template_id": data.get("template"),
            "body": data.get("body") or "",
            "audience": audience,
            "frequency": data["frequency"],
            "interval": data.get("interval") or 1,
            "weekdays": data.get("weekdays") or [],
            "month_day": None if by_weekday else data.get("month_day"),
            "nth_week": data.get("nth_week") if by_weekday else None,
            "nth_weekday": data.get("nth_weekday") if by_weekday else None,
            "rrule": data.get("rrule") or "",
            "time_of_day": data["time_of_day"],
            "start_date": data["start_date"],
            "end_date": data.get("end_date") if data.get("ends") == "on" else None,
            "count": data.get("count") if data.get("ends") == "after" else None,
        }

    def schedule_fields(self) -> dict:
        fields = self.service_fields()
        return {key: fields[key] for key in fields if key not in ("name", "template_id", "body", "audience")}


def initial_from(recurring: RecurringMessage) -> dict:
    """The form's starting values for an existing schedule."""
    audience = recurring.audience or {}
    return {
        "name": recurring.name,
        "template": recurring.template_id,
        "body": "" if recurring.template_id else recurring.body,
        "audience_kind": "all" if audience.get("all") else "some",
        "branch_ids": audience.get("branch_ids", []),
        "group_ids": audience.get("group_ids", []),
        "member_ids": ",".join(str(member_id) for member_id in audience.get("member_ids", [])),
        "frequency": recurring.frequency,
        "interval": recurring.interval,
        "weekdays": recurring.weekdays,
        "monthly_mode": "weekday" if recurring.nth_week is not None else "day",
        "month_day": recurring.month_day,
        "nth_week": recurring.nth_week,
        "nth_weekday": recurring.nth_weekday,
        "rrule": recurring.rrule,
        "time_of_day": recurring.time_of_day,
        "start_date": recurring.start_date,
        "ends": "on" if recurring.end_date else "after" if recurring.count else "never",
        "end_date": recurring.end_date,
        "count": recurring.count,
    }
