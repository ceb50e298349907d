"""The API for every outcome: the segmentation, tumour-type and in-distribution sections as the
stages wrote them, a class only for a subtype, the report download; all as documented."""

from __future__ import annotations

import pytest
import schemathesis

from app import storage
from app.pipeline.outcomes import OUTCOMES
from tests.api.conftest import API, client_with_token
from tests.factories import make_prediction, write_artefacts
from tests.sections import outcome_summary, write_real_artefacts


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_wsgi(f"{API}/openapi.json", app)


@pytest.fixture
def outcome_case(case_factory):
    def make(outcome: str):
        case = case_factory()
        summary = outcome_summary(outcome)
        make_prediction(case, summary=summary)
        write_artefacts(case, ("summary.json",), summary=summary)
        write_real_artefacts(storage.results_dir(case.id), summary=summary)
        return case, summary

    return make


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_each_outcome_as_documented(api_client, api_schema, outcome_case, outcome):
    case, summary = outcome_case(outcome)
    response = api_client.get(f"{API}/cases/{case.id}")
    api_schema["/cases/{case_id}"]["GET"].validate_response(response)
    result = response.get_json()["result"]
    assert result["outcome"] == outcome and result["message"] == summary["message"]
    subtype = outcome == "subtype"
    for key in ("class", "class_name", "grade_group", "probabilities", "uncertainty"):
        assert (result[key] is not None) is subtype, key
    # The scope runs before the segmentation: only a case it let through has one.
    assert result["segmentation"] == (
        None if "segmentation" not in summary else
        {k: summary["segmentation"][k] for k in ("measurements", "min_tumour_ml", "labels")})
    if "tumour_type" in summary:
        assert result["tumour_type"]["probabilities"] == pytest.approx(
            summary["tumour_type"]["probabilities"])
        assert result["tumour_type"]["out_of_distribution"] is (outcome == "out_of_distribution")
        assert result["in_distribution"] == pytest.approx(summary["in_distribution"])
    else:
        assert result["tumour_type"] is None and result["in_distribution"] is None
    files = response.get_json()["files"]
    assert "report.pdf" in files and set(files) - {"report.pdf"} <= set(
        summary["artefacts"].values())  # nothing the analysis did not write
    segmented = {"segmentation.nii.gz", "measurements.json", "measurements.csv"}
    assert (segmented <= set(files)) is ("segmentation" in summary)
    for name in sorted(segmented & set(files)):
        download = api_client.get(files[name])
        api_schema["/cases/{case_id}/files/{name}"]["GET"].validate_response(download)


@pytest.mark.parametrize(("outcome", "task"), [
    ("not_glioma", "tumour-type"), ("out_of_distribution", "tumour-type"),
    ("no_tumour", "segmentation"), ("subtype", "subtype"),
])
def test_the_result_credits_the_model_that_decided(api_client, outcome_case, outcome, task):
    case, summary = outcome_case(outcome)
    result = api_client.get(f"{API}/cases/{case.id}").get_json()["result"]
    assert result["decided_by"] == task
    assert result["model"] == result["models"][task]
    assert result["model"]["name"] == summary["models"][task]["name"]
    assert result["model"]["training_data"] == summary["models"][task]["training_data"]
    assert result["disclaimer"]  # a demo model took part
    if outcome != "subtype":
        assert "subtype" not in result["models"]  # it never ran
        assert "292 synthetic glioma phantoms" not in str(result)


def test_an_old_result_credits_the_only_possible_decider(api_client, case_factory):
    """A summary stored before `decided_by` held the subtype model as `model` for every outcome."""
    summary = outcome_summary("not_glioma")
    old = {**summary, "model": {"name": "glioma-demo", "version": "1.1", "demo": True,
                                "weights_sha256": "", "training_data": "292 synthetic glioma"},
           "models": {**summary["models"], "subtype": {"name": "glioma-demo"}}}
    del old["decided_by"]
    case = case_factory()
    make_prediction(case, summary=old)
    result = api_client.get(f"{API}/cases/{case.id}").get_json()["result"]
    assert result["decided_by"] == "tumour-type"
    assert result["model"]["name"] == "tumour-type-demo"


def test_the_document_describes_the_sections(client):
    document = client.get(f"{API}/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    result = schemas["Result"]["properties"]
    assert {"segmentation", "tumour_type", "in_distribution"} <= set(result)
    measurements = schemas["Measurements"]
    assert {"wt_ml", "tc_ml", "et_ml", "necrosis_ml", "oedema_ml", "laterality", "lesions",
            "multifocal", "crosses_midline", "bidimensional"} <= set(measurements["required"])
    assert measurements["properties"]["laterality"]["enum"] == [
        "left", "right", "bilateral", "none"]
    assert set(schemas["Bidimensional"]["required"]) >= {"longest_mm", "perpendicular_mm",
                                                          "product_mm2", "slice_index"}
    assert schemas["TumourType"]["properties"]["tumour_type"]["enum"][:2] == [
        "glioma", "meningioma"]
    report = document["paths"]["/cases/{case_id}/files/report.pdf"]["get"]
    assert report["operationId"] == "getCaseReport"
    assert "application/pdf" in report["responses"]["200"]["content"]


def test_report_download(app, api_client, api_schema, outcome_case, case_factory, other_token):
    case, _ = outcome_case("not_glioma")
    response = api_client.get(f"{API}/cases/{case.id}/files/report.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_data().startswith(b"%PDF-")
    api_schema["/cases/{case_id}/files/report.pdf"]["GET"].validate_response(response)
    other = client_with_token(app, other_token)
    assert other.get(f"{API}/cases/{case.id}/files/report.pdf").status_code == 404
    queued = case_factory()
    missing = api_client.get(f"{API}/cases/{queued.id}/files/report.pdf")
    assert missing.status_code == 404 and missing.get_json()["error"]
    api_schema["/cases/{case_id}/files/report.pdf"]["GET"].validate_response(missing)
    assert "report.pdf" not in api_client.get(f"{API}/cases/{queued.id}").get_json()["files"]
