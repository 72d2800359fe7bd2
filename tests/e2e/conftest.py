"""The browser tests' shared pieces: one headless Chromium per test module (Debian's chromium +
chromedriver; skipped when they are missing, and on SQLite, since the live server in another thread must
see the test's committed rows), signing in, viewports, and checks run on every page: no sideways page
scroll, tap targets, and axe-core (vendored in tests/e2e/vendor/) with no serious or critical violation."""

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tests.conftest import PASSWORD

SCREENSHOTS = Path(django_settings.BASE_DIR) / "var" / "screenshots"
DOC_SCREENSHOTS = Path(django_settings.BASE_DIR) / "docs" / "screenshots"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"

PHONE = {"width": 390, "height": 844, "mobile": True}
LAPTOP = {"width": 1366, "height": 900, "mobile": False}
TAP_MIN = 44


def _skip_unless_possible() -> None:
    if "postgresql" not in django_settings.DATABASES["default"]["ENGINE"]:
        pytest.skip("needs PostgreSQL (runs in the PostgreSQL pass of CI)")
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")


@pytest.fixture(scope="module")
def chromium():
    """One browser for the whole module: starting Chromium costs more than most of the checks."""
    _skip_unless_possible()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--window-size=1366,900",
        f"--user-data-dir={tempfile.mkdtemp(prefix='koinonia-chromium-')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def browser(chromium, postgres_only):
    """The module's browser, signed out, at the laptop size, with an empty console log."""
    chromium.delete_all_cookies()
    set_viewport(chromium, LAPTOP)
    javascript_errors(chromium)  # drain what an earlier test left
    yield chromium
    chromium.delete_all_cookies()


def set_viewport(driver, viewport: dict) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {
            "width": viewport["width"],
            "height": viewport["height"],
            "deviceScaleFactor": 1,
            "mobile": viewport["mobile"],
        },
    )


def wait_for(driver, condition, timeout=10):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # A page that polls replaces the elements it updates: one found a moment ago may be gone; look again.
    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=ignored).until(lambda d: condition(d))


def sign_in(driver, live_server, user):
    from selenium.webdriver.common.by import By

    driver.get(f"{live_server.url}/login/")
    driver.find_element(By.NAME, "username").send_keys(user.email)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(driver, lambda d: "/dashboard/" in d.current_url)


def open_page(driver, url: str) -> None:
    driver.get(url)
    wait_for(driver, lambda d: d.execute_script("return document.readyState") == "complete")


def javascript_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot(driver, name: str, *, docs: bool = False) -> None:
    """Into var/screenshots/ always; with ``docs`` and ``KOINONIA_SCREENSHOTS=1`` in the environment, also
    into docs/screenshots/ (the committed pictures the README links to: regenerate them with
    ``KOINONIA_SCREENSHOTS=1 .venv/bin/pytest tests/e2e/test_staff_pages.py -k every_main_page``)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    if docs and os.environ.get("KOINONIA_SCREENSHOTS") == "1":
        DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(DOC_SCREENSHOTS / f"{name}.png"))


def horizontal_overflow(driver, viewport: dict) -> dict | None:
    """None when the page doesn't scroll sideways (``document.scrollingElement.scrollWidth`` within the
    screen's width); else the widths and the elements sticking out. The screen's width is the emulated
    one: a phone's ``innerWidth`` grows to the page's width when the page is too wide, as on Android."""
    found = driver.execute_script(
        """
        const width = Math.min(arguments[0], window.innerWidth), page = document.scrollingElement.scrollWidth;
        if (page <= width) return null;
        const wide = [];
        for (const el of document.querySelectorAll('body *')) {
          const r = el.getBoundingClientRect();
          if (r.right > width + 1 && r.width > 0) {
            const classes = typeof el.className === 'string' ? el.className.trim().split(/\\s+/).join('.') : '';
            wide.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (classes ? '.' + classes : '') +
                      ' right=' + Math.round(r.right));
            if (wide.length >= 8) break;
          }
        }
        return {innerWidth: width, scrollWidth: page, elements: wide};
        """,
        viewport["width"],
    )
    return found


def small_tap_targets(driver) -> list[str]:
    """Visible controls less than 44px tall (phone check). Links inside running text are exempt, as
    WCAG 2.5.8 allows; buttons, form controls and navigation links are not."""
    return driver.execute_script(
        """
        const min = arguments[0];
        const selector = 'button, a.btn, select, textarea, summary, [role=button], ' +
          'input:not([type=hidden]):not([type=checkbox]):not([type=radio]), ' +
          '.mainnav a, .subnav a, .pills a, .backlink a, .nav-toggle';
        const small = [];
        for (const el of document.querySelectorAll(selector)) {
          const r = el.getBoundingClientRect();
          if (r.width <= 1 || r.height <= 1) continue;             // not shown, or visually hidden
          const style = getComputedStyle(el);
          if (style.visibility === 'hidden' || style.display === 'none') continue;
          if (r.height < min - 0.5) {
            const text = (el.innerText || el.value || el.name || '').trim().slice(0, 30);
            const size = Math.round(r.width) + 'x' + Math.round(r.height);
            small.push(el.tagName.toLowerCase() + ' "' + text + '" ' + size);
          }
        }
        return small;
        """,
        TAP_MIN,
    )


def axe_violations(driver, impacts=("serious", "critical")) -> list[str]:
    """Runs axe-core on the page; the serious and critical violations as readable lines."""
    if not driver.execute_script("return typeof window.axe !== 'undefined'"):
        driver.execute_script(AXE.read_text(encoding="utf-8"))
    result = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        axe.run(document, {resultTypes: ['violations']})
          .then((r) => done(JSON.stringify(r.violations)))
          .catch((e) => done(JSON.stringify({error: String(e)})));
        """
    )
    violations = json.loads(result)
    if isinstance(violations, dict):
        raise AssertionError(f"axe-core failed: {violations['error']}")
    lines = []
    for v in violations:
        if v.get("impact") not in impacts:
            continue
        targets = [" ".join(map(str, node["target"])) for node in v["nodes"][:5]]
        summary = v["nodes"][0].get("failureSummary", "").replace("\n", " ")[:200] if v["nodes"] else ""
        lines.append(f"{v['impact']} {v['id']}: {v['help']} — {targets} {summary}")
    return lines
