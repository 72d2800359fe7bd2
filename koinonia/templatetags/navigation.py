"""The navigation every signed-in page shares: which main section a page is in, and one sub-navigation
component (``{% subnav "settings" %}``) for the directory, messages, inbox and settings sections, so they
all look and behave alike (tabs, the current one marked with ``aria-current``).

A page's section and tab come from its path (the longest tab URL that prefixes it), so detail pages
(``/members/12/``, ``/inbox/c/3/``) light up their list's tab without naming URL patterns here. URLs
are looked up by name with ``reverse``, which imports no app."""

from dataclasses import dataclass

from django import template
from django.urls import NoReverseMatch, reverse

from koinonia.roles import Role

register = template.Library()

# Main section → the path prefixes it owns.
MAIN_SECTIONS = {
    "dashboard": ("/dashboard/",),
    "members": ("/members/", "/groups/", "/branches/"),
    "messages": ("/messages/",),
    "inbox": ("/inbox/",),
    "analytics": ("/analytics/",),
    "settings": ("/settings/", "/billing/"),
}

# Sub-navigation → (accessible name, tabs). A tab: (label, URL name, least role to see it, badge
# context variable or None).
SUBNAVS = {
    "directory": (
        "Directory",
        [
            ("Members", "members_home", Role.VIEWER, None),
            ("Groups", "group_list", Role.VIEWER, None),
            ("Branches", "branch_list", Role.VIEWER, None),
            ("Import", "member_import", Role.STAFF, None),
        ],
    ),
    "messages": (
        "Messages",
        [
            ("All messages", "messaging_home", Role.VIEWER, None),
            ("Templates", "message_templates", Role.VIEWER, None),
            ("Recurring", "recurring_list", Role.VIEWER, None),
        ],
    ),
    "inbox": (
        "Inbox",
        [
            ("Conversations", "conversations_home", Role.VIEWER, None),
            ("Opt-out review", "conversation_reviews", Role.VIEWER, "review_count"),
            ("Canned replies", "conversation_canned", Role.VIEWER, None),
            ("Inbox settings", "conversation_settings", Role.VIEWER, None),
        ],
    ),
    "settings": (
        "Settings",
        [
            ("Church", "settings", Role.VIEWER, None),
            ("Team", "team", Role.VIEWER, None),
            ("Numbers", "numbers", Role.VIEWER, None),
            ("10DLC", "tendlc", Role.VIEWER, None),
            ("API keys", "api_keys", Role.ADMIN, None),
            ("Integrations", "webhooks", Role.ADMIN, None),
            ("Billing", "billing_home", Role.ADMIN, None),
        ],
    ),
}


# Pages under a tab's URL that are not that tab: compose is reached by its own "New message" button.
NO_CURRENT_TAB = ("/messages/new",)


@dataclass(frozen=True)
class Tab:
    label: str
    url: str
    current: bool
    badge: int | None


def _path(context) -> str:
    request = context.get("request")
    return getattr(request, "path", "") or ""


@register.simple_tag(takes_context=True)
def main_section(context) -> str:
    """The main navigation's current section ("" for none)."""
    path = _path(context)
    for section, prefixes in MAIN_SECTIONS.items():
        if any(path.startswith(prefix) for prefix in prefixes):
            return section
    return ""


def subnav_tabs(name: str, *, path: str, role: str | None, badges: dict) -> list[Tab]:
    tabs = []
    for label, url_name, least, badge in SUBNAVS[name][1]:
        if not Role.at_least(role, least):
            continue
        try:
            url = reverse(url_name)
        except NoReverseMatch:  # an app that isn't installed: no tab
            continue
        tabs.append((label, url, badges.get(badge) if badge else None))
    # The current tab is the one whose URL is the longest prefix of the page's path.
    matching = [url for _, url, _ in tabs if path.startswith(url) and not path.startswith(NO_CURRENT_TAB)]
    current = max(matching, key=len, default=None)
    return [Tab(label=label, url=url, current=url == current, badge=badge or None) for label, url, badge in tabs]


@register.inclusion_tag("partials/subnav.html", takes_context=True)
def subnav(context, name: str):
    request = context.get("request")
    badges = {"review_count": context.get("review_count")}
    return {
        "label": SUBNAVS[name][0],
        "tabs": subnav_tabs(name, path=_path(context), role=getattr(request, "role", None), badges=badges),
    }
