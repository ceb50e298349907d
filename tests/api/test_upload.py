"""POST /api/v1/cases: the same validation as the upload page, JSON answers, nothing kept."""

from __future__ import annotations

import io
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from sqlalchemy import func, select

from app.models import AuditEvent, Case, Scan
from tests.api.conftest import API, upload_data
from tests.conftest import write_nifti


def stored_files(app) -> list[Path]:
    root = Path(app.config["STORAGE_DIR"])
    return [p for p in root.rglob("*") if p.is_file()]


def assert_nothing_kept(app, db) -> None:
    assert db.session.scalar(select(func.count()).select_from(Case)) == 0
    assert db.session.scalar(select(func.count()).select_from(Scan)) == 0
    assert stored_files(app) == []


def post(client, data):
    return client.post(f"{API}/cases", data=data, content_type="multipart/form-data")


def expect_refusal(client, app, db, data, field: str | None, words: str) -> dict:
    response = post(client, data)
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert body["field"] == field and body["status"] == 400
    assert words.lower() in body["error"].lower(), body
    assert_nothing_kept(app, db)
    return body


def test_valid_upload_answers_201_and_queues_the_case(api_client, app, db, nifti_case, user):
    response = post(api_client, upload_data(nifti_case, pseudonym="P-01"))
    assert response.status_code == 201
    body = response.get_json()
    case = db.session.scalars(select(Case)).one()
    assert body == {"id": case.id, "status": "queued", "url": f"{API}/cases/{case.id}"}
    assert response.headers["Location"].endswith(f"{API}/cases/{case.id}")
    assert case.owner_id == user.id and case.pseudonym == "P-01"
    assert case.enqueued_at is not None  # sent to the (in-memory) broker
    assert sorted(s.sequence for s in case.scans) == sorted(("flair", "t1", "t1ce", "t2"))
    assert len(stored_files(app)) == 4
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "upload")).one()
    assert event.case_id == case.id and event.user_id == user.id and event.detail == "api"
    polled = api_client.get(body["url"])
    assert polled.status_code == 200 and polled.get_json()["status"] == "queued"


def test_upload_without_pseudonym_stores_none(api_client, db, nifti_case):
    assert post(api_client, upload_data(nifti_case)).status_code == 201
    assert db.session.scalars(select(Case)).one().pseudonym is None


@pytest.mark.parametrize("missing", ["flair", "t1", "t1ce", "t2"])
def test_missing_file_is_refused(api_client, app, db, nifti_case, missing):
    data = upload_data({k: v for k, v in nifti_case.items() if k != missing})
    expect_refusal(api_client, app, db, data, missing, missing)


def test_file_sent_as_a_text_field_is_refused(api_client, app, db, nifti_case):
    data = upload_data(nifti_case, t1="not a file")
    expect_refusal(api_client, app, db, data, "t1", "file field")


def test_body_that_is_not_multipart_is_refused(api_client, app, db):
    response = api_client.post(f"{API}/cases", json={"flair": "x"})
    assert response.status_code == 400
    assert response.get_json()["field"] == "flair"
    assert_nothing_kept(app, db)


def test_non_nifti_content_is_refused(api_client, app, db, nifti_case, tmp_path):
    fake = tmp_path / "fake_t2.nii.gz"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 400)
    expect_refusal(api_client, app, db, upload_data({**nifti_case, "t2": fake}), "t2", "NIfTI")


def test_truncated_gzip_is_refused(api_client, app, db, nifti_case, tmp_path):
    blob = write_nifti(tmp_path / "big_flair.nii.gz", shape=(64, 64, 40)).read_bytes()
    cut = tmp_path / "cut_flair.nii.gz"
    cut.write_bytes(blob[: len(blob) // 2])
    expect_refusal(api_client, app, db, upload_data({**nifti_case, "flair": cut}), "flair",
                   "FLAIR")


def test_empty_file_is_refused(api_client, app, db, nifti_case, tmp_path):
    empty = tmp_path / "empty_t1.nii"
    empty.write_bytes(b"")
    expect_refusal(api_client, app, db, upload_data({**nifti_case, "t1": empty}), "t1", "empty")


def test_2d_image_is_refused(api_client, app, db, nifti_case, tmp_path):
    flat = tmp_path / "flat_t1.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((24, 24), np.int16), np.eye(4)), str(flat))
    expect_refusal(api_client, app, db, upload_data({**nifti_case, "t1": flat}), "t1", "T1")


def test_mismatched_grids_are_refused(api_client, app, db, nifti_case, tmp_path):
    other = write_nifti(tmp_path / "odd_t2.nii.gz", shape=(20, 24, 16))
    expect_refusal(api_client, app, db, upload_data({**nifti_case, "t2": other}), "t2", "T2")


def test_volume_larger_than_512_per_side_is_refused(api_client, app, db, nifti_case, tmp_path):
    huge = tmp_path / "huge_t1ce.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((600, 2, 2), np.int16), np.eye(4)), str(huge))
    expect_refusal(api_client, app, db, upload_data({**nifti_case, "t1ce": huge}), "t1ce", "512")


@pytest.mark.parametrize("pseudonym", ["<script>", "x" * 65, "a/b", "Ünïcödé; DROP"])
def test_bad_pseudonym_is_refused(api_client, app, db, nifti_case, pseudonym):
    expect_refusal(api_client, app, db, upload_data(nifti_case, pseudonym=pseudonym),
                   "pseudonym", "pseudonym")


def test_request_over_the_size_limit_answers_413_json(api_client, app, db, nifti_case):
    app.config["MAX_CONTENT_LENGTH"] = 2048
    response = post(api_client, upload_data(nifti_case))
    assert response.status_code == 413
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["status"] == 413 and "too large" in body["error"]
    assert_nothing_kept(app, db)


def test_upload_without_token_keeps_nothing(client, app, db, nifti_case):
    response = post(client, upload_data(nifti_case))
    assert response.status_code == 401
    assert_nothing_kept(app, db)


def test_uploaded_names_do_not_choose_stored_paths(api_client, app, db, nifti_case):
    data = upload_data(nifti_case)
    data["flair"] = (io.BytesIO(nifti_case["flair"].read_bytes()), "../../evil_flair.nii.gz")
    assert post(api_client, data).status_code == 201
    scan = db.session.scalar(select(Scan).where(Scan.sequence == "flair"))
    assert scan.stored_path.endswith("scans/flair.nii.gz")
    assert scan.original_filename == "flair.nii.gz"  # the client's name is never stored
