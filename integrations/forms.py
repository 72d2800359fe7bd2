from django import forms

from koinonia import events

EVENT_CHOICES = [("*", "Every event (including types added later)")] + [
    (name, f"{name} — {meaning}") for name, meaning in events.EVENT_TYPES.items()
]


class WebhookEndpointForm(forms.Form):
    url = forms.CharField(
        max_length=2000, label="URL", help_text="Where we POST the events, e.g. https://example.org/hooks/koinonia."
    )
    description = forms.CharField(max_length=500, required=False, help_text="What receives them (for your team).")
    events = forms.MultipleChoiceField(choices=EVENT_CHOICES, widget=forms.CheckboxSelectMultiple)
    enabled = forms.BooleanField(required=False, initial=True, help_text="Untick to pause deliveries.")
