"""Every main signed-in page as a church admin sees it, in Chromium, on a phone (390×844) and a laptop
(1366×900): no sideways page scroll, no serious or critical axe-core violation, no JavaScript error,
44px tap targets on the phone, a menu button that opens the navigation on the phone, threads that open
at the newest message, and a "New message" button that can be read. Screenshots land in
var/screenshots/ (``<page>-phone.png``, ``<page>-laptop.png``) for people to look at."""

from datetime import date, time, timedelta

import pytest
from django.utils import timezone

from churches.models import GroupMembership, ImportJob
from conversations.models import ConversationMessage
from messaging.broadcasts import services as messaging_services
from messaging.broadcasts import tasks
from messaging.models import MessageTemplate, Recipient, SenderNumber
from messaging.recurring import services as recurring_services
from tests.conversations.factories import ConversationFactory, ConversationMessageFactory
from tests.e2e.conftest import (
    LAPTOP,
    PHONE,
    axe_violations,
    horizontal_overflow,
    javascript_errors,
    open_page,
    screenshot,
    set_viewport,
    sign_in,
    small_tap_targets,
    wait_for,
)
from tests.factories import BranchFactory, GroupFactory, MemberFactory
from tests.messaging.support import bulk_members, grant_segments

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

THREAD_LENGTH = 40
SMALL_PHONE = {"width": 360, "height": 740, "mobile": True}
# The pages pictured in docs/screenshots/ (README), at both sizes, when KOINONIA_SCREENSHOTS=1.
DOC_PAGES = {
    "dashboard",
    "members",
    "member-detail",
    "import",
    "compose",
    "message-detail",
    "recurring-new",
    "inbox",
    "conversation",
    "settings",
    "billing",
    "analytics",
}


