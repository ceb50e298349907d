"""The user-facing flows in a real Chromium: home viewer, login, upload, result, access, logout.

The scenarios share one browser and one live server but not their state: each starts from a
fresh session (`sign_in`), and those that need a finished case take `finished_case`, uploaded
over HTTP once per module. So they pass alone, in any order, and after the other browser tests.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from app.models.case import FINISHED_STATUSES

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SEQUENCES = ("flair", "t1", "t1ce", "t2")
CHANGE_THRESHOLD = 1.0  # mean absolute difference (0-255) that counts as "the image changed"


def wait(browser, timeout: float = 30) -> WebDriverWait:
    return WebDriverWait(browser, timeout, poll_frequency=0.1)


def canvas_image(browser) -> np.ndarray:
    """The viewer canvas as the user sees it (a screenshot of the element), as RGB pixels."""
    png = browser.find_element(By.ID, "viewer").screenshot_as_png
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float32)


def wait_rendered(browser, timeout: float = 120) -> np.ndarray:
    """Wait until the viewer says it is ready and the canvas shows a picture; return it.

    Software WebGL on 2 cores is slow: the result page's three volumes take tens of seconds.
    """
    def settled(b):
        state = b.find_element(By.ID, "viewer").get_attribute("data-ready")
        return state if state in ("true", "error") else False

    assert wait(browser, timeout).until(settled) == "true", "the viewer reported an error"

    def rendered(_):
        image = canvas_image(browser)
        return [image] if image.std() > 10 else False
    return wait(browser, timeout).until(rendered)[0]


def wait_changed(browser, before: np.ndarray, what: str, timeout: float = 20) -> float:
    """Wait until the canvas differs from `before` by more than the threshold; return the diff."""
    deadline = time.monotonic() + timeout
    diff = 0.0
    while time.monotonic() < deadline:
        after = canvas_image(browser)
        if after.shape == before.shape:
            diff = float(np.abs(after - before).mean())
        else:
            diff = float("inf")  # the canvas was resized
        if diff > CHANGE_THRESHOLD:
            return diff
        time.sleep(0.2)
    raise AssertionError(f"{what} did not change the rendered image (mean diff {diff:.2f})")


def press(browser, element_id: str, key: str) -> None:
    """Operate a control with the keyboard, as a keyboard user would."""
    element = browser.find_element(By.ID, element_id)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.send_keys(key)


def login(browser, server, email: str, password: str) -> None:
    browser.get(server.url + "/login")
    browser.find_element(By.ID, "email").send_keys(email)
    browser.find_element(By.ID, "password").send_keys(password)
    submit = browser.find_element(By.ID, "login-submit")
    submit.click()
    wait(browser).until(EC.staleness_of(submit))  # the answer page has replaced the form


def sign_in(browser, server, email: str | None = None) -> None:
    """Start from a fresh session: no cookies, then signed in as `email` when one is given."""
    browser.get(server.url + "/login")  # cookies are deleted for the current site
    browser.delete_all_cookies()
    if email is not None:
        login(browser, server, email, server.password)
        wait(browser).until(EC.url_contains("/cases/new"))


def _csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture(scope="module")
def finished_case(live_server, phantom_files) -> str:
    """Upload the A phantom as the first clinician over HTTP (the real forms, CSRF included),
    wait until the worker has finished it, and return its page's URL."""
    http = requests.Session()
    page = http.get(live_server.url + "/login", timeout=30).text
    answer = http.post(live_server.url + "/login", timeout=30, allow_redirects=False, data={
        "email": live_server.clinician, "password": live_server.password,
        "csrf_token": _csrf_token(page)})
    assert answer.status_code == 302, answer.text
    token = _csrf_token(http.get(live_server.url + "/cases/new", timeout=30).text)
    handles = {seq: open(phantom_files["A"][seq], "rb") for seq in SEQUENCES}  # noqa: SIM115
    try:
        answer = http.post(live_server.url + "/cases/new", timeout=120,
                           headers={"Accept": "application/json"},
                           data={"csrf_token": token}, files=handles)
    finally:
        for handle in handles.values():
            handle.close()
    assert answer.status_code == 201, answer.text
    case_id = answer.json()["id"]

    def status() -> str:
        return http.get(f"{live_server.url}/cases/{case_id}/status", timeout=30).json()["status"]

    deadline = time.monotonic() + 300
    while (current := status()) not in FINISHED_STATUSES:
        assert time.monotonic() < deadline, f"case {case_id} still {current} after 300 s"
        time.sleep(0.5)
    assert current == "done"
    return f"{live_server.url}/cases/{case_id}"


def wait_for_file(folder: Path, pattern: str, timeout: float = 20) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.glob(pattern) if not p.name.endswith(".crdownload")]
        if done:
            return done[0]
        time.sleep(0.2)
    raise AssertionError(f"no {pattern} downloaded into {folder}")


def test_home_brain_renders_and_every_control_changes_it(browser, live_server, downloads, shot):
    sign_in(browser, live_server)
    browser.get(live_server.url + "/")
    assert browser.find_element(By.ID, "get-started").get_attribute("href").endswith("/login")
    image = wait_rendered(browser)
    assert image.std() > 10
    for control, key in (("azimuth", Keys.END), ("elevation", Keys.END), ("opacity", Keys.HOME),
                         ("contrast-min", Keys.END), ("size", Keys.HOME)):
        before = canvas_image(browser)
        press(browser, control, key)
        wait_changed(browser, before, f"the {control} control")
    shot()
    browser.find_element(By.ID, "save-image").click()
    saved = wait_for_file(downloads, "*.png")
    with Image.open(saved) as png:
        assert png.format == "PNG" and png.width > 50 and png.height > 50


