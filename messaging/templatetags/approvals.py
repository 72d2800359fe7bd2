"""``{% held_for_approval as n %}``: the in-app notice (templates/base.html) that broadcasts await an
owner's or admin's approval (messaging/broadcasts/approval.py). 0 for everyone else."""

from django import template

from churches.models import Role
from messaging.broadcasts.approval import held_count

register = template.Library()


@register.simple_tag(takes_context=True)
def held_for_approval(context) -> int:
    request = context.get("request")
    church = getattr(request, "church", None)
    if church is None or not Role.at_least(getattr(request, "role", None), Role.ADMIN):
        return 0
    return held_count(church=church)
