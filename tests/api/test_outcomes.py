"""The API for every outcome: the segmentation, tumour-type and in-distribution sections as the
stages wrote them, a class only for a subtype, the report download; all as documented."""

from __future__ import annotations

import pytest
import schemathesis

from app import storage
from app.pipeline.outcomes import OUTCOMES
from tests.api.conftest import API, client_with_token
from tests.factories import make_prediction
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
        write_real_artefacts(storage.results_dir(case.id), saliency=outcome == "subtype")
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
    assert result["segmentation"] == (
        None if outcome == "needs_review" else
        {k: summary["segmentation"][k] for k in ("measurements", "min_tumour_ml", "labels")})
    if "tumour_type" in summary:
        assert result["tumour_type"]["probabilities"] == pytest.approx(
            summary["tumour_type"]["probabilities"])
        assert result["tumour_type"]["out_of_distribution"] is (outcome == "out_of_distribution")
        assert result["in_distribution"] == pytest.approx(summary["in_distribution"])
    else:
        assert result["tumour_type"] is None and result["in_distribution"] is None
    files = response.get_json()["files"]
    assert {"segmentation.nii.gz", "measurements.json", "measurements.csv",
            "report.pdf"} <= set(files)
    for name in ("measurements.csv", "measurements.json", "segmentation.nii.gz"):
        download = api_client.get(files[name])
        api_schema["/cases/{case_id}/files/{name}"]["GET"].validate_response(download)


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