@pytest.fixture
def pages(world, live_server, monkeypatch):
    """A church with something on every page; the pages' paths by name."""
    church = world.church
    church.timezone = "America/Chicago"
    church.quiet_hours_start = church.quiet_hours_end  # no quiet hours: texts go out now
    church.save()
    SenderNumber.objects.create(church=church, phone_number="+13125550100", provider="console")
    grant_segments(world, 1000)
    branch = BranchFactory(church=church, name="North Campus", address="1200 W Lake St, Chicago")
    group = GroupFactory(church=church, name="Worship team", branch=branch, keyword="WORSHIP")
    members = bulk_members(church, 12)
    ruth = MemberFactory(
        church=church, first_name="Ruth", last_name="Moabite-Bethlehemite", email="ruth.moabite@example.org"
    )
    for member in (ruth, *members[:5]):
        GroupMembership.objects.create(church=church, group=group, member=member)

    monkeypatch.setattr(tasks.prepare_message, "delay", lambda *args, **kwargs: None)
    message = messaging_services.message_send(
        church=church,
        author=world.staff,
        body="Hi {first_name}! Potluck after the service on Sunday — bring a dish to share.",
        audience={"all": True},
    )
    messaging_services.message_prepare(message_id=message.pk)
    tasks.send_message(message.pk)
    earlier = timezone.now() - timedelta(hours=THREAD_LENGTH + 2)  # before the whole thread below
    Recipient.objects.filter(message=message).update(queued_at=earlier, sent_at=earlier)

    conversation = ConversationFactory(church=church, member=ruth, unread_count=2)
    start = timezone.now() - timedelta(hours=THREAD_LENGTH)
    for n in range(THREAD_LENGTH):
        direction = ConversationMessage.Direction.INBOUND if n % 2 == 0 else ConversationMessage.Direction.OUTBOUND
        ConversationMessageFactory(
            conversation=conversation,
            direction=direction,
            author=None if direction == ConversationMessage.Direction.INBOUND else world.staff,
            status="received" if direction == ConversationMessage.Direction.INBOUND else "delivered",
            body=f"Message number {n} about the potluck and who brings what",
            created_at=start + timedelta(hours=n),
        )
    ConversationFactory(church=church, member=None, visitor_phone="+13125550188", unread_count=1)
    MessageTemplate.objects.create(church=church, name="Sunday reminder", body="Service at 10, {first_name}!")
    recurring = recurring_services.recurring_create(
        church=church,
        acting_user=world.staff,
        body="Prayer night at 7, {first_name}.",
        audience={"all": True},
        frequency="weekly",
        weekdays=[2],
        time_of_day=time(19, 0),
        start_date=date.today(),
    )
    job = ImportJob.objects.create(
        church=church,
        file_name="members-from-the-old-spreadsheet.csv",
        status=ImportJob.Status.DONE,
        total_rows=14,
        processed_rows=14,
        created_count=12,
        rejected_count=2,
        created_by=world.owner,
    )
    return {
        "dashboard": "/dashboard/",
        "members": "/members/",
        "member-detail": f"/members/{members[0].pk}/",
        "member-new": "/members/new/",
        "groups": "/groups/",
        "group-detail": f"/groups/{group.pk}/",
        "branches": "/branches/",
        "import": "/members/import/",
        "import-job": f"/members/import/{job.pk}/",
        "messages": "/messages/",
        "compose": "/messages/new",
        "message-detail": f"/messages/{message.pk}/",
        "templates": "/messages/templates/",
        "template-new": "/messages/templates/new/",
        "recurring": "/messages/recurring/",
        "recurring-detail": f"/messages/recurring/{recurring.pk}/",
        "recurring-new": "/messages/recurring/new/",
        "inbox": "/inbox/",
        "conversation": f"/inbox/c/{conversation.pk}/",
        "reviews": "/inbox/reviews/",
        "canned": "/inbox/canned/",
        "inbox-settings": "/inbox/settings/",
        "settings": "/settings/",
        "team": "/settings/team/",
        "numbers": "/settings/numbers/",
        "tendlc": "/settings/10dlc/",
        "tendlc-campaign": "/settings/10dlc/?step=campaign",
        "api-keys": "/settings/api-keys/",
        "billing": "/billing/",
        "analytics": "/analytics/",
    }


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP, SMALL_PHONE], ids=["phone", "laptop", "small-phone"])
def test_every_main_page_fits_the_screen_and_passes_axe(browser, live_server, world, pages, viewport):
    """axe-core runs at the phone and laptop sizes; the 360px phone checks fit and tap targets only."""
    from selenium.webdriver.common.by import By

    sign_in(browser, live_server, world.owner)
    set_viewport(browser, viewport)
    size = {id(PHONE): "phone", id(LAPTOP): "laptop", id(SMALL_PHONE): "small-phone"}[id(viewport)]
    problems = {}
    for name, path in pages.items():
        open_page(browser, live_server.url + path)
        found = {}
        if not browser.find_element(By.TAG_NAME, "h1").text:
            found["heading"] = "no h1"
        if "Server Error" in browser.page_source:
            found["error"] = "server error"
        overflow = horizontal_overflow(browser, viewport)
        if overflow:
            found["overflow"] = overflow
        if viewport is not LAPTOP:
            small = small_tap_targets(browser)
            if small:
                found["tap targets"] = small
        if viewport is not SMALL_PHONE:
            violations = axe_violations(browser)
            if violations:
                found["axe"] = violations
            screenshot(browser, f"{name}-{size}", docs=name in DOC_PAGES)
        errors = javascript_errors(browser)
        if errors:
            found["javascript"] = errors
        if found:
            problems[path] = found
    assert problems == {}, "\n".join(f"{path}: {found}" for path, found in problems.items())


