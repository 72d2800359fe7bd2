"""Journeys through the problems a church administrator found (issue 16), in Chromium, as people see them:
compose shows the text as a member receives it and what the send costs (7); the recurring form shows only
the chosen frequency and says the schedule in words (8); a large send by staff waits for an admin, who
is told in the app and approves it (send safety); the internal-note box can never send a text (3); a
visitor shows their number (6)."""

import pytest

from churches.models import Member
from messaging.models import Message
from tests.e2e.conftest import PHONE, javascript_errors, open_page, screenshot, set_viewport, sign_in, wait_for
from tests.e2e.test_staff_pages import pages  # noqa: F401 — the fixture: a church with something on every page

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def _sign_out(browser, live_server):
    browser.delete_all_cookies()
    open_page(browser, live_server.url + "/login/")


def test_compose_shows_the_text_as_a_member_receives_it_and_the_cost(browser, live_server, world, pages):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    sign_in(browser, live_server, world.staff)
    set_viewport(browser, PHONE)
    open_page(browser, live_server.url + pages["compose"])
    body = browser.find_element(By.NAME, "body")
    body.send_keys("Hi {first_name}, see you Sunday!")
    sample = '[data-preview="sample_text"]'
    wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, sample).text.endswith(", see you Sunday!"))
    chooser = Select(browser.find_element(By.CSS_SELECTOR, "[data-preview-member]"))
    first = Member.objects.get(pk=int(chooser.first_selected_option.get_attribute("value")))
    assert browser.find_element(By.CSS_SELECTOR, sample).text == f"Hi {first.first_name}, see you Sunday!"
    counts = browser.find_element(By.CSS_SELECTOR, '[data-preview="sample_counts"]').text
    assert counts.startswith(f"{len(f'Hi {first.first_name}, see you Sunday!')} characters · 1 segment"), counts
    chooser.select_by_visible_text("Ruth Moabite-Bethlehemite")
    wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, sample).text == "Hi Ruth, see you Sunday!")
    cost = browser.find_element(By.CSS_SELECTOR, '[data-preview="cost"]')
    assert cost.is_displayed() and "within your allowance" in cost.text and "left after it" in cost.text
    screenshot(browser, "compose-member-preview-phone")
    assert javascript_errors(browser) == []


def test_the_recurring_form_shows_only_the_chosen_frequency(browser, live_server, world, pages):  # noqa: F811
    from selenium.webdriver.common.by import By

    sign_in(browser, live_server, world.staff)
    open_page(browser, live_server.url + pages["recurring-new"])

    def shown(name: str) -> bool:
        return browser.find_element(By.NAME, name).is_displayed()

    def choose(name: str, value: str) -> None:
        browser.find_element(By.CSS_SELECTOR, f'input[name="{name}"][value="{value}"]').click()

    assert shown("weekdays") and not shown("month_day") and not shown("rrule") and not shown("end_date")
    choose("frequency", "monthly")
    wait_for(browser, lambda d: shown("month_day"))
    assert not shown("weekdays") and not shown("nth_week")
    assert browser.find_element(By.CSS_SELECTOR, "[data-interval-unit]").text == "month(s)"
    choose("monthly_mode", "weekday")
    wait_for(browser, lambda d: shown("nth_week"))
    assert not shown("month_day")
    choose("ends", "after")
    wait_for(browser, lambda d: shown("count"))
    choose("frequency", "rrule")
    wait_for(browser, lambda d: shown("rrule"))
    assert not shown("interval") and not shown("nth_week")
    browser.find_element(By.NAME, "body").send_keys("Youth night")
    browser.find_element(By.NAME, "rrule").send_keys("FREQ=MONTHLY;BYDAY=2SU")
    browser.execute_script("document.querySelector('input[name=time_of_day]').value = '18:00'")
    browser.find_element(By.NAME, "count").send_keys("6")
    browser.find_element(By.CSS_SELECTOR, 'button[name="preview"]').click()
    wait_for(browser, lambda d: "Next send times" in d.page_source)
    assert "Every month on the second Sunday at 6:00 PM" in browser.page_source
    assert "FREQ=MONTHLY" not in browser.find_element(By.CSS_SELECTOR, "[role=status]").text
    assert shown("rrule") and not shown("weekdays")  # the page came back on the chosen frequency
    screenshot(browser, "recurring-custom-in-words")
    assert javascript_errors(browser) == []


def test_a_large_send_waits_for_an_admin_who_approves_it(browser, live_server, world, pages, monkeypatch):  # noqa: F811
    from selenium.webdriver.common.by import By

    from messaging.broadcasts import services

    monkeypatch.setattr(services, "_enqueue_prepare", lambda message_id: None)  # the pipeline is not under test
    world.church.approval_for_everyone = True
    world.church.save(update_fields=["approval_for_everyone"])
    sign_in(browser, live_server, world.staff)
    open_page(browser, live_server.url + pages["compose"])
    browser.find_element(By.NAME, "body").send_keys("Church picnic moved to Saturday")
    wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, '[data-preview="approval"]').is_displayed())
    browser.find_element(By.CSS_SELECTOR, "[data-send-button]").click()
    wait_for(browser, lambda d: "Check before sending" in d.page_source)
    browser.find_element(By.CSS_SELECTOR, 'button[name="confirmed"]').click()
    wait_for(browser, lambda d: "/messages/" in d.current_url and "Awaiting approval" in d.page_source)
    message = Message.objects.get(church=world.church, body="Church picnic moved to Saturday")
    assert message.status == Message.Status.HELD
    assert not browser.find_elements(By.CSS_SELECTOR, f'form[action="/messages/{message.pk}/approve/"]')

    _sign_out(browser, live_server)
    sign_in(browser, live_server, world.admin)
    notice = browser.find_element(By.CSS_SELECTOR, "[data-approval-notice] a")
    assert notice.text == "1 message awaits your approval"
    notice.click()
    wait_for(browser, lambda d: "status=held" in d.current_url)
    open_page(browser, live_server.url + f"/messages/{message.pk}/")
    screenshot(browser, "message-awaiting-approval")
    browser.find_element(By.CSS_SELECTOR, f'form[action="/messages/{message.pk}/approve/"] button').click()
    wait_for(browser, lambda d: "Approved" in d.page_source)
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED and message.approval_decided_by == world.admin
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-approval-notice]")
    assert javascript_errors(browser) == []


def test_the_note_box_never_sends_a_text(browser, live_server, world, pages):  # noqa: F811
    from selenium.webdriver.common.by import By

    sign_in(browser, live_server, world.staff)
    open_page(browser, live_server.url + pages["conversation"])
    label = next(el for el in browser.find_elements(By.TAG_NAME, "label") if el.text == "Internal note")
    label.click()
    focused_form = browser.execute_script("return document.activeElement.closest('form').id")
    assert focused_form == "note-form"
    action = browser.find_element(By.ID, "note-form").get_attribute("action")
    assert action.endswith("/note/") or "note" in action


def test_a_visitor_shows_their_number(browser, live_server, world, pages):  # noqa: F811
    from selenium.webdriver.common.by import By

    from conversations.models import Conversation

    visitor = Conversation.objects.get(church=world.church, member__isnull=True)
    sign_in(browser, live_server, world.staff)
    open_page(browser, live_server.url + f"/inbox/c/{visitor.pk}/")
    heading = browser.find_element(By.TAG_NAME, "h1").text
    assert "555-0188" in heading.replace(" ", "-") or "5550188" in heading, heading
