"""The result page for every outcome: class only for a subtype, the outcome's message otherwise,
tumour type with calibrated probabilities, in-distribution score, measurements, the label-map
overlay with its sub-regions, and the downloads (label map, measurements, report)."""

from __future__ import annotations

import pytest
from markupsafe import escape

from app.cases.findings import SEGMENT_STYLES, measurement_rows
from app.models.case import Scan
from app.pipeline.lesion.measurements import measure
from app.pipeline.outcomes import OUTCOME_LABELS, OUTCOMES
from tests.cases.test_pages import page
from tests.factories import make_prediction, write_artefacts
from tests.sections import label_map, outcome_summary, write_real_artefacts


def _scans(db, case) -> None:
    for sequence in ("flair", "t1", "t1ce", "t2"):
        db.session.add(Scan(case_id=case.id, sequence=sequence,
                            stored_path=f"cases/{case.id}/scans/{sequence}.nii.gz",
                            original_filename=f"X_{sequence}.nii.gz", sha256="0" * 64,
                            shape=[48, 48, 24], voxel_size=[1.0, 1.0, 1.0], dtype="int16",
                            size_bytes=1000))
    db.session.commit()


@pytest.fixture
def outcome_case(db, case_factory):
    """A finished case of `outcome` with the real stages' sections, its scans and artefacts."""

    def make(outcome: str):
        case = case_factory(pseudonym="PH 9")
        summary = outcome_summary(outcome)
        make_prediction(case, summary=summary)
        write_artefacts(case, ("summary.json",), summary=summary)
        from app import storage

        write_real_artefacts(storage.results_dir(case.id), summary=summary)
        _scans(db, case)
        return case, summary

    return make


def _text(response) -> str:
    return response.get_data(as_text=True)


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_each_outcome_shows_a_class_only_for_a_subtype(logged_in_client, outcome_case, outcome):
    case, summary = outcome_case(outcome)
    response = logged_in_client.get(f"/cases/{case.id}")
    p = page(response)
    html = _text(response)
    assert "demo-banner" in p.by_id  # the disclaimer stays on every page with a result
    assert p.by_id["download-report"]["href"] == f"/cases/{case.id}/report.pdf?download=1"
    if outcome == "subtype":
        assert p.by_id["result-class"]["aria-label"] == "Class G"
        assert "probability-chart" in p.by_id
        assert "result-outcome" not in p.by_id
        return
    assert "result-class" not in p.by_id and "probability-chart" not in p.by_id
    assert not p.all("li", **{"data-class": "G"})
    assert p.by_id["result-outcome"]["data-outcome"] == outcome
    assert f">{OUTCOME_LABELS[outcome]}<" in html
    assert summary["message"] and summary["message"] in html


def test_not_glioma_says_what_it_found(logged_in_client, outcome_case):
    case, _ = outcome_case("not_glioma")
    html = _text(logged_in_client.get(f"/cases/{case.id}"))
    assert "Looks like a meningioma (p = 0.93): the glioma subtype does not apply." in html


def test_out_of_distribution_shows_no_class_and_no_type(logged_in_client, outcome_case):
    case, summary = outcome_case("out_of_distribution")
    response = logged_in_client.get(f"/cases/{case.id}")
    p = page(response)
    html = _text(response)
    assert "This scan is unlike the data the model was trained on: no class is shown" in html
    assert p.by_id["tumour-type"]["data-type"] == ""
    assert not p.all("tr", **{"class": "top"})  # no type is singled out
    score = summary["in_distribution"]
    assert f'id="in-distribution">{score:.3f} ' in html


def test_no_tumour_from_the_segmentation(logged_in_client, outcome_case):
    case, summary = outcome_case("no_tumour")
    response = logged_in_client.get(f"/cases/{case.id}")
    p = page(response)
    assert summary["message"].startswith("No tumour was found: the segmented whole tumour is")
    assert summary["message"] in _text(response)
    assert p.by_id["measure-wt"]["_tag"] == "tr"
    # The scope ran first and let the scan through as a glioma; the segmentation then ended it.
    assert p.by_id["tumour-type"]["data-type"] == "glioma"
    assert p.by_id["model-decided"]["data-task"] == "segmentation"
    assert "0.1 mL" in _text(response) and "no enhancing tumour to measure" in _text(response)


