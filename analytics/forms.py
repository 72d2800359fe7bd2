from django import forms

from analytics.selectors import DEFAULT_RANGE, RANGES


class RangeForm(forms.Form):
    """?days=7|30|90&branch=<id>: the page's and the API's filter (the API names it branch_id)."""

    days = forms.TypedChoiceField(
        choices=[(n, f"Last {n} days") for n in RANGES], coerce=int, required=False, empty_value=DEFAULT_RANGE
    )
    branch = forms.IntegerField(required=False, min_value=1, label="Branch")

    def clean_days(self) -> int:
        return self.cleaned_data.get("days") or DEFAULT_RANGE
