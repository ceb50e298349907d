import gzip
import io
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from sqlalchemy import func, select

from app.models import Case, Scan
from tests.conftest import BOTH_DATABASES, database_for, write_nifti

SEQS = ("flair", "t1", "t1ce", "t2")


@pytest.fixture(params=BOTH_DATABASES)
def database(request):
    """Run this module on SQLite and, when TEST_DATABASE_URL is set, on PostgreSQL."""
    return database_for(request)


def form_data(paths: dict[str, Path], **overrides) -> dict:
    data = {seq: (io.BytesIO(Path(p).read_bytes()), Path(p).name) for seq, p in paths.items()}
    data.update(overrides)
    return data


def stored_files(app) -> list[Path]:
    root = Path(app.config["STORAGE_DIR"])
    return [p for p in root.rglob("*") if p.is_file()]


def assert_nothing_kept(app, db):
    assert db.session.scalar(select(func.count()).select_from(Case)) == 0
    assert db.session.scalar(select(func.count()).select_from(Scan)) == 0
    assert stored_files(app) == []


def test_valid_upload_creates_a_queued_case_with_four_scans(logged_in_client, app, db,
                                                            nifti_case, user):
    response = logged_in_client.post("/cases/new", data=form_data(nifti_case, pseudonym="P-01"),
                                     content_type="multipart/form-data")
    assert response.status_code == 302
    case = db.session.scalars(select(Case)).one()
    assert response.headers["Location"].endswith(f"/cases/{case.id}")
    assert case.owner_id == user.id and case.status == "queued" and case.pseudonym == "P-01"
    assert len(case.id) == 32
    assert sorted(s.sequence for s in case.scans) == sorted(SEQS)
    for scan in case.scans:
        path = Path(app.config["STORAGE_DIR"]) / scan.stored_path
        assert path.is_file()
        # the server picks the name; the client's name (it may hold the patient's) is not kept
        assert path.name == f"{scan.sequence}.nii.gz"
        assert scan.original_filename == f"{scan.sequence}.nii.gz"
        import hashlib
        assert scan.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert scan.shape == [24, 24, 16] and scan.voxel_size == [1.0, 1.0, 1.0]
        assert scan.size_bytes == path.stat().st_size
    page = logged_in_client.get(response.headers["Location"])
    assert page.status_code == 200 and b"queued" in page.data
    listing = logged_in_client.get("/cases")
    assert case.id.encode() in listing.data


def test_json_upload_answers_with_the_case_url(logged_in_client, db, nifti_case):
    response = logged_in_client.post("/cases/new", data=form_data(nifti_case),
                                     headers={"Accept": "application/json"},
                                     content_type="multipart/form-data")
    assert response.status_code == 201
    assert response.get_json()["redirect"].startswith("/cases/")


def _expect_slot_error(client, app, db, data, slot, words):
    response = client.post("/cases/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'id="{slot}-error"' in page, page
    error = page.split(f'id="{slot}-error">')[1].split("</p>")[0]
    assert words.lower() in error.lower(), error
    assert_nothing_kept(app, db)
    return error


def test_missing_slot(logged_in_client, app, db, nifti_case):
    data = form_data({k: v for k, v in nifti_case.items() if k != "t1ce"})
    _expect_slot_error(logged_in_client, app, db, data, "t1ce", "T1ce")


def test_png_renamed_nii_gz_is_refused(logged_in_client, app, db, nifti_case, tmp_path):
    fake = tmp_path / "fake_t2.nii.gz"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 400)
    _expect_slot_error(logged_in_client, app, db, form_data({**nifti_case, "t2": fake}),
                       "t2", "NIfTI")


def test_truncated_gzip_is_refused(logged_in_client, app, db, nifti_case, tmp_path):
    big = write_nifti(tmp_path / "big_flair.nii.gz", shape=(64, 64, 40))
    blob = big.read_bytes()
    cut = tmp_path / "cut_flair.nii.gz"
    cut.write_bytes(blob[: len(blob) // 2])
    _expect_slot_error(logged_in_client, app, db, form_data({**nifti_case, "flair": cut}),
                       "flair", "FLAIR")


def test_empty_file_is_refused(logged_in_client, app, db, nifti_case, tmp_path):
    empty = tmp_path / "empty_t1.nii"
    empty.write_bytes(b"")
    _expect_slot_error(logged_in_client, app, db, form_data({**nifti_case, "t1": empty}),
                       "t1", "empty")


def test_2d_image_is_refused(logged_in_client, app, db, nifti_case, tmp_path):
    flat = tmp_path / "flat_t1.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((24, 24), np.int16), np.eye(4)), str(flat))
    _expect_slot_error(logged_in_client, app, db, form_data({**nifti_case, "t1": flat}),
                       "t1", "T1")


def test_mismatched_grids_are_refused(logged_in_client, app, db, nifti_case, tmp_path):
    other = write_nifti(tmp_path / "odd_t2.nii.gz", shape=(20, 24, 16))
    _expect_slot_error(logged_in_client, app, db, form_data({**nifti_case, "t2": other}),
                       "t2", "T2")


def test_volume_larger_than_512_per_side_is_refused(logged_in_client, app, db, nifti_case,
                                                    tmp_path):
    huge = tmp_path / "huge_t1ce.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((600, 2, 2), np.int16), np.eye(4)), str(huge))
    _expect_slot_error(logged_in_client, app, db, form_data({**nifti_case, "t1ce": huge}),
                       "t1ce", "512")


def test_request_over_the_size_limit_is_refused_with_a_message(logged_in_client, app, db,
                                                               nifti_case):
    app.config["MAX_CONTENT_LENGTH"] = 2048
    response = logged_in_client.post("/cases/new", data=form_data(nifti_case),
                                     content_type="multipart/form-data")
    assert response.status_code == 413
    assert b"too large" in response.data
    assert_nothing_kept(app, db)


def test_gzip_content_named_nii_is_stored_as_nii_gz(logged_in_client, app, db, nifti_case,
                                                    tmp_path):
    renamed = tmp_path / "x_flair.nii"
    renamed.write_bytes(nifti_case["flair"].read_bytes())
    assert gzip.decompress(renamed.read_bytes())[:4]
    response = logged_in_client.post("/cases/new", data=form_data({**nifti_case,
                                                                   "flair": renamed}),
                                     content_type="multipart/form-data")
    assert response.status_code == 302
    scan = db.session.scalar(select(Scan).where(Scan.sequence == "flair"))
    assert scan.stored_path.endswith("flair.nii.gz")


@pytest.mark.parametrize("pseudonym", ["<script>", "x" * 65])
def test_bad_pseudonym_is_refused(logged_in_client, app, db, nifti_case, pseudonym):
    response = logged_in_client.post("/cases/new", data=form_data(nifti_case,
                                                                  pseudonym=pseudonym),
                                     content_type="multipart/form-data")
    assert response.status_code == 400
    assert_nothing_kept(app, db)
