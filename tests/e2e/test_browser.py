"""The main pages in a real headless Chromium (Debian's chromium + chromedriver): they render without
JavaScript errors, the progressive enhancements work (live compose preview, the smart-quote fix, live
delivery progress), and each page leaves a screenshot in var/screenshots/ for people to look at.

PostgreSQL only (a live server in another thread must see the test's rows); skipped without Chromium.
The browser (one per module), signing in and the page checks are in tests/e2e/conftest.py."""

import time

import pytest

from churches.models import Role
from messaging.broadcasts import services as messaging_services
from messaging.broadcasts import tasks
from messaging.models import Message, SenderNumber
from tests.e2e.conftest import javascript_errors, screenshot, sign_in, wait_for
from tests.messaging.support import bulk_members, grant_segments

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def church(world, live_server, settings):
    church = world.church
    church.quiet_hours_start = church.quiet_hours_end
    church.save()
    SenderNumber.objects.create(church=church, phone_number="+13125550100", provider="console")
    grant_segments(world, 1000)
    bulk_members(church, 12)
    return church


MAIN_PAGES = [
    ("dashboard", "/dashboard/"),
    ("members", "/members/"),
    ("messages", "/messages/"),
    ("compose", "/messages/new"),
    ("inbox", "/inbox/"),
    ("settings", "/settings/"),
    ("team", "/settings/team/"),
    ("numbers", "/settings/numbers/"),
    ("tendlc", "/settings/10dlc/"),
    ("billing", "/billing/"),
    ("integrations", "/settings/integrations/"),
]


def test_main_pages_render_without_javascript_errors(browser, live_server, world, church):
    from selenium.webdriver.common.by import By

    sign_in(browser, live_server, world.users[Role.OWNER])
    for name, path in MAIN_PAGES:
        browser.get(live_server.url + path)
        wait_for(browser, lambda d: d.execute_script("return document.readyState") == "complete")
        assert browser.find_element(By.TAG_NAME, "h1").text, f"{path} has no heading"
        assert "Server Error" not in browser.page_source, path
        screenshot(browser, name)
        assert javascript_errors(browser) == [], (path, javascript_errors(browser))


def test_compose_preview_and_smart_quote_fix_work_live(browser, live_server, world, church):
    from selenium.webdriver.common.by import By

    sign_in(browser, live_server, world.users[Role.STAFF])
    browser.get(f"{live_server.url}/messages/new")
    body = browser.find_element(By.CSS_SELECTOR, "[data-compose-body]")
    body.send_keys("Don’t forget — potluck at 6")
    encoding = browser.find_element(By.CSS_SELECTOR, '[data-preview="encoding"]')
    wait_for(browser, lambda d: encoding.text == "UCS-2")
    fix = browser.find_element(By.CSS_SELECTOR, "[data-fix-smart]")
    wait_for(browser, lambda d: fix.is_displayed())
    fix.click()
    wait_for(browser, lambda d: encoding.text == "GSM-7")
    assert "Don't forget - potluck" in browser.find_element(By.CSS_SELECTOR, "[data-compose-body]").get_attribute(
        "value"
    )
    screenshot(browser, "compose-fixed")
    assert javascript_errors(browser) == []


def test_message_progress_updates_without_reloading(browser, live_server, world, church, monkeypatch):
    from selenium.webdriver.common.by import By

    from messaging import enqueue

    monkeypatch.setattr(enqueue, "message_prepare_later", lambda *args, **kwargs: None)  # no worker yet
    message = messaging_services.message_send(church=church, author=world.staff, body="Hello", audience={"all": True})
    messaging_services.message_prepare(message_id=message.pk)  # recipients queued; nothing sent yet
    sign_in(browser, live_server, world.users[Role.VIEWER])
    browser.get(f"{live_server.url}/messages/{message.pk}/")
    delivered = browser.find_element(By.CSS_SELECTOR, '[data-count="delivered"]')
    assert delivered.text == "0"
    tasks.send_message(message.pk)  # the worker's job, done here (console provider, eager callbacks)
    assert Message.objects.get(pk=message.pk).delivered_count == 12
    wait_for(browser, lambda d: delivered.text == "12", timeout=15)
    time.sleep(0.8)  # let the bar's width transition finish before the screenshot
    screenshot(browser, "message-detail-delivered")
    assert javascript_errors(browser) == []


def test_webhook_endpoint_page_shows_the_delivery_log(browser, live_server, world, church):
    """Settings → Integrations: an endpoint with a test event (delivered to a local receiver) and a
    failed delivery in its log."""
    from selenium.webdriver.common.by import By

    from integrations import services as integration_services
    from koinonia import events
    from tests.fakes.base import RecordingReceiver
    from tests.integrations.conftest import run_due

    with RecordingReceiver([200, 500]) as receiver:
        endpoint, _ = integration_services.webhook_endpoint_create(
            church=church,
            acting_user=world.owner,
            url=receiver.url("/hooks"),
            events=["member.deleted"],
            description="Our CRM",
        )
        integration_services.webhook_endpoint_send_test(church=church, endpoint=endpoint, acting_user=world.owner)
        receiver.wait_for(1)
        events.emit(church=church, type="member.deleted", data={"id": 1})
        run_due()
        sign_in(browser, live_server, world.users[Role.OWNER])
        browser.get(f"{live_server.url}/settings/integrations/{endpoint.pk}/")
        wait_for(browser, lambda d: d.execute_script("return document.readyState") == "complete")
        page = browser.find_element(By.TAG_NAME, "body").text
        assert "webhook.test" in page and "member.deleted" in page and "500" in page
        screenshot(browser, "integrations-endpoint")
        assert javascript_errors(browser) == []
