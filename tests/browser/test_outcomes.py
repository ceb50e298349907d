"""Each outcome of an analysis on the result page, in a real Chromium (issue 15): a glioma gets its
A/O/G class and probability bars; a meningioma, a pituitary tumour and a metastasis get their type
and no class; a normal brain "No tumour found" and no class; a scan unlike the training data the
out-of-distribution message and no class. Whatever the outcome, the 3D view still shows the scans.

The cases are made cheaply, not through the worker (the glioma upload in test_flows.py goes end to
end with the real models, and tests/pipeline/tumour_type runs them on every type): each is stored
through the real upload path into the live server's database and storage, analysed by the real
runner and stages with stand-in models (tests/sections.py), and finished with the worker's own
`finish_case` (the glioma's subtype from a stand-in classifier). One browser session, signed in
once, visits them all.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from app.pipeline.outcomes import OUTCOME_LABELS
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_flows import sign_in, wait, wait_rendered

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SCENARIOS: dict[str, tuple[str, str | None]] = {
    "glioma": ("subtype", None),
    "meningioma": ("not_glioma",
                   "Looks like a meningioma (p = 0.93): the glioma subtype does not apply."),
    "pituitary": ("not_glioma", "Looks like a pituitary macroadenoma (p = 0.93): the glioma "
                                "subtype does not apply."),
    "metastasis": ("not_glioma",
                   "Looks like a metastasis (p = 0.93): the glioma subtype does not apply."),
    "normal-brain": ("no_tumour", "No tumour found (p = 0.97)."),
    "normal-brain-segmented": ("no_tumour", "No tumour was found: the segmented whole tumour is "
                                            "0.10 mL, below 0.5 mL."),
    "not-a-brain": ("out_of_distribution",
                    "This scan is unlike the data the model was trained on: no class is shown."),
}
"""Scenario: (the outcome, the message the page must show in the issue's words)."""

CLASS_BADGE = (0x16, 0x32, 0x4F)  # .class-letter's background (static/css/app.css)
TOP_BAR = (0x0A, 0x5A, 0x9C)  # .chart .bar.top: the most likely class's probability bar
CLASS_PIXELS = 500  # a 4.2 rem badge or a bar has thousands; a stray anti-aliased edge a few


def _analyse(scenario: str, paths: dict[str, Path], out_dir: Path) -> dict:
    """Return the summary of `scenario`'s analysis, its artefacts written into `out_dir`."""
    from tests.sections import analyse_with_stand_ins, label_map, tumour_type_result

    scope, labels = {
        "glioma": (tumour_type_result("glioma", 0.97), None),
        "meningioma": (tumour_type_result("meningioma", 0.93), None),
        "pituitary": (tumour_type_result("pituitary", 0.93), None),
        "metastasis": (tumour_type_result("metastasis", 0.93), None),
        "normal-brain": (tumour_type_result("no_tumour", 0.97), None),
        "normal-brain-segmented": (tumour_type_result("glioma", 0.97), label_map("tiny")),
        "not-a-brain": (tumour_type_result("glioma", 0.97, unlike_training=True), None),
    }[scenario]
    return analyse_with_stand_ins(paths, out_dir, scope, labels)


@pytest.fixture(scope="module")
def outcome_pages(live_server, tmp_path_factory) -> dict[str, str]:
    """Store one finished case per scenario for the first clinician, in the live server's own
    database and storage; return {scenario: the URL of its result page}."""
    from app import create_app, storage
    from app.cases.uploads import UploadedFile, store_upload
    from app.extensions import db
    from app.models import User
    from app.worker.state import finish_case
    from tests.sections import small_brain_files

    instance = live_server.instance
    app = create_app({  # the live server's settings (tests/browser/conftest.py)
        "INSTANCE_PATH": str(instance),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'gliomalens.sqlite'}",
        "STORAGE_DIR": str(instance / "storage"),
        "CELERY": {"broker_url": "memory://"},
    })
    folder = tmp_path_factory.mktemp("outcomes")
    pages = {}
    with app.app_context():
        owner = db.session.scalar(db.select(User).where(User.email == live_server.clinician))
        for scenario, (outcome, _) in SCENARIOS.items():
            tumour = None if scenario.startswith(("normal", "not-a")) else (14, 24, 12)
            paths = small_brain_files(folder / scenario, tumour)
            files = {s: UploadedFile(p.name, p.open("rb")) for s, p in paths.items()}
            try:
                case = store_upload(files, owner.id, pseudonym=f"Outcome {scenario}")
            finally:
                for f in files.values():
                    f.stream.close()
            scans = {scan.sequence: storage.absolute_path(scan.stored_path)
                     for scan in case.scans}
            summary = _analyse(scenario, scans, storage.results_dir(case.id))
            assert summary["outcome"] == outcome, (scenario, summary["message"])
            finish_case(case.id, summary)
            pages[scenario] = f"{live_server.url}/cases/{case.id}"
        db.session.remove()
        db.engine.dispose()
    return pages


