"""Home, upload and result pages: the elements the browser tests drive, and CSP-safe markup."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from app.models.case import Scan
from tests.factories import make_prediction, make_summary, write_artefacts

FULL_SUMMARY = make_summary(
    cls="A",
    probabilities={"A": 0.5, "O": 0.3, "G": 0.2},
    std={"A": 0.1, "O": 0.05, "G": 0.02}, entropy=1.03, agreement=0.67, slices=(40, 41, 42),
    low_confidence=True,
    volume_ml=23.46,
    name="glioma-demo", version="1.2.0", weights_sha256="ab" * 32, demo=True,
    training_data="synthetic phantoms",
    timings={"load": 1.9, "slice": 0.6, "predict": 2.1, "gradcam": 3.4, "total": 8.0},
)


class Page(HTMLParser):
    """Collects elements by id, inline code and inline styles of an HTML page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.by_id: dict[str, dict[str, str | None]] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline_scripts = 0
        self.style_attrs: list[str] = []
        self._in_script_without_src = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if "id" in attributes:
            self.by_id[attributes["id"]] = {"_tag": tag, **attributes}
        if "style" in attributes:
            self.style_attrs.append(tag)
        if any(name.startswith("on") for name in attributes):
            self.inline_scripts += 1
        self._in_script_without_src = tag == "script" and not attributes.get("src")
        if tag == "style":
            self.style_attrs.append("<style>")

    def handle_data(self, data):
        if self._in_script_without_src and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script_without_src = False

    def all(self, tag: str, **match: str) -> list[dict[str, str | None]]:
        return [
            a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in match.items())
        ]


def page(response) -> Page:
    assert response.status_code == 200, response.status_code
    parsed = Page(response.get_data(as_text=True))
    # The app sets CSP script-src 'self' / style-src 'self': no inline code or styles anywhere.
    assert parsed.inline_scripts == 0
    assert parsed.style_attrs == []
    return parsed


VIEWER_CONTROLS = (
    "viewer",
    "opacity",
    "contrast-min",
    "contrast-max",
    "contrast-reset",
    "azimuth",
    "elevation",
    "auto-rotate",
    "size",
    "view-mode",
    "save-image",
)


def assert_labelled(p: Page, ids) -> None:
    labels = {a.get("for") for a in p.all("label")}
    for id_ in ids:
        assert id_ in p.by_id, id_
        if p.by_id[id_]["_tag"] in ("input", "select"):
            assert id_ in labels, f"#{id_} has no <label for>"


def test_home_shows_brain_viewer_with_controls_and_get_started(client):
    p = page(client.get("/"))
    assert_labelled(p, VIEWER_CONTROLS)
    assert p.by_id["viewer"]["_tag"] == "canvas"
    assert p.by_id["viewer-panel"]["data-base-url"] == "/static/brain/mni152.nii.gz"
    assert p.by_id["viewer-panel"]["data-base-name"].endswith(".nii.gz")
    assert p.by_id["get-started"]["href"] == "/login"
    assert "McConnell Brain Imaging Centre" in client.get("/").get_data(as_text=True)
    assert p.all("script", src="/static/js/home.js", type="module")


def test_get_started_goes_to_upload_when_logged_in(logged_in_client):
    p = page(logged_in_client.get("/"))
    assert p.by_id["get-started"]["href"] == "/cases/new"


def test_upload_page_has_dropzone_slots_and_progress(logged_in_client):
    p = page(logged_in_client.get("/cases/new"))
    for sequence in ("flair", "t1", "t1ce", "t2"):
        field = p.by_id[sequence]
        assert field["name"] == sequence and field["type"] == "file"
        assert field["data-sequence"] == sequence
    assert p.by_id["dropzone"]["tabindex"] == "0"
    assert p.by_id["upload-progress"]["_tag"] == "progress"
    assert "pseudonym" in p.by_id
    assert p.by_id["upload-form"]["data-max-bytes"].isdigit()
    assert p.all("script", src="/static/js/upload.js", type="module")


def test_result_page_while_processing_shows_stage_and_progress(logged_in_client, case_factory):
    case = case_factory(status="running", stage="classifying", percent=60)
    p = page(logged_in_client.get(f"/cases/{case.id}"))
    assert p.by_id["progress"]["_tag"] == "progress"
    assert p.by_id["progress"]["value"] == "60"
    assert p.by_id["case"]["data-status-url"] == f"/cases/{case.id}/status"
    assert "result-class" not in p.by_id and "viewer" not in p.by_id
    assert p.all("script", src="/static/js/result.js", type="module")
    html = logged_in_client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert '<span id="stage">classifying</span>' in html
    assert "hidden" in p.by_id["queue-place"], "a running case has no place in the queue"