def test_tumour_type_probabilities_and_in_distribution(logged_in_client, outcome_case):
    case, summary = outcome_case("not_glioma")
    response = logged_in_client.get(f"/cases/{case.id}")
    p = page(response)
    section = summary["tumour_type"]
    assert p.by_id["tumour-type"]["data-type"] == "meningioma"
    rows = {a["data-type"]: float(a["data-p"]) for a in p.all("tr") if a.get("data-type")}
    assert rows == pytest.approx(section["probabilities"], abs=1e-6)
    assert sum(rows.values()) == pytest.approx(1.0, abs=1e-6)
    top = [a["data-type"] for a in p.all("tr", **{"class": "top"})]
    assert top == ["meningioma"]
    assert "Meningioma</strong>" in _text(response) and "93.0%" in _text(response)
    assert "in-distribution" in p.by_id and "ood-score" in p.by_id


def test_measurements_table(logged_in_client, outcome_case):
    case, summary = outcome_case("subtype")
    response = logged_in_client.get(f"/cases/{case.id}")
    p = page(response)
    html = _text(response)
    m = summary["segmentation"]["measurements"]
    for key in ("wt", "tc", "et", "necrosis", "oedema", "laterality", "lesions", "midline",
                "rano"):
        assert f"measure-{key}" in p.by_id, key
    row = html.split('id="measure-wt"')[1].split("</tr>")[0]
    assert f"{m['wt_ml']:.1f} mL" in row
    assert "Left" in html.split('id="measure-laterality"')[1].split("</tr>")[0]
    assert "1 (not multifocal)" in html
    assert ">No<" in html.split('id="measure-midline"')[1].split("</tr>")[0]
    bi = m["bidimensional"]
    rano = html.split('id="measure-rano"')[1].split("</tr>")[0]
    assert f"{bi['longest_mm']:.1f} × {bi['perpendicular_mm']:.1f} mm" in rano
    assert f"product {bi['product_mm2']:.0f} mm²" in rano
    assert f"on axial slice {bi['slice_index']}" in rano
    assert "candidate-volume" not in p.by_id  # the whole tumour's volume is in the table


def test_multifocal_and_midline_rows_from_real_measurements():
    rows = {r.key: r for r in measurement_rows(measure(label_map("bifocal"), (1, 1, 1)).to_dict())}
    assert rows["lesions"].value == "2 (multifocal)"
    assert rows["laterality"].value == "Bilateral"
    assert rows["midline"].value == "No"  # two lesions, one each side: neither crosses


def test_label_map_overlay_with_sub_regions_and_downloads(logged_in_client, outcome_case):
    case, _ = outcome_case("subtype")
    p = page(logged_in_client.get(f"/cases/{case.id}"))
    assert p.by_id["overlay-segmentation"]["data-url"] == (
        f"/cases/{case.id}/files/segmentation.nii.gz")
    assert "overlay-mask" not in p.by_id  # the label map replaces the tumour candidate
    for value, key, colour in SEGMENT_STYLES:
        toggle = p.by_id[f"toggle-{key}"]
        assert toggle["type"] == "checkbox" and "checked" in toggle
        assert toggle["data-label-value"] == str(value) and toggle["data-colour"] == colour
        assert p.all("li", **{"data-label-value": str(value)})  # the legend
    assert "segmentation-outline" in p.by_id
    assert [a["fill"] for a in p.all("rect") if a.get("fill")][:3] == [
        c for _, _, c in SEGMENT_STYLES]
    downloads = {
        "download-segmentation": "segmentation.nii.gz",
        "download-measurements-json": "measurements.json",
        "download-measurements-csv": "measurements.csv",
    }
    for id_, name in downloads.items():
        assert p.by_id[id_]["href"] == f"/cases/{case.id}/files/{name}?download=1"
    csv = logged_in_client.get(f"/cases/{case.id}/files/measurements.csv?download=1")
    assert csv.mimetype == "text/csv" and csv.get_data(as_text=True).startswith("wt_ml,")
    labels = logged_in_client.get(f"/cases/{case.id}/files/segmentation.nii.gz")
    assert labels.mimetype == "application/gzip"


def test_old_case_keeps_the_candidate_overlay(db, logged_in_client, case_factory):
    case = case_factory()
    make_prediction(case)  # a summary without segmentation or tumour type
    write_artefacts(case, ("montage.png", "candidate_mask.nii.gz", "summary.json"))
    _scans(db, case)
    p = page(logged_in_client.get(f"/cases/{case.id}"))
    assert "overlay-mask" in p.by_id and "mask-outline" in p.by_id
    assert "overlay-segmentation" not in p.by_id and "segment-legend" not in p.by_id
    assert "findings" not in p.by_id and "candidate-volume" in p.by_id
    assert "download-segmentation" not in p.by_id and "download-report" in p.by_id


