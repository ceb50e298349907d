from pathlib import Path

import pytest

from tests.conftest import BOTH_DATABASES, database_for, login
from tests.factories import make_prediction


@pytest.fixture(params=BOTH_DATABASES)
def database(request):
    """Run this module on SQLite and, when TEST_DATABASE_URL is set, on PostgreSQL."""
    return database_for(request)


def _write_results(app, case):
    results = Path(app.config["STORAGE_DIR"]) / "cases" / case.id / "results"
    results.mkdir(parents=True)
    (results / "summary.json").write_text('{"class": "G"}')
    (results / "montage.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return results


def test_other_clinician_gets_404_on_case_status_and_files(app, case_factory, other_user):
    case = case_factory()
    make_prediction(case)
    _write_results(app, case)
    client = app.test_client()
    login(client, other_user.email)
    for suffix in ("", "/status", "/files/summary.json", "/files/montage.png", "/scans/flair"):
        assert client.get(f"/cases/{case.id}{suffix}").status_code == 404, suffix
    assert client.post(f"/cases/{case.id}/delete").status_code == 404
    assert client.post(f"/cases/{case.id}/rerun").status_code == 404
    assert case.id.encode() not in client.get("/cases").data


def test_owner_sees_status_and_files_with_content_types(app, logged_in_client, case_factory):
    case = case_factory()
    make_prediction(case)
    _write_results(app, case)
    status = logged_in_client.get(f"/cases/{case.id}/status")
    assert status.get_json()["status"] == "done"
    summary = logged_in_client.get(f"/cases/{case.id}/files/summary.json")
    assert summary.status_code == 200 and summary.mimetype == "application/json"
    assert summary.get_json() == {"class": "G"}
    montage = logged_in_client.get(f"/cases/{case.id}/files/montage.png")
    assert montage.mimetype == "image/png"
    assert montage.get_data().startswith(b"\x89PNG")
    assert logged_in_client.get(f"/cases/{case.id}/files/secrets.txt").status_code == 404
    assert logged_in_client.get(f"/cases/{case.id}/files/..%2Fscans").status_code == 404


def test_admin_sees_every_case(admin_client, case_factory):
    case = case_factory()
    assert admin_client.get(f"/cases/{case.id}").status_code == 200
    assert case.id.encode() in admin_client.get("/cases").data


def test_unknown_case_is_404_page(logged_in_client):
    response = logged_in_client.get("/cases/0123456789abcdef0123456789abcdef")
    assert response.status_code == 404
    assert b"not yours to see" in response.data


def test_status_404_is_json_for_fetch(logged_in_client):
    response = logged_in_client.get("/cases/deadbeef/status",
                                    headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.get_json()["error"]


def test_delete_removes_row_and_files(app, logged_in_client, case_factory, db):
    from app.models import Case

    case = case_factory(status="failed")
    case_id = case.id
    results = _write_results(app, case)
    response = logged_in_client.post(f"/cases/{case_id}/delete")
    assert response.status_code == 302
    assert db.session.get(Case, case_id) is None
    assert not results.exists()


def test_rerun_requeues_a_failed_case(app, logged_in_client, case_factory, db):
    case = case_factory(status="failed", error_message="bad")
    assert logged_in_client.post(f"/cases/{case.id}/rerun").status_code == 302
    db.session.refresh(case)
    assert case.status == "queued" and case.error_message is None
