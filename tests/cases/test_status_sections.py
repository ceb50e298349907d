"""The status endpoint serialises every section the pipeline's stages add to a summary."""

from __future__ import annotations

from tests.factories import make_prediction
from tests.sections import outcome_summary


def test_status_of_a_case_with_a_scope_result_is_json(logged_in_client, case_factory):
    """The scope stage stores its in-distribution p-value as a number (a 500 once)."""
    case = case_factory()
    summary = outcome_summary("subtype")
    make_prediction(case, summary=summary)
    response = logged_in_client.get(f"/cases/{case.id}/status")
    assert response.status_code == 200, response.get_data(as_text=True)
    result = response.get_json()["result"]
    assert result["in_distribution"] == summary["in_distribution"]
    assert 0 < result["in_distribution"] <= 1
    assert result["tumour_type"]["tumour_type"] == "glioma"
    assert result["segmentation"]["measurements"]["wt_ml"] > 0