def test_status_endpoint_carries_the_sections(logged_in_client, outcome_case):
    case, summary = outcome_case("subtype")
    result = logged_in_client.get(f"/cases/{case.id}/status").get_json()["result"]
    assert result["segmentation"]["measurements"] == summary["segmentation"]["measurements"]
    assert result["tumour_type"]["tumour_type"] == "glioma"
    assert result["in_distribution"] == summary["in_distribution"]


def test_status_endpoint_of_a_case_the_scope_ended(logged_in_client, outcome_case):
    case, summary = outcome_case("not_glioma")
    result = logged_in_client.get(f"/cases/{case.id}/status").get_json()["result"]
    assert result["segmentation"] is None  # the scope ended it before the segmentation
    assert result["tumour_type"]["tumour_type"] == "meningioma"
    assert result["in_distribution"] == summary["in_distribution"]
    assert result["class"] is None and result["probabilities"] is None


@pytest.mark.parametrize("kind", ["meningioma", "pituitary", "metastasis", "no_tumour"])
def test_a_case_the_scope_ended_claims_no_overlay_and_no_candidate_volume(
        logged_in_client, case_factory, db, tmp_path, kind):
    from app import storage
    from tests.sections import analyse_with_stand_ins, small_brain_files, tumour_type_result

    case = case_factory(pseudonym="PH 10")
    summary = analyse_with_stand_ins(small_brain_files(tmp_path / "in"),
                                     storage.results_dir(case.id), tumour_type_result(kind, 0.93))
    assert "segmentation" not in summary  # the scope runs first and ended the analysis
    make_prediction(case, summary=summary)
    _scans(db, case)
    response = logged_in_client.get(f"/cases/{case.id}")
    p = page(response)
    assert "candidate-volume" not in p.by_id and "segment-legend" not in p.by_id
    assert not [a for a in p.all("input") if str(a.get("id", "")).startswith("toggle-")]
    assert "Nothing is drawn over the scans" in _text(response)
    assert "Grad-CAM saliency" not in _text(response).split('id="viewer-hint"')[1].split("</p>")[0]


def test_the_viewer_hint_names_the_overlays_there_are(logged_in_client, outcome_case):
    case, _ = outcome_case("subtype")
    response = logged_in_client.get(f"/cases/{case.id}")
    hint = _text(response).split('id="viewer-hint">')[1].split("</p>")[0]
    assert hint.startswith("The crosshair starts on the chosen slice. The tumour")
    assert "sub-regions are coloured as in the legend" in hint


SUBTYPE_TRAINING = "292 synthetic glioma phantoms"
"""Words of the subtype model's training data (models/glioma-demo/card.json)."""


def _model_section(html: str) -> str:
    return html.split('id="model-title"')[1].split("</section>")[0]


@pytest.mark.parametrize(("outcome", "task", "name"), [
    ("not_glioma", "tumour-type", "tumour-type-demo"),
    ("uncertain_type", "tumour-type", "tumour-type-demo"),
    ("out_of_distribution", "tumour-type", "tumour-type-demo"),
    ("no_tumour", "segmentation", "segmentation-demo"),
    ("needs_review", "sequence", "sequence-demo"),
    ("subtype", "subtype", "glioma-demo"),
])
def test_the_page_credits_the_model_that_decided(logged_in_client, outcome_case, outcome, task,
                                                 name):
    case, summary = outcome_case(outcome)
    response = logged_in_client.get(f"/cases/{case.id}")
    p = page(response)
    html = _text(response)
    card = summary["models"][task]
    assert p.by_id["model-decided"]["data-task"] == task
    assert f'id="model-name">{name}</span>' in html
    assert f'id="model-version">{card["version"]}</span>' in html
    training = str(escape(card["training_data"].rstrip(".")))  # as the page writes it
    assert f'id="training-data">{training}</dd>' in html
    note = html.split('id="phantom-note"')[1].split("</p>")[0]
    assert f"{name} {card['version']}" in note and training in note
    assert "trained only on synthetic phantoms" in note  # the demo disclaimer stays
    assert "demo-banner" in p.by_id
    if outcome != "subtype":
        assert SUBTYPE_TRAINING not in html and "glioma-demo" not in html
    # The models that ran before the decider are listed; none that did not run.
    others = [a["data-task"] for a in p.all("li") if "data-task" in a]
    assert others == [t for t in summary["models"] if t != task]