def test_result_page_with_minimal_prediction(logged_in_client, case_factory):
    case = case_factory()
    make_prediction(case)
    write_artefacts(case, ("summary.json",))
    p = page(logged_in_client.get(f"/cases/{case.id}"))
    assert "demo-banner" in p.by_id
    assert "phantom-note" in p.by_id
    items = p.all("li")
    probabilities = {a["data-class"]: float(a["data-p"]) for a in items if a.get("data-class")}
    assert set(probabilities) == {"A", "O", "G"}
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=0.01)
    assert p.by_id["download-summary"]["href"] == f"/cases/{case.id}/files/summary.json?download=1"
    assert "viewer" not in p.by_id  # no stored scans: no 3D view
    assert "low-confidence" not in p.by_id
    html = logged_in_client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert '<span class="class-letter" id="result-class" aria-label="Class G">G</span>' in html


def _add_scans(db, case, suffixes):
    for sequence, suffix in suffixes.items():
        db.session.add(
            Scan(
                case_id=case.id,
                sequence=sequence,
                stored_path=f"cases/{case.id}/scans/{sequence}{suffix}",
                original_filename=f"X_{sequence}{suffix}",
                sha256="0" * 64,
                shape=[240, 240, 155],
                voxel_size=[1.0, 1.0, 1.0],
                dtype="int16",
                size_bytes=1000,
            )
        )
    db.session.commit()


def test_result_page_done_shows_everything(db, logged_in_client, case_factory):
    case = case_factory(pseudonym="PH 7")
    make_prediction(case, summary=FULL_SUMMARY)
    write_artefacts(case)
    _add_scans(db, case, {"flair": ".nii.gz", "t1": ".nii", "t1ce": ".nii.gz", "t2": ".nii.gz"})
    response = logged_in_client.get(f"/cases/{case.id}")
    p = page(response)
    html = response.get_data(as_text=True)
    assert p.by_id["result-class"]["aria-label"] == "Class A"
    assert "WHO grade 2–3" in html and "23.5 mL" in html
    assert "low-confidence" in p.by_id and "no-lesion" not in p.by_id
    assert "demo-banner" in p.by_id
    assert "glioma-demo" in html and "1.2.0" in html
    assert p.by_id["montage"]["src"] == f"/cases/{case.id}/files/montage.png"
    assert p.by_id["gradcam"]["src"] == f"/cases/{case.id}/files/gradcam.png"
    # The viewer: every control, the sequence switcher with NiiVue-friendly names, the overlays
    # (the segmentation's label map in place of the tumour candidate, with its sub-regions).
    assert_labelled(
        p,
        (
            *VIEWER_CONTROLS,
            "sequence",
            "toggle-segmentation",
            "segmentation-opacity",
            "segmentation-outline",
            "toggle-necrosis",
            "toggle-oedema",
            "toggle-enhancing",
            "toggle-heatmap",
            "heatmap-opacity",
        ),
    )
    assert "overlay-mask" not in p.by_id
    options = {a["value"]: a for a in p.all("option") if a.get("data-url")}
    assert list(options) == ["flair", "t1", "t1ce", "t2"]
    assert options["flair"]["data-name"] == "flair.nii.gz"
    assert options["t1"]["data-name"] == "t1.nii"
    assert options["t2"]["data-url"] == f"/cases/{case.id}/scans/t2"
    assert p.by_id["overlay-segmentation"]["data-url"] == (
        f"/cases/{case.id}/files/segmentation.nii.gz")
    assert p.by_id["overlay-heatmap"]["data-name"] == "heatmap.nii.gz"
    assert p.by_id["viewer-panel"]["data-slice-index"] == "41"
    assert "rerun" in p.by_id and "delete" in p.by_id
    # The analysis took the summary's total, not the sum of every timing (total included).
    assert "8.0 s" in html and "16.0 s" not in html
    assert "load 1.9 s" in html and "total" not in html.split('id="timings"')[1].split("</dd>")[0]
    assert p.by_id["download-montage"]["href"] == f"/cases/{case.id}/files/montage.png?download=1"
    assert "67% of 3 slices vote A" in html and "1.030" in html


