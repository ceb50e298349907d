"""The status endpoint serialises every section the pipeline's stages add to a summary."""

from __future__ import annotations

from tests.factories import make_prediction, make_summary

# What the scope stage (app/pipeline/analysis/stages.py) adds: its result, and its conformal
# in-distribution p-value as a number.
SCOPE = {"tumour_type": {"label": "glioma", "confident": True, "in_distribution": 0.42},
         "in_distribution": 0.42}


def test_status_of_a_case_with_a_scope_result_is_json(logged_in_client, case_factory):
    case = case_factory()
    make_prediction(case, summary=make_summary(extra=SCOPE))
    response = logged_in_client.get(f"/cases/{case.id}/status")
    assert response.status_code == 200, response.get_data(as_text=True)
    result = response.get_json()["result"]
    assert result["in_distribution"] == 0.42
    assert result["tumour_type"]["label"] == "glioma"
