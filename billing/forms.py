from decimal import Decimal

from django import forms


class PlanChoiceForm(forms.Form):
    plan = forms.CharField(max_length=32)


class SpendCapForm(forms.Form):
    spend_cap = forms.DecimalField(
        label="Monthly cap on extra SMS charges ($)",
        required=False,
        min_value=Decimal("0"),
        max_value=Decimal("100000"),
        decimal_places=2,
        help_text="Sends that would take this period's charges beyond your plan past this amount are blocked. "
        "Leave empty for no cap; 0 means never go past the allowance.",
    )

    def cap_cents(self) -> int | None:
        value = self.cleaned_data["spend_cap"]
        return None if value is None else int(value * 100)


class BranchBudgetForm(forms.Form):
    branch_id = forms.TypedChoiceField(label="Branch", coerce=int)
    monthly_segments = forms.IntegerField(label="Segments per month", min_value=0, max_value=10_000_000)

    def __init__(self, *args, branches=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["branch_id"].choices = [(pk, name) for pk, name in branches]