def test_the_phone_menu_opens_and_closes_the_navigation(browser, live_server, world, pages):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    sign_in(browser, live_server, world.owner)
    set_viewport(browser, PHONE)
    open_page(browser, live_server.url + pages["members"])
    toggle = browser.find_element(By.CSS_SELECTOR, "[data-nav-toggle]")
    inbox_link = browser.find_element(By.CSS_SELECTOR, '.mainnav a[href="/inbox/"]')
    assert toggle.is_displayed() and not inbox_link.is_displayed()
    assert toggle.get_attribute("aria-expanded") == "false"
    assert toggle.find_element(By.CSS_SELECTOR, "[data-nav-unread]").text == "2"  # two unread threads
    toggle.click()
    wait_for(browser, lambda d: inbox_link.is_displayed())
    assert toggle.get_attribute("aria-expanded") == "true"
    assert inbox_link.find_element(By.CSS_SELECTOR, "[data-nav-unread]").text == "2"
    current = browser.find_element(By.CSS_SELECTOR, '.mainnav a[aria-current="page"]')
    assert current.text == "Members"
    screenshot(browser, "menu-open-phone")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    wait_for(browser, lambda d: not inbox_link.is_displayed())
    assert toggle.get_attribute("aria-expanded") == "false"

    set_viewport(browser, LAPTOP)
    open_page(browser, live_server.url + pages["members"])
    assert not browser.find_element(By.CSS_SELECTOR, "[data-nav-toggle]").is_displayed()
    assert browser.find_element(By.CSS_SELECTOR, '.mainnav a[href="/inbox/"]').is_displayed()
    assert javascript_errors(browser) == []


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["phone", "laptop"])
def test_a_thread_opens_at_the_newest_message(browser, live_server, world, pages, viewport):
    sign_in(browser, live_server, world.staff)
    set_viewport(browser, viewport)
    open_page(browser, live_server.url + pages["conversation"])
    position = browser.execute_script(
        """
        const box = document.getElementById('thread-scroll').getBoundingClientRect();
        const items = document.querySelectorAll('#thread > li');
        const first = items[0].getBoundingClientRect(), last = items[items.length - 1].getBoundingClientRect();
        return {boxTop: box.top, boxBottom: box.bottom, firstBottom: first.bottom, lastTop: last.top,
                lastBottom: last.bottom, lastText: items[items.length - 1].innerText, viewport: innerHeight};
        """
    )
    assert f"Message number {THREAD_LENGTH - 1} " in position["lastText"]
    assert position["boxTop"] - 1 <= position["lastTop"] and position["lastBottom"] <= position["boxBottom"] + 1
    assert position["lastBottom"] <= position["viewport"], position  # on screen without scrolling the page
    assert position["firstBottom"] < position["boxTop"], position  # older messages are above, scrolled away
    screenshot(browser, f"thread-newest-{'phone' if viewport is PHONE else 'laptop'}")
    assert javascript_errors(browser) == []


def test_a_replys_status_changes_on_the_open_thread(browser, live_server, world, pages):
    """The thread polls (static/js/inbox.js, every 5 s): a reply still on its way changes its badge
    when the delivery report lands, without a reload."""
    from selenium.webdriver.common.by import By

    reply = ConversationMessage.objects.filter(direction=ConversationMessage.Direction.OUTBOUND).latest("id")
    reply.status = ConversationMessage.Status.SENT
    reply.save(update_fields=["status"])
    sign_in(browser, live_server, world.staff)
    open_page(browser, live_server.url + pages["conversation"])
    badge = f'[data-reply-status="{reply.pk}"]'
    assert browser.find_element(By.CSS_SELECTOR, badge).text == "Sent"
    ConversationMessage.objects.filter(pk=reply.pk).update(status=ConversationMessage.Status.DELIVERED)
    wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, badge).text == "Delivered", timeout=15)
    assert "badge-ok" in browser.find_element(By.CSS_SELECTOR, badge).get_attribute("class")
    assert javascript_errors(browser) == []


def test_the_new_message_button_can_be_read(browser, live_server, world, pages):
    from selenium.webdriver.common.by import By

    sign_in(browser, live_server, world.staff)
    open_page(browser, live_server.url + pages["messages"])
    button = next(a for a in browser.find_elements(By.CSS_SELECTOR, "a") if a.text.strip() == "New message")
    ratio = browser.execute_script(
        """
        function rgb(value) { return value.match(/[\\d.]+/g).slice(0, 3).map(Number); }
        function luminance([r, g, b]) {
          const c = [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
          return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
        }
        const style = getComputedStyle(arguments[0]);
        const a = luminance(rgb(style.color)), b = luminance(rgb(style.backgroundColor));
        return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        """,
        button,
    )
    assert ratio >= 4.5, ratio


def test_settings_tabs_show_which_one_is_open(browser, live_server, world, pages):
    from selenium.webdriver.common.by import By

    sign_in(browser, live_server, world.owner)
    for name, tab in (("settings", "Church"), ("team", "Team"), ("numbers", "Numbers"), ("billing", "Billing")):
        open_page(browser, live_server.url + pages[name])
        current = browser.find_elements(By.CSS_SELECTOR, '.subnav a[aria-current="page"]')
        assert [a.text for a in current] == [tab], name
        other = browser.find_element(By.CSS_SELECTOR, '.subnav a:not([aria-current="page"])')
        assert current[0].value_of_css_property("color") != other.value_of_css_property("color")
        assert current[0].value_of_css_property("border-bottom-color") != other.value_of_css_property(
            "border-bottom-color"
        )
