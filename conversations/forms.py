from django import forms

from conversations.models import Conversation, InboxSettings
from conversations.selectors import FILTERS

WEEKDAYS = [("0", "Mon"), ("1", "Tue"), ("2", "Wed"), ("3", "Thu"), ("4", "Fri"), ("5", "Sat"), ("6", "Sun")]


class InboxFilterForm(forms.Form):
    filter = forms.ChoiceField(choices=[(f, f) for f in FILTERS], required=False)
    q = forms.CharField(required=False, max_length=100, label="Search")


class ReplyForm(forms.Form):
    """Sends a text. Its ids start ``reply_`` and the note form's ``note_``: both have a ``body``, and
    with one shared id the "Internal note" label focused the Reply box, so a note went out as a text."""

    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Reply")
    media = forms.FileField(required=False, label="Picture", help_text="JPEG, PNG or GIF, up to 5 MB.")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "reply_%s")
        super().__init__(*args, **kwargs)


class NoteForm(forms.Form):
    """An internal note: posted to its own endpoint (NoteView), which never sends anything."""

    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="Internal note", max_length=5000)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "note_%s")
        super().__init__(*args, **kwargs)


class ConversationUpdateForm(forms.Form):
    status = forms.ChoiceField(choices=Conversation.Status.choices, required=False)
    assignee_id = forms.TypedChoiceField(coerce=int, empty_value=None, required=False, label="Assigned to")
    restricted = forms.BooleanField(required=False, label="Restricted (pastoral care)")

    def __init__(self, *args, staff=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee_id"].choices = [("", "Nobody")] + [(m.user_id, m.user.get_full_name()) for m in staff]


class CannedReplyForm(forms.Form):
    title = forms.CharField(max_length=80)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))


class InboxSettingsForm(forms.ModelForm):
    office_days = forms.MultipleChoiceField(choices=WEEKDAYS, widget=forms.CheckboxSelectMultiple, required=False)

    class Meta:
        model = InboxSettings
        fields = [
            "unknown_sender",
            "office_hours_enabled",
            "office_days",
            "office_opens",
            "office_closes",
            "welcome_new_members",
            "show_broadcasts",
        ]
        widgets = {
            "office_opens": forms.TimeInput(attrs={"type": "time"}),
            "office_closes": forms.TimeInput(attrs={"type": "time"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance and not self.is_bound:
            self.initial["office_days"] = list(self.instance.office_days)

    def clean_office_days(self):
        return "".join(sorted(self.cleaned_data["office_days"]))


class NotificationForm(forms.Form):
    email_on_inbound = forms.BooleanField(required=False, label="Email me when a new text arrives")
