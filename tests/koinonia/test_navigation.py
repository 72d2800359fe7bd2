"""One sub-navigation component for the directory, messages, inbox and settings sections (there were five
different ones, some without a current tab), the main navigation's current section, and the phone menu
button that works without a framework (and, without JavaScript, leaves the menu shown)."""

import re

import pytest
from django.urls import reverse

from churches.models import Role
from tests.conversations.factories import ConversationFactory
from tests.factories import GroupFactory, MemberFactory

pytestmark = pytest.mark.django_db


def subnavs(html: str) -> list[str]:
    return re.findall(r'<nav class="subnav" aria-label="([^"]+)">', html)


def current_tab(html: str) -> list[str]:
    if '<nav class="subnav"' not in html:
        return []
    block = html[html.index('<nav class="subnav"') : html.index("</nav>", html.index('<nav class="subnav"'))]
    return re.findall(r'aria-current="page">([^<]+)<', block)


def current_section(html: str) -> list[str]:
    block = html[html.index('<nav class="mainnav"') : html.index("</nav>", html.index('<nav class="mainnav"'))]
    return re.findall(r'aria-current="page">([^<]+)<', block)


@pytest.mark.parametrize(
    ("url", "nav", "tab", "section"),
    [
        ("/settings/", "Settings", "Church", "Settings"),
        ("/settings/team/", "Settings", "Team", "Settings"),
        ("/settings/numbers/", "Settings", "Numbers", "Settings"),
        ("/settings/10dlc/", "Settings", "10DLC", "Settings"),
        ("/settings/api-keys/", "Settings", "API keys", "Settings"),
        ("/billing/", "Settings", "Billing", "Settings"),
        ("/members/", "Directory", "Members", "Members"),
        ("/groups/", "Directory", "Groups", "Members"),
        ("/branches/", "Directory", "Branches", "Members"),
        ("/members/import/", "Directory", "Import", "Members"),
        ("/messages/", "Messages", "All messages", "Messages"),
        ("/messages/templates/", "Messages", "Templates", "Messages"),
        ("/messages/recurring/", "Messages", "Recurring", "Messages"),
        ("/inbox/", "Inbox", "Conversations", "Inbox"),
        ("/inbox/reviews/", "Inbox", "Opt-out review", "Inbox"),
        ("/inbox/canned/", "Inbox", "Canned replies", "Inbox"),
        ("/inbox/settings/", "Inbox", "Inbox settings", "Inbox"),
    ],
)
def test_every_section_uses_the_one_subnav_with_its_current_tab(world, url, nav, tab, section):
    response = world.page_client(Role.OWNER).get(url)
    assert response.status_code == 200, url
    html = response.content.decode()
    assert subnavs(html) == [nav]
    assert current_tab(html) == [tab]
    assert current_section(html) == [section]
    assert 'class="msg-tabs"' not in html and 'class="dirnav"' not in html  # the old navs are gone


def test_detail_pages_light_up_their_lists_tab(world):
    member = MemberFactory(church=world.church)
    group = GroupFactory(church=world.church)
    conversation = ConversationFactory(church=world.church)
    client = world.page_client(Role.OWNER)
    assert current_tab(client.get(f"/members/{member.pk}/").content.decode()) == ["Members"]
    assert current_tab(client.get(f"/groups/{group.pk}/").content.decode()) == ["Groups"]
    assert current_tab(client.get(f"/inbox/c/{conversation.pk}/").content.decode()) == []  # a thread has no tabs
    assert current_section(client.get(f"/inbox/c/{conversation.pk}/").content.decode()) == ["Inbox"]


def test_tabs_follow_the_role(world):
    viewer = world.page_client(Role.VIEWER)
    html = viewer.get("/settings/").content.decode()
    assert ">API keys<" not in html and ">Billing<" not in html and ">Team<" in html
    assert ">Import<" not in viewer.get("/members/").content.decode()
    assert ">Import<" in world.page_client(Role.STAFF).get("/members/").content.decode()


def test_the_phone_menu_button_controls_the_navigation_and_survives_without_javascript(world):
    html = world.page_client(Role.STAFF).get(reverse("dashboard")).content.decode()
    assert re.search(r'<button type="button" class="nav-toggle" aria-expanded="false" aria-controls="site-menu"', html)
    assert 'id="site-menu"' in html
    noscript = html[html.index("<noscript>") : html.index("</noscript>")]
    assert ".site-menu" in noscript and ".nav-toggle" in noscript


def test_the_new_message_button_is_a_button_not_a_tab(world):
    html = world.page_client(Role.STAFF).get("/messages/").content.decode()
    assert '<a class="btn" href="/messages/new">New message</a>' in html
    assert "New message" not in html[html.index('<nav class="subnav"') :].split("</nav>")[0]
    assert "New message" not in world.page_client(Role.VIEWER).get("/messages/").content.decode()
