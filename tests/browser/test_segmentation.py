"""The segmentation on the result page, in a real Chromium: each sub-region of the label map can be
hidden and shown (the picture changes, and that sub-region's colour goes and comes back), the
measurements are shown, and the PDF report downloads.

Uses the G phantom case of test_viewer.py (its `case_url` fixture: one upload per module).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from selenium.webdriver.common.by import By

from tests.browser.test_flows import canvas_image, wait_for_file, wait_rendered
from tests.browser.test_viewer import (  # noqa: F401 - fixtures used by name
    case_url,
    reddish_purple,
    settle,
    show_axial,
    sky_blue,
    vermillion,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SUB_REGIONS = {"enhancing": vermillion, "oedema": sky_blue, "necrosis": reddish_purple}


def test_each_sub_region_toggles(browser, case_url, shot):  # noqa: F811
    browser.get(case_url)
    wait_rendered(browser, 180)
    assert browser.find_element(By.ID, "measure-wt").is_displayed()
    legend = browser.find_element(By.ID, "segment-legend").text.lower()
    assert "oedema" in legend and "enhancing" in legend and "necrotic" in legend
    image = show_axial(browser)
    shot("all")
    for key, colour in SUB_REGIONS.items():
        before = int(colour(image).sum())
        assert before > 5, f"no {key} on the chosen slice"
        toggle = browser.find_element(By.ID, f"toggle-{key}")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", toggle)
        toggle.click()
        hidden = wait_colour(browser, colour, lambda n, b=before: n < b * 0.2, f"hiding {key}")
        shot(f"without-{key}")
        # The picture changed where the sub-region was, and little else did.
        changed = np.abs(hidden - image).max(axis=-1) > 15
        assert changed.sum() >= before * 0.5 and changed.mean() < 0.2, key
        toggle.click()
        image = wait_colour(browser, colour, lambda n, b=before: n > b * 0.8,
                            f"showing {key} again")


def wait_colour(browser, colour, ok, what: str, timeout: float = 40) -> np.ndarray:
    """Wait until the count of `colour` pixels in the canvas satisfies `ok`; return the picture."""
    viewer = browser.find_element(By.ID, "viewer")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", viewer)
    deadline = time.monotonic() + timeout
    while True:
        image = canvas_image(browser)
        count = int(colour(image).sum())
        if ok(count):
            return settle(browser)
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: {count} pixels of its colour after {timeout} s")
        time.sleep(0.3)


def test_report_pdf_downloads(browser, case_url, downloads, shot):  # noqa: F811
    browser.get(case_url)
    for old in downloads.glob("gliomalens-report-*.pdf"):
        old.unlink()
    link = browser.find_element(By.ID, "download-report")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", link)
    shot()
    link.click()
    saved = wait_for_file(downloads, "gliomalens-report-*.pdf", timeout=60)
    data = saved.read_bytes()
    assert data.startswith(b"%PDF-") and len(data) > 20_000  # with the montage and Grad-CAM
