"""The 10DLC wizard's two forms (the church, then its texting campaign) and the church-suited wording
they start from. Messages name the field and the fix, because a registry rejection costs days."""

import re
from urllib.parse import urlsplit

from django import forms

from messaging.numbers.models import TenDlcBrand, TenDlcCampaign

EIN_RE = re.compile(r"^\d{2}-?\d{7}$")
KEYWORD_RE = re.compile(r"^[A-Z0-9]+$")
MIN_SAMPLES, MAX_SAMPLES = 2, 5


def clean_ein(value: str) -> str:
    raw = (value or "").strip()
    if not raw:
        raise forms.ValidationError("Enter the church's EIN (9 digits, written XX-XXXXXXX).")
    if not EIN_RE.match(raw):
        digits = re.sub(r"\D", "", raw)
        raise forms.ValidationError(
            f"An EIN has exactly 9 digits, written XX-XXXXXXX (e.g. 12-3456789); this has {len(digits)}."
            if digits
            else "An EIN has exactly 9 digits, written XX-XXXXXXX (e.g. 12-3456789)."
        )
    digits = raw.replace("-", "")
    return f"{digits[:2]}-{digits[2:]}"


def clean_website(value: str) -> str:
    raw = (value or "").strip()
    if not raw:
        raise forms.ValidationError("Enter the church's website; reviewers check that it matches the church.")
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or "." not in parts.netloc:
        raise forms.ValidationError(
            "Enter the full web address, starting with https:// (e.g. https://gracechapel.org)."
        )
    return raw