def test_result_page_offers_only_artefacts_that_exist(db, logged_in_client, case_factory):
    case = case_factory()
    make_prediction(case)
    write_artefacts(case, ("montage.png", "candidate_mask.nii.gz"))
    _add_scans(db, case, {"flair": ".nii.gz", "t1": ".nii.gz", "t1ce": ".nii.gz", "t2": ".nii.gz"})
    p = page(logged_in_client.get(f"/cases/{case.id}"))
    assert "montage" in p.by_id and "gradcam" not in p.by_id
    assert "overlay-mask" in p.by_id and "overlay-heatmap" not in p.by_id
    assert "download-montage" in p.by_id and "download-summary" not in p.by_id


def test_result_page_without_a_subtype_shows_the_outcome_and_message(logged_in_client,
                                                                     case_factory):
    case = case_factory()
    summary = {**make_summary(), "outcome": "no_tumour", "class": None, "class_name": None,
               "grade_group": None, "probabilities": None, "uncertainty": None,
               "message": "No tumour was found in this scan."}
    make_prediction(case, summary=summary)
    response = logged_in_client.get(f"/cases/{case.id}")
    p = page(response)
    assert "result-class" not in p.by_id and "probability-chart" not in p.by_id
    assert p.by_id["result-outcome"]["data-outcome"] == "no_tumour"
    assert "No tumour was found in this scan." in response.get_data(as_text=True)


def test_negative_zero_entropy_is_shown_as_zero(logged_in_client, case_factory):
    case = case_factory()
    make_prediction(case, entropy=-1e-9)
    html = logged_in_client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "-0.000" not in html and ">0.000 <" in html


def test_status_endpoint_has_the_api_shape_of_progress_and_result(logged_in_client,
                                                                  case_factory):
    running = case_factory(status="running", stage="classifying", percent=40)
    assert logged_in_client.get(f"/cases/{running.id}/status").get_json() == {
        "id": running.id, "status": "running", "stage": "classifying",
        "stage_label": "classifying", "queue_position": None, "percent": 40,
        "error": None, "error_kind": None, "result": None,
    }
    done = case_factory()
    make_prediction(done)
    body = logged_in_client.get(f"/cases/{done.id}/status").get_json()
    assert body["status"] == "done" and body["result"]["class"] == "G"
    assert body["result"]["timings"]["total"] == 1.0


def test_no_demo_banner_for_a_site_model(logged_in_client, case_factory):
    case = case_factory()
    make_prediction(case, name="site", version="3", demo=False, training_data="local cohort")
    p = page(logged_in_client.get(f"/cases/{case.id}"))
    assert "demo-banner" not in p.by_id
    assert "phantom-note" in p.by_id


def test_no_lesion_warning(logged_in_client, case_factory):
    case = case_factory()
    make_prediction(case, no_lesion_found=True)
    assert "no-lesion" in page(logged_in_client.get(f"/cases/{case.id}")).by_id


def test_failed_case_shows_message_and_buttons(logged_in_client, case_factory):
    case = case_factory(status="failed", error_message="T1ce: the grid differs from FLAIR.")
    response = logged_in_client.get(f"/cases/{case.id}")
    p = page(response)
    assert "T1ce: the grid differs from FLAIR." in response.get_data(as_text=True)
    assert "error-message" in p.by_id
    assert p.by_id["rerun"]["type"] == "submit" and p.by_id["delete"]["type"] == "submit"
    assert "result-class" not in p.by_id


@pytest.mark.parametrize(
    "path",
    [
        "css/app.css",
        "js/viewer.js",
        "js/viewer_boot.js",
        "js/home.js",
        "js/result.js",
        "js/upload.js",
    ],
)
def test_static_files_are_served(client, path):
    response = client.get(f"/static/{path}")
    assert response.status_code == 200
    assert response.mimetype in ("text/css", "text/javascript", "application/javascript")


def test_training_data_sentence_ends_once(logged_in_client, case_factory):
    case = case_factory()
    make_prediction(case, demo=False, training_data="No patient data.")
    html = logged_in_client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "Training data: No patient data." in html and "data.." not in html


def test_pages_of_a_case_with_the_scope_stage_score(logged_in_client, case_factory):
    """ScopeStage stores `in_distribution` as a number (in_distribution_score); found by the load
    test, where every analysed case's page and status answered 500."""
    case = case_factory()
    make_prediction(case, summary={**make_summary(), "in_distribution": 0.42})
    assert logged_in_client.get(f"/cases/{case.id}").status_code == 200
    body = logged_in_client.get(f"/cases/{case.id}/status").get_json()
    assert body["result"]["in_distribution"] == 0.42
