"""``{% inbox_unread_count as n %}`` for the main navigation (templates/base.html)."""

from django import template

from conversations.badge import unread_badge_count

register = template.Library()


@register.simple_tag(takes_context=True)
def inbox_unread_count(context) -> int:
    request = context.get("request")
    church = getattr(request, "church", None)
    user = getattr(request, "user", None)
    if church is None or user is None or not user.is_authenticated:
        return 0
    return unread_badge_count(church=church, user=user, role=getattr(request, "role", None))
