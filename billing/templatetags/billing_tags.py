from django import template

from billing.rules import money

register = template.Library()


@register.filter
def cents(value) -> str:
    """1234 → "$12.34"."""
    return "" if value is None else money(int(value))


@register.filter
def percent_of(part, whole) -> int:
    return min(100, round(100 * part / whole)) if whole else 0