def test_login_errors_redirects_and_success(browser, live_server, shot):
    sign_in(browser, live_server)
    browser.get(live_server.url + "/cases")
    assert "/login" in browser.current_url
    login(browser, live_server, live_server.clinician, "wrong-password!")
    assert "Invalid email or password" in browser.page_source
    shot("wrong-password")
    login(browser, live_server, live_server.clinician, live_server.password)
    wait(browser).until(EC.url_contains("/cases/new"))
    shot()


def test_upload_progress_then_processing_then_result(browser, live_server, phantom_files, shot):
    sign_in(browser, live_server, live_server.clinician)
    browser.get(live_server.url + "/cases/new")
    for seq in SEQUENCES:
        browser.find_element(By.ID, seq).send_keys(str(phantom_files["G"][seq]))
    # Slow the link down a little so the upload progress bar is observable.
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": False, "latency": 20, "downloadThroughput": -1,
        "uploadThroughput": 4 * 1024 * 1024})
    browser.find_element(By.ID, "upload-submit").click()
    try:
        wait(browser, 30).until(lambda b: float(
            b.find_element(By.ID, "upload-progress").get_attribute("value") or 0) > 0)
        shot("uploading")
    finally:
        browser.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    wait(browser, 60).until(EC.url_matches(r"/cases/[0-9a-f]{32}$"))
    shot("landed")
    result_class = wait(browser, 120).until(
        EC.visibility_of_element_located((By.ID, "result-class")))
    assert result_class.text.strip() in {"A", "O", "G"}
    probabilities = [float(li.get_attribute("data-p")) for li in
                     browser.find_elements(By.CSS_SELECTOR, "#probabilities [data-p]")]
    assert len(probabilities) == 3 and abs(sum(probabilities) - 1) <= 0.01
    banner = browser.find_element(By.ID, "demo-banner")
    assert banner.is_displayed() and "synthetic" in banner.text.lower()
    shot()


def wait_pixels_changed(browser, before: np.ndarray, what: str, minimum: int = 300,
                        timeout: float = 20) -> int:
    """Wait until at least `minimum` canvas pixels changed visibly (any channel by > 24);
    return how many. A small tumour's overlay moves the whole canvas's mean very little."""
    deadline = time.monotonic() + timeout
    changed = 0
    while time.monotonic() < deadline:
        after = canvas_image(browser)
        if after.shape == before.shape:
            changed = int((np.abs(after - before).max(axis=-1) > 24).sum())
            if changed >= minimum:
                return changed
        time.sleep(0.2)
    raise AssertionError(f"{what} changed only {changed} pixels (< {minimum})")


def test_result_viewer_overlay_and_sequence_switch(browser, live_server, finished_case, shot):
    sign_in(browser, live_server, live_server.clinician)
    browser.get(finished_case)
    wait_rendered(browser)
    before = canvas_image(browser)
    browser.find_element(By.ID, "toggle-segmentation").click()
    wait_pixels_changed(browser, before, "toggling the tumour overlay")
    before = canvas_image(browser)
    Select(browser.find_element(By.ID, "sequence")).select_by_value("t2")
    wait_changed(browser, before, "switching to T2", timeout=40)
    shot()


def test_case_list_and_other_clinicians_404(browser, live_server, finished_case, shot):
    case_id = finished_case.rsplit("/", 1)[1]
    sign_in(browser, live_server, live_server.clinician)
    browser.get(live_server.url + "/cases")
    assert browser.find_element(By.CSS_SELECTOR, f'[data-case-id="{case_id}"]')
    shot("list")
    browser.find_element(By.ID, "logout").click()
    login(browser, live_server, live_server.second_clinician, live_server.password)
    wait(browser).until(EC.url_contains("/cases/new"))
    browser.get(finished_case)
    assert browser.find_element(By.ID, "error-page")
    assert "Not found" in browser.find_element(By.TAG_NAME, "h1").text
    shot()


def case_count(browser, server) -> int:
    """Return how many cases the signed-in user's case list shows (first page)."""
    browser.get(server.url + "/cases")
    return len(browser.find_elements(By.CSS_SELECTOR, "[data-case-id]"))


def test_invalid_upload_shows_the_slot_error_and_creates_no_case(browser, live_server,
                                                                 phantom_files, tmp_path, shot):
    fake = tmp_path / "renamed_t2.nii.gz"
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, format="PNG")  # big enough to reach the server's check
    fake.write_bytes(buffer.getvalue())
    sign_in(browser, live_server, live_server.second_clinician)
    cases_before = case_count(browser, live_server)
    browser.get(live_server.url + "/cases/new")
    for seq in SEQUENCES:
        path = fake if seq == "t2" else phantom_files["A"][seq]
        browser.find_element(By.ID, seq).send_keys(str(path))
    browser.find_element(By.ID, "upload-submit").click()
    error = wait(browser, 60).until(EC.visibility_of_element_located((By.ID, "t2-error")))
    assert re.search("nifti", error.text, re.IGNORECASE)
    assert "/cases/new" in browser.current_url
    shot()
    assert case_count(browser, live_server) == cases_before


def test_logout_returns_to_login(browser, live_server, shot):
    sign_in(browser, live_server, live_server.clinician)
    browser.get(live_server.url + "/cases")
    browser.find_element(By.ID, "logout").click()
    wait(browser).until(EC.url_contains("/login"))
    shot()
