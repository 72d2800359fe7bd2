"""Forms of the Numbers settings page."""

from django import forms


class NumberSearchForm(forms.Form):
    area_code = forms.CharField(
        label="Area code",
        max_length=8,
        help_text="Three digits, like 312. We list numbers that can send and receive texts.",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )


class NumberOrderForm(forms.Form):
    phone_number = forms.CharField(max_length=20, widget=forms.HiddenInput)
