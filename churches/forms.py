import zoneinfo

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm

from churches.models import TIMEZONE_CHOICES, ApiKey, Church, Role, User

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
        ]
        widgets = {
            "quiet_hours_start": forms.TimeInput(attrs={"type": "time"}),
            "quiet_hours_end": forms.TimeInput(attrs={"type": "time"}),
            "welcome_text": forms.Textarea(attrs={"rows": 3}),
            "help_text": forms.Textarea(attrs={"rows": 3}),
            "after_hours_reply": forms.Textarea(attrs={"rows": 3}),
        }