class TenDlcBrandForm(forms.ModelForm):
    # A plain CharField: URLField would quietly prepend http:// to "gracechapel" and hide the mistake.
    website = forms.CharField(max_length=255, help_text="The church's public website, starting with https://")

    class Meta:
        model = TenDlcBrand
        fields = [
            "legal_name",
            "display_name",
            "ein",
            "entity_type",
            "vertical",
            "street",
            "city",
            "state",
            "postal_code",
            "website",
            "contact_first_name",
            "contact_last_name",
            "contact_email",
            "contact_phone",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Say what is missing and how to write it, not just "This field is required."
        self.fields["ein"].error_messages["required"] = "Enter the church's EIN (9 digits, written XX-XXXXXXX)."
        self.fields["website"].error_messages["required"] = (
            "Enter the church's website; reviewers check that it matches the church."
        )

    def clean_ein(self):
        return clean_ein(self.cleaned_data.get("ein", ""))

    def clean_website(self):
        return clean_website(self.cleaned_data.get("website", ""))

    def clean_state(self):
        state = self.cleaned_data.get("state", "").strip().upper()
        if not re.fullmatch(r"[A-Z]{2}", state):
            raise forms.ValidationError("Use the two-letter state code, e.g. IL.")
        return state

    def clean_postal_code(self):
        code = self.cleaned_data.get("postal_code", "").strip()
        if not re.fullmatch(r"\d{5}(-\d{4})?", code):
            raise forms.ValidationError("Enter a US ZIP code, e.g. 60601.")
        return code

    def clean_contact_phone(self):
        phone = re.sub(r"[\s().-]", "", self.cleaned_data.get("contact_phone", ""))
        if re.fullmatch(r"\d{10}", phone):
            phone = "+1" + phone
        if not re.fullmatch(r"\+[1-9]\d{6,14}", phone):
            raise forms.ValidationError("Enter a phone number with area code, e.g. +1 312 555 0100.")
        return phone


def _keywords(value: str, label: str) -> str:
    words = [w.strip().upper() for w in (value or "").split(",") if w.strip()]
    if not words:
        raise forms.ValidationError(f"Give at least one {label} keyword.")
    bad = [w for w in words if not KEYWORD_RE.match(w)]
    if bad:
        raise forms.ValidationError(f"Keywords are single words of letters and digits: {', '.join(bad)}.")
    return ",".join(words)  # the provider wants them comma-separated, no spaces


class TenDlcCampaignForm(forms.ModelForm):
    sample_1 = forms.CharField(label="Sample message 1", widget=forms.Textarea(attrs={"rows": 2}), required=False)
    sample_2 = forms.CharField(label="Sample message 2", widget=forms.Textarea(attrs={"rows": 2}), required=False)
    sample_3 = forms.CharField(
        label="Sample message 3 (optional)", widget=forms.Textarea(attrs={"rows": 2}), required=False
    )

    class Meta:
        model = TenDlcCampaign
        fields = [
            "usecase",
            "description",
            "message_flow",
            "optin_keywords",
            "optin_message",
            "optout_keywords",
            "optout_message",
            "help_keywords",
            "help_message",
        ]
        labels = {"message_flow": "How members opt in"}
        widgets = {name: forms.Textarea(attrs={"rows": 3}) for name in fields if name.endswith(("message", "flow"))}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["description"].widget.attrs["rows"] = 3
        instance = kwargs.get("instance")
        if instance is not None and not self.is_bound:
            for i, sample in enumerate(instance.sample_messages[:3], start=1):
                self.initial[f"sample_{i}"] = sample
        # Samples sit right after the description, where reviewers expect them.
        order = ["usecase", "description", "sample_1", "sample_2", "sample_3"]
        self.order_fields(order + [name for name in self.fields if name not in order])

    def clean_optin_keywords(self):
        return _keywords(self.cleaned_data.get("optin_keywords", ""), "opt-in")

    def clean_optout_keywords(self):
        words = _keywords(self.cleaned_data.get("optout_keywords", ""), "opt-out")
        if "STOP" not in words.split(","):
            raise forms.ValidationError("Opt-out keywords must include STOP.")
        return words

    def clean_help_keywords(self):
        words = _keywords(self.cleaned_data.get("help_keywords", ""), "help")
        if "HELP" not in words.split(","):
            raise forms.ValidationError("Help keywords must include HELP.")
        return words

    def clean_optin_message(self):
        return self._must_mention("optin_message", "STOP", "Tell people how to stop: include “Reply STOP to opt out”.")

    def clean_description(self):
        text = self.cleaned_data.get("description", "").strip()
        if len(text) < 40:
            raise forms.ValidationError("Describe who receives texts and why in a sentence or two (40+ characters).")
        return text

    def _must_mention(self, name: str, word: str, message: str) -> str:
        text = self.cleaned_data.get(name, "").strip()
        if word not in text.upper():
            raise forms.ValidationError(message)
        return text

    def clean(self):
        data = super().clean()
        samples = [data.get(f"sample_{i}", "").strip() for i in range(1, 4)]
        samples = [s for s in samples if s]
        if len(samples) < MIN_SAMPLES:
            self.add_error("sample_2" if samples else "sample_1", "Give at least two sample messages.")
        data["sample_messages"] = samples
        return data

    def service_fields(self) -> dict:
        fields = {name: self.cleaned_data[name] for name in self.Meta.fields}
        fields["sample_messages"] = self.cleaned_data["sample_messages"]
        return fields


# --- Church-suited starting points ------------------------------------------------------------------


def brand_initial(church) -> dict:
    return {
        "legal_name": church.name,
        "display_name": church.name,
        "entity_type": TenDlcBrand.EntityType.NON_PROFIT,
        "vertical": TenDlcBrand.Vertical.NGO,
        "contact_email": church.contact_email,
        "contact_phone": church.contact_phone,
    }


def campaign_form_initial(campaign: TenDlcCampaign) -> dict:
    """A resubmission starts from what was rejected."""
    initial = {name: getattr(campaign, name) for name in TenDlcCampaignForm.Meta.fields}
    initial.update({f"sample_{i}": sample for i, sample in enumerate(campaign.sample_messages[:3], start=1)})
    return initial


def campaign_initial(church) -> dict:
    name = church.name
    office = church.contact_email or "the church office"
    return {
        "usecase": TenDlcCampaign.UseCase.LOW_VOLUME,
        "description": (
            f"{name} texts its members and regular attenders who asked to hear from the church: service times "
            "and changes, event and volunteer reminders, prayer requests and pastoral care, and replies to "
            "members who text us."
        ),
        "sample_1": f"{name}: Sunday service is at 10am this week, with the potluck after. Reply STOP to opt out.",
        "sample_2": f"{name}: Youth group meets Wednesday at 7pm in the fellowship hall. Reply STOP to opt out.",
        "sample_3": f"{name}: Please keep the Garcia family in your prayers. Reply HELP for help, STOP to opt out.",
        "message_flow": (
            f"Members give their mobile number and tick a box agreeing to receive texts from {name} on the "
            "paper or online connection card, or text JOIN to the church's number. The form says: "
            f"“By giving your number you agree to receive texts from {name}: up to 8 a month, message and "
            "data rates may apply, reply STOP to opt out, HELP for help.”"
        ),
        "optin_keywords": "START,JOIN",
        "optin_message": (
            f"{name}: You're subscribed to church texts (up to 8/month). Msg & data rates may apply. "
            "Reply HELP for help, STOP to opt out."
        ),
        "optout_keywords": "STOP,END,CANCEL,UNSUBSCRIBE,QUIT",
        "optout_message": f"{name}: You're unsubscribed and will get no more texts. Reply START to rejoin.",
        "help_keywords": "HELP,INFO",
        "help_message": (
            f"{name}: church texts about services and events. Contact us at {office}. Reply STOP to opt out."
        ),
    }
