"""A case uploaded with two slots swapped: the sequence warning, the reassign button, a result.

Runs against the live server and its real worker with the shipped sequence model; logs in itself,
so it runs alone or after test_flows.py.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from tests.browser.test_flows import SEQUENCES, login, wait

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SWAPPED = {"flair": "t2", "t2": "flair", "t1": "t1", "t1ce": "t1ce"}
"""Which phantom file goes into each slot: FLAIR and T2 swapped."""


def test_swapped_slots_warn_then_reassign_gives_a_result(browser, live_server, phantom_files,
                                                         shot):
    browser.delete_all_cookies()
    login(browser, live_server, live_server.clinician, live_server.password)
    browser.get(live_server.url + "/cases/new")
    for slot in SEQUENCES:
        browser.find_element(By.ID, slot).send_keys(str(phantom_files["O"][SWAPPED[slot]]))
    browser.find_element(By.ID, "upload-submit").click()
    wait(browser, 60).until(EC.url_matches(r"/cases/[0-9a-f]{32}$"))
    case_url = browser.current_url

    # The waiting page stops polling at needs_review and reloads into the question.
    message = wait(browser, 240).until(
        EC.visibility_of_element_located((By.ID, "review-message")))
    assert message.text.startswith("The file in the FLAIR slot looks like T2 (p = ")
    assert "the T2 slot looks like FLAIR" in message.text
    assert browser.find_element(By.ID, "status-badge").text == "needs_review"
    rows = {row.get_attribute("data-slot"): row.get_attribute("data-suggested") for row in
            browser.find_elements(By.CSS_SELECTOR, "#sequence-table tbody tr")}
    assert rows == SWAPPED
    assert browser.find_element(By.ID, "montage").get_attribute("naturalWidth") != "0"
    assert not browser.find_elements(By.ID, "result-class")
    shot("warning")
    montage = browser.find_element(By.ID, "montage")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", montage)
    shot("warning-montage")

    button = browser.find_element(By.ID, "sequences-reassign")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()
    wait(browser, 30).until(EC.staleness_of(button))
    assert browser.current_url == case_url
    result_class = wait(browser, 300).until(
        EC.visibility_of_element_located((By.ID, "result-class")))
    assert result_class.text.strip() in {"A", "O", "G"}
    calls = browser.find_elements(By.CSS_SELECTOR, "#sequence-calls li")
    assert [c.get_attribute("data-slot") for c in calls] == list(SEQUENCES)
    assert not browser.find_elements(By.CSS_SELECTOR, "#sequence-calls li.mismatch")
    assert not browser.find_elements(By.ID, "sequences-confirmed")
    shot()