@pytest.fixture(scope="module")
def signed_in(browser, live_server) -> Iterator[None]:
    """Sign the shared browser in as the first clinician once for the module; sign out after."""
    sign_in(browser, live_server, live_server.clinician)
    yield
    browser.delete_all_cookies()


def element_picture(element) -> np.ndarray:
    """Return what the user sees of `element` (its screenshot) as RGB pixels."""
    png = element.screenshot_as_png
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def count_colour(pixels: np.ndarray, colour: tuple[int, int, int], tolerance: int = 10) -> int:
    """Return how many pixels lie within `tolerance` of `colour` in every channel."""
    return int((np.abs(pixels - np.array(colour)).max(axis=-1) <= tolerance).sum())


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_outcome_says_what_it_found_and_shows_a_class_only_for_a_glioma(
        browser, outcome_pages, signed_in, scenario, shot, request):
    outcome, message = SCENARIOS[scenario]
    browser.get(outcome_pages[scenario])
    result = wait(browser).until(EC.visibility_of_element_located((By.ID, "result")))
    assert browser.find_element(By.ID, "demo-banner").is_displayed()
    subtype = outcome == "subtype"
    if subtype:
        assert browser.find_element(By.ID, "result-class").text.strip() in {"A", "O", "G"}
        assert browser.find_element(By.ID, "probability-chart").is_displayed()
        bars = browser.find_elements(By.CSS_SELECTOR, "#probabilities [data-p]")
        assert sum(float(b.get_attribute("data-p")) for b in bars) == pytest.approx(1, abs=0.01)
        assert not browser.find_elements(By.ID, "result-outcome")
    else:
        for absent in ("result-class", "result-class-name", "grade-group", "probability-chart",
                       "probabilities"):
            assert not browser.find_elements(By.ID, absent), absent
        assert not browser.find_elements(By.CSS_SELECTOR, "[data-class]")
        headline = browser.find_element(By.ID, "result-outcome")
        assert headline.is_displayed() and headline.text == OUTCOME_LABELS[outcome]
        assert headline.get_attribute("data-outcome") == outcome
        shown = browser.find_element(By.ID, "result-message")
        assert shown.is_displayed() and shown.text == message
    # The picture a person looks at: a class badge and a highlighted bar only for a glioma, and
    # the header is not blank (its words are drawn).
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", result)
    pixels = element_picture(result)
    Image.fromarray(pixels.astype(np.uint8)).save(ARTIFACTS / f"{request.node.name}-header.png")
    assert (pixels.max(axis=-1) < 100).sum() > 200, "the result header shows no text"
    for colour, what in ((CLASS_BADGE, "the class badge"), (TOP_BAR, "the top probability bar")):
        seen = count_colour(pixels, colour)
        assert (seen > CLASS_PIXELS) if subtype else (seen < 20), f"{what}: {seen} pixels"
    assert not browser.find_elements(By.ID, "candidate-volume")  # measured, or never looked for
    # The 3D view still loads the case's scans and draws them; its hint names only the overlays
    # there are (a case the scope ended was never segmented).
    wait_rendered(browser, 90)
    hint = browser.find_element(By.ID, "viewer-hint").text
    segmented = scenario in ("glioma", "normal-brain-segmented")
    assert ("sub-regions are coloured as in the legend" in hint) is segmented, hint
    assert ("Nothing is drawn over the scans" in hint) is not segmented, hint
    assert bool(browser.find_elements(By.ID, "segment-legend")) is segmented
    viewer = browser.find_element(By.ID, "viewer")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", viewer)
    shot()
