"""Every page at a phone's and a tablet's width, axe-core on every page, and the small controls
of issue 17 (skip link, copy button, confirmation, focus after a failed login), in Chromium.

axe-core comes from npm (package.json; `scripts/build_static.sh` runs `npm ci`) and is read from
node_modules/ and injected by the test: nothing is downloaded at test time, and the app never
serves it. Screenshots at 390×844 and 1024×768 go to artifacts/browser/ for review.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image
from selenium.webdriver.common.alert import Alert
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.select import Select

from tests.browser.conftest import ROOT
from tests.browser.test_flows import SEQUENCES, login, wait, wait_rendered

pytestmark = [pytest.mark.slow, pytest.mark.browser]

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
SIZES = {"phone": (390, 844), "tablet": (1024, 768)}
VIEW_MODES = ("render", "multiplanar", "axial", "coronal", "sagittal")


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run scripts/build_static.sh (npm ci)")
    return AXE.read_text()


def axe_violations(browser, source: str) -> list[str]:
    """Run axe-core on the current page; return its serious and critical violations, described."""
    browser.execute_script(source)
    results = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(r.violations)).catch(e => done([{id: 'axe-error', impact: 'critical',"
        " help: String(e), nodes: []}]));")
    return [f"{v['id']} ({v['impact']}): {v['help']} at "
            + "; ".join(" ".join(n["target"]) for n in v["nodes"][:5])
            for v in results if v["impact"] in BLOCKING]


def assert_accessible(browser, source: str, what: str) -> None:
    violations = axe_violations(browser, source)
    assert violations == [], f"{what}: " + "\n".join(violations)


def overflow(browser) -> list[str]:
    """Return what sticks out of the viewport sideways: the page itself, or visible elements
    whose right edge passes it (those inside a scrolling region are fine: they scroll)."""
    return browser.execute_script("""
        const width = document.documentElement.clientWidth;
        const out = [];
        if (document.documentElement.scrollWidth > width + 1)
          out.push(`page scrolls sideways: ${document.documentElement.scrollWidth} > ${width}`);
        for (const el of document.querySelectorAll('body *')) {
          const r = el.getBoundingClientRect();
          if (!r.width || !r.height || el.closest('.table-scroll')) continue;
          if (getComputedStyle(el).visibility === 'hidden') continue;
          if (r.right > width + 1 || r.left < -1)
            out.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} `
                     + `[${r.left}, ${r.right}]`);
        }
        return out.slice(0, 10);
    """)


def page_picture(browser) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("RGB"))


def at_size(browser, size: str) -> None:
    width, height = SIZES[size]
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": size == "phone"})


def check_sizes(browser, shot, name: str, look_at: str | None = None) -> None:
    """At each small size: nothing sticks out sideways (the page does not scroll sideways and no
    visible element passes the right edge outside a scrolling table); the screenshot, the width
    of the viewport, is saved for a person to look at, scrolled to `look_at` (an element id)
    when given, whose own picture must fit the viewport's width."""
    try:
        for size in SIZES:
            at_size(browser, size)
            browser.execute_script("window.scrollTo(0, 0)")
            problems = overflow(browser)
            assert not problems, f"{name} at {size}: " + "\n".join(problems)
            if look_at:
                element = browser.find_element(By.ID, look_at)
                browser.execute_script("arguments[0].scrollIntoView({block: 'start'})", element)
                picture = Image.open(io.BytesIO(element.screenshot_as_png))
                assert picture.width <= SIZES[size][0], f"#{look_at} is wider than the screen"
            pixels = page_picture(browser)
            assert pixels.shape[1] == SIZES[size][0], "the screenshot is the viewport"
            shot(f"{name}-{size}")
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.fixture(scope="module")
def clinician(browser, live_server) -> Iterator[None]:
    browser.delete_all_cookies()
    login(browser, live_server, live_server.clinician, live_server.password)
    yield
    browser.delete_all_cookies()


@pytest.fixture(scope="module")
def case_url(browser, live_server, phantom_files, clinician, axe_source) -> str:
    """Upload the A phantom; check the waiting page while the case is analysed; return its URL
    once the result is shown."""
    browser.get(live_server.url + "/cases/new")
    for seq in SEQUENCES:
        browser.find_element(By.ID, seq).send_keys(str(phantom_files["A"][seq]))
    browser.find_element(By.ID, "upload-submit").click()
    wait(browser, 60).until(EC.url_matches(r"/cases/[0-9a-f]{32}$"))
    url = browser.current_url
    if browser.find_elements(By.ID, "processing"):
        assert_accessible(browser, axe_source, "the waiting page")
    wait(browser, 240).until(EC.visibility_of_element_located((By.ID, "result-class")))
    return url


def test_public_pages(browser, live_server, axe_source, shot):
    browser.delete_all_cookies()
    for name, path in (("home", "/"), ("login", "/login")):
        browser.get(live_server.url + path)
        assert_accessible(browser, axe_source, path)
        check_sizes(browser, shot, name)


def focused_id(browser) -> str | None:
    """The id of the focused element of the document shown now (asked in the page, so a page
    still being replaced after a submit cannot hand back a node of the old document)."""
    return browser.execute_script(
        "return document.activeElement ? document.activeElement.id : null;")


def test_failed_login_puts_the_focus_on_the_password(browser, live_server, axe_source, shot):
    browser.delete_all_cookies()
    browser.get(live_server.url + "/login")
    wait(browser).until(lambda b: focused_id(b) == "email")
    browser.find_element(By.ID, "email").send_keys(live_server.clinician)
    browser.find_element(By.ID, "password").send_keys("not-the-password")
    browser.find_element(By.ID, "login-submit").click()
    wait(browser).until(EC.text_to_be_present_in_element((By.TAG_NAME, "main"), "Invalid"))
    # The page's script moves the focus once it has loaded: await it rather than race it.
    wait(browser).until(lambda b: focused_id(b) == "password")
    assert_accessible(browser, axe_source, "the login page after a failure")
    shot()


def test_skip_link_is_first_and_moves_to_the_main_content(browser, live_server, shot):
    browser.get(live_server.url + "/")  # a page without autofocus: Tab starts at the top
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    link = browser.switch_to.active_element
    assert link.get_attribute("id") == "skip-link"
    top = browser.execute_script("return arguments[0].getBoundingClientRect().top", link)
    assert top >= 0, "the focused skip link is visible"
    shot("focused")
    link.send_keys(Keys.ENTER)
    assert browser.switch_to.active_element.get_attribute("id") == "main"


def test_clinician_pages_fit_small_screens_and_pass_axe(browser, live_server, case_url,
                                                        axe_source, shot):
    for name, path, look_at in (("cases", "/cases", "case-list"),
                                ("upload", "/cases/new", "slots"),
                                ("account", "/account", "password-section")):
        browser.get(live_server.url + path)
        assert_accessible(browser, axe_source, path)
        check_sizes(browser, shot, name, look_at)
    browser.get(live_server.url + "/cases?status=done&sort=probability")
    assert browser.find_elements(By.CSS_SELECTOR, "#case-list .case-link")
    assert_accessible(browser, axe_source, "the filtered worklist")


def test_upload_slots_stay_inside_a_phone_screen(browser, live_server, clinician, shot):
    at_size(browser, "phone")
    try:
        browser.get(live_server.url + "/cases/new")
        for seq in SEQUENCES:
            slot = browser.find_element(By.ID, f"field-{seq}")
            left, right = browser.execute_script(
                "const r = arguments[0].getBoundingClientRect(); return [r.left, r.right];", slot)
            assert 0 <= left and right <= SIZES["phone"][0], f"{seq} slot spans {left}-{right}"
        shot()
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_new_token_is_copied_and_the_name_field_cleared(browser, live_server, clinician,
                                                        axe_source, shot):
    browser.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": live_server.url,
        "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    browser.get(live_server.url + "/account")
    browser.find_element(By.ID, "name").send_keys("nightly export")
    browser.find_element(By.ID, "submit").click()
    token = wait(browser).until(EC.visibility_of_element_located((By.ID, "new-token"))).text
    assert browser.find_element(By.ID, "name").get_attribute("value") == ""
    browser.find_element(By.ID, "copy-token").click()
    wait(browser).until(EC.text_to_be_present_in_element((By.ID, "copy-status"), "Copied"))
    copied = browser.execute_async_script(
        "navigator.clipboard.readText().then(arguments[0], e => arguments[0]('ERR ' + e))")
    assert copied == token
    assert_accessible(browser, axe_source, "the account page with a new token")
    check_sizes(browser, shot, "account-token", "tokens")


def test_result_page_passes_axe_in_every_viewer_mode(browser, case_url, axe_source, shot):
    browser.get(case_url)
    wait_rendered(browser, 180)
    assert_accessible(browser, axe_source, "the result page")
    for mode in VIEW_MODES:
        Select(browser.find_element(By.ID, "view-mode")).select_by_value(mode)
        assert_accessible(browser, axe_source, f"the result page in {mode} mode")
    check_sizes(browser, shot, "result", "viewer-panel")


def test_admin_pages_confirm_before_deactivating(browser, live_server, axe_source, shot):
    browser.delete_all_cookies()
    login(browser, live_server, live_server.admin, live_server.password)
    try:
        for name, path, look_at in (("users", "/admin/users", "user-list"),
                                    ("workers", "/admin/workers", None),
                                    ("all-cases", "/cases", None)):
            browser.get(live_server.url + path)
            assert_accessible(browser, axe_source, path)
            check_sizes(browser, shot, name, look_at)
        browser.get(live_server.url + "/admin/users")
        row = f'tr[data-email="{live_server.second_clinician}"]'
        browser.find_element(By.CSS_SELECTOR, f"{row} form[data-confirm] button").click()
        alert: Alert = wait(browser).until(EC.alert_is_present())
        assert live_server.second_clinician in alert.text
        alert.dismiss()  # the account stays active (the other tests use it)
        assert "active" in browser.find_element(By.CSS_SELECTOR, row).text
        assert "deactivated" not in browser.find_element(By.CSS_SELECTOR, row).text
    finally:
        browser.delete_all_cookies()
