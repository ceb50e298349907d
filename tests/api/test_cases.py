"""GET / DELETE /api/v1/cases[/<id>[/files/<name>]]: results, listing, access, deletion."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import storage
from app.cases.schemas import DISCLAIMER
from app.models import AuditEvent, Case, Prediction, Scan
from app.models.base import utcnow
from app.pipeline.render.artefacts import ARTEFACTS
from tests.api.conftest import API, SUMMARY, client_with_token, upload_data
from tests.factories import SUMMARY_TIMINGS, make_prediction, write_artefacts

UNKNOWN = "0123456789abcdef0123456789abcdef"


# --- GET /cases/<id> -------------------------------------------------------------------------

def test_queued_case_shows_progress_and_no_result(api_client, case_factory):
    case = case_factory(pseudonym="P-7")
    body = api_client.get(f"{API}/cases/{case.id}").get_json()
    assert body["id"] == case.id and body["url"] == f"{API}/cases/{case.id}"
    assert body["status"] == "queued" and body["stage"] == "queued" and body["percent"] == 0
    assert body["pseudonym"] == "P-7"
    assert body["result"] is None and body["error"] is None and body["files"] == {}
    assert body["created_at"].endswith("+00:00")


def test_running_case_shows_stage_and_percent(api_client, case_factory):
    case = case_factory(status="running", stage="classifying", percent=60)
    body = api_client.get(f"{API}/cases/{case.id}").get_json()
    assert (body["status"], body["stage"], body["percent"]) == ("running", "classifying", 60)
    assert body["result"] is None


def test_done_case_shows_the_whole_result(api_client, done_case):
    case = done_case()
    response = api_client.get(f"{API}/cases/{case.id}")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["status"] == "done" and body["percent"] == 100 and body["error"] is None
    result = body["result"]
    assert result["class"] == "G"
    assert result["class_name"] == "Glioblastoma, IDH-wildtype"
    assert result["grade_group"] == "WHO grade 4"
    assert result["probabilities"] == {"A": 0.1, "O": 0.1, "G": 0.8}
    assert result["uncertainty"] == SUMMARY["uncertainty"]
    assert result["low_confidence"] is False and result["no_lesion_found"] is False
    assert result["slice_index"] == 7 and result["slice_method"] == "robust"
    assert result["candidate_volume_ml"] == 12.5
    assert result["model"] == {
        "name": "test-model", "version": "0", "weights_sha256": "0" * 64, "demo": True,
        "training_data": "synthetic phantoms",
    }
    assert result["timings"] == SUMMARY_TIMINGS  # the summary's own timings, total included
    assert result["outcome"] == "subtype" and result["message"] is None
    assert result["disclaimer"] == DISCLAIMER and "not for clinical use" in DISCLAIMER
    assert body["files"] == {**{name: f"{API}/cases/{case.id}/files/{name}" for name in ARTEFACTS},
                             "report.pdf": f"{API}/cases/{case.id}/files/report.pdf"}


def test_result_of_a_non_demo_model_has_no_disclaimer(api_client, done_case):
    case = done_case(demo=False)
    result = api_client.get(f"{API}/cases/{case.id}").get_json()["result"]
    assert result["model"]["demo"] is False and result["disclaimer"] is None


def test_result_from_an_old_minimal_summary_falls_back_to_columns_and_tables(
        api_client, case_factory):
    case = case_factory()
    # What an early release stored: no outcome, names, uncertainty or timings in the summary.
    make_prediction(case, summary={"class": "O", "probabilities": {"A": 0.2, "O": 0.7, "G": 0.1},
                                   "model": {"demo": True}, "slice_index": 9})
    result = api_client.get(f"{API}/cases/{case.id}").get_json()["result"]
    assert result["outcome"] == "subtype"
    assert result["class"] == "O" and result["class_name"].startswith("Oligodendroglioma")
    assert result["grade_group"].startswith("WHO grade 2")
    assert result["uncertainty"] is None and result["low_confidence"] is False
    assert result["model"]["name"] == "" and result["slice_index"] == 9
    assert result["disclaimer"] == DISCLAIMER


def test_result_without_a_subtype_has_null_class_and_drops_unfit_sections(api_client,
                                                                         case_factory):
    case = case_factory()
    summary = {**SUMMARY, "outcome": "no_tumour", "class": "G", "class_name": None,
               "grade_group": None, "probabilities": None, "message": "No tumour was found.",
               "segmentation": {"volumes_ml": {"whole": 0.0}}, "a_future_section": {"x": 1}}
    make_prediction(case, summary=summary)
    result = api_client.get(f"{API}/cases/{case.id}").get_json()["result"]
    assert result["outcome"] == "no_tumour" and result["message"] == "No tumour was found."
    # Only a subtype outcome has a class, even when a summary (wrongly) holds one.
    assert result["class"] is None and result["probabilities"] is None
    assert result["uncertainty"] is None and result["class_name"] is None
    # A section of another shape (an older pipeline) is left out rather than shown half.
    assert result["segmentation"] is None and result["tumour_type"] is None
    assert "a_future_section" not in result  # undeclared sections are left out, not refused


def test_failed_case_shows_the_error(api_client, case_factory):
    case = case_factory(status="failed", stage="failed", error_message="FLAIR: no brain found.")
    body = api_client.get(f"{API}/cases/{case.id}").get_json()
    assert body["status"] == "failed" and body["error"] == "FLAIR: no brain found."
    assert body["result"] is None


def test_viewing_a_result_is_audited_but_polling_is_not(api_client, db, case_factory, done_case):
    queued = case_factory()
    finished = done_case()
    api_client.get(f"{API}/cases/{queued.id}")
    api_client.get(f"{API}/cases/{finished.id}")
    views = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "case_view")).all()
    assert [(e.case_id, e.detail) for e in views] == [(finished.id, "api")]


@pytest.mark.parametrize("case_id", [UNKNOWN, "nothex", "ABC", "../etc", "é"])
def test_unknown_case_is_404_json(api_client, case_id):
    response = api_client.get(f"{API}/cases/{case_id}")
    assert response.status_code == 404
    assert response.get_json()["status"] == 404


def test_other_users_case_is_404_everywhere(app, api_client, db, other_user, done_case):
    case = done_case(owner=other_user)
    for suffix in ("", "/files/summary.json", "/files/montage.png"):
        response = api_client.get(f"{API}/cases/{case.id}{suffix}")
        assert response.status_code == 404, suffix
        assert response.get_json()["error"]
    assert api_client.delete(f"{API}/cases/{case.id}").status_code == 404
    assert db.session.get(Case, case.id) is not None
    assert case.id not in str(api_client.get(f"{API}/cases").get_json())


def test_admin_sees_others_cases(app, admin_token, done_case, other_user):
    case = done_case(owner=other_user)
    admin = client_with_token(app, admin_token)
    assert admin.get(f"{API}/cases/{case.id}").get_json()["result"]["class"] == "G"
    assert admin.get(f"{API}/cases/{case.id}/files/summary.json").status_code == 200
    assert [c["id"] for c in admin.get(f"{API}/cases").get_json()["items"]] == [case.id]


# --- GET /cases ------------------------------------------------------------------------------

def _aged_cases(case_factory, n: int, **kwargs) -> list[Case]:
    """`n` cases, the first the oldest, one minute apart."""
    start = utcnow() - timedelta(hours=1)
    return [case_factory(created_at=start + timedelta(minutes=i), **kwargs) for i in range(n)]


def test_list_shows_own_cases_newest_first(api_client, case_factory, other_user):
    mine = _aged_cases(case_factory, 3)
    case_factory(owner=other_user)
    body = api_client.get(f"{API}/cases").get_json()
    assert [c["id"] for c in body["items"]] == [c.id for c in reversed(mine)]
    assert (body["page"], body["per_page"], body["total"], body["pages"]) == (1, 25, 3, 1)
    assert body["items"][0]["status"] == "queued"


def test_list_is_empty_for_a_new_user(api_client):
    body = api_client.get(f"{API}/cases").get_json()
    assert body == {"items": [], "page": 1, "per_page": 25, "total": 0, "pages": 0}


def test_admin_lists_all_cases(app, admin_token, case_factory, other_user, admin):
    case_factory()
    case_factory(owner=other_user)
    case_factory(owner=admin)
    body = client_with_token(app, admin_token).get(f"{API}/cases").get_json()
    assert body["total"] == 3 and len(body["items"]) == 3


def test_pagination(api_client, case_factory):
    cases = list(reversed(_aged_cases(case_factory, 5)))  # newest first
    pages = [api_client.get(f"{API}/cases?page={p}&per_page=2").get_json() for p in (1, 2, 3, 4)]
    assert [[c["id"] for c in page["items"]] for page in pages] == [
        [c.id for c in cases[0:2]], [c.id for c in cases[2:4]], [cases[4].id], []
    ]
    assert all(p["total"] == 5 and p["pages"] == 3 and p["per_page"] == 2 for p in pages)
    assert [p["page"] for p in pages] == [1, 2, 3, 4]


def test_per_page_accepts_up_to_100(api_client, case_factory):
    _aged_cases(case_factory, 3)
    body = api_client.get(f"{API}/cases?per_page=100").get_json()
    assert body["per_page"] == 100 and len(body["items"]) == 3


def test_the_last_allowed_page_is_empty_not_an_error(api_client, case_factory):
    case_factory()
    body = api_client.get(f"{API}/cases?page=1000000&per_page=100").get_json()
    assert body["items"] == [] and body["page"] == 1_000_000 and body["total"] == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [("page=0", "page"), ("page=-1", "page"), ("page=x", "page"), ("page=1.5", "page"),
     ("per_page=0", "per_page"), ("per_page=101", "per_page"), ("per_page=", "per_page"),
     ("page=%C2%B2", "page"), ("perpage=10", "perpage"), ("page=1&=0", ""),
     ("page=1000001", "page"), ("page=9223372036854775807", "page"), ("page=" + "9" * 5000, "page"),
     ("per_page=" + "0" * 10 + "5", "per_page")],
)
def test_bad_pagination_is_refused(api_client, query, field):
    response = api_client.get(f"{API}/cases?{query}")
    assert response.status_code == 400
    assert response.get_json()["field"] == field


# --- DELETE /cases/<id> ----------------------------------------------------------------------

def test_delete_removes_the_case_its_files_and_artefacts(app, api_client, db, nifti_case):
    created = api_client.post(f"{API}/cases", data=upload_data(nifti_case),
                              content_type="multipart/form-data").get_json()
    case = db.session.get(Case, created["id"])
    from tests.factories import make_prediction

    make_prediction(case)
    write_artefacts(case)
    folder = storage.case_dir(case.id)
    assert len([p for p in folder.rglob("*") if p.is_file()]) == 4 + len(ARTEFACTS)

    case_id = case.id
    response = api_client.delete(f"{API}/cases/{case_id}")
    assert response.status_code == 204 and response.get_data() == b""
    assert not folder.exists()
    for model in (Case, Scan, Prediction):
        assert db.session.scalar(select(func.count()).select_from(model)) == 0
    assert api_client.get(f"{API}/cases/{case_id}").status_code == 404
    assert api_client.delete(f"{API}/cases/{case_id}").status_code == 404
    assert db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "case_delete")
    ).case_id == case_id
    assert not [p for p in Path(app.config["STORAGE_DIR"]).rglob("*") if p.is_file()]


def test_admin_may_delete_others_cases(app, admin_token, db, case_factory, other_user):
    case_id = case_factory(owner=other_user).id
    assert client_with_token(app, admin_token).delete(f"{API}/cases/{case_id}").status_code == 204
    assert db.session.get(Case, case_id) is None


# --- GET /cases/<id>/files/<name> ------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "mimetype"),
    [("montage.png", "image/png"), ("gradcam.png", "image/png"),
     ("candidate_mask.nii.gz", "application/gzip"), ("heatmap.nii.gz", "application/gzip"),
     ("summary.json", "application/json")],
)
def test_files_have_their_content_types(api_client, done_case, name, mimetype):
    case = done_case()
    response = api_client.get(f"{API}/cases/{case.id}/files/{name}")
    assert response.status_code == 200 and response.mimetype == mimetype
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_data() == (storage.results_dir(case.id) / name).read_bytes()


def test_summary_file_is_the_pipeline_summary(api_client, done_case):
    case = done_case()
    assert api_client.get(f"{API}/cases/{case.id}/files/summary.json").get_json() == SUMMARY


def test_file_downloads_are_audited(api_client, db, done_case):
    case = done_case()
    api_client.get(f"{API}/cases/{case.id}/files/montage.png")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "case_file"))
    assert event.case_id == case.id and event.detail == "api montage.png"


@pytest.mark.parametrize("name", ["secrets.txt", "..%2Fscans%2Fflair.nii.gz", "flair.nii.gz",
                                  "summary.JSON"])
def test_unknown_file_names_are_404(api_client, done_case, name):
    case = done_case()
    assert api_client.get(f"{API}/cases/{case.id}/files/{name}").status_code == 404


def test_files_are_404_before_the_worker_writes_them(api_client, case_factory):
    case = case_factory(status="running", stage="classifying", percent=60)
    write_artefacts(case, ("montage.png",))
    assert api_client.get(f"{API}/cases/{case.id}/files/montage.png").status_code == 200
    assert api_client.get(f"{API}/cases/{case.id}/files/summary.json").status_code == 404
    body = api_client.get(f"{API}/cases/{case.id}").get_json()
    assert list(body["files"]) == ["montage.png"]


def test_models_of_several_tasks_are_shown_and_any_demo_model_sets_the_disclaimer(
        api_client, case_factory):
    case = case_factory()
    site = {**SUMMARY["model"], "demo": False, "name": "site-subtype"}
    segmentation = {"name": "seg-demo", "version": "0.1", "weights_sha256": "1" * 64,
                    "demo": True, "training_data": "synthetic phantoms"}
    make_prediction(case, summary={**SUMMARY, "model": site,
                                   "models": {"subtype": site, "segmentation": segmentation}})
    result = api_client.get(f"{API}/cases/{case.id}").get_json()["result"]
    assert result["model"]["name"] == "site-subtype" and result["model"]["demo"] is False
    assert result["models"]["segmentation"]["name"] == "seg-demo"
    assert result["disclaimer"] == DISCLAIMER
