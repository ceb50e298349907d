"""Uploads are de-identified: no header text, no extensions, no client file names kept."""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from sqlalchemy import select, text

from app.cases.deidentify import (
    DECOMPRESSION_SLACK,
    INPUT_CHUNK,
    KEPT_FIELDS,
    deidentify_nifti,
)
from app.models import Case, Scan
from app.pipeline.errors import InvalidInputError
from tests.cases.test_upload import assert_nothing_kept, form_data
from tests.conftest import write_nifti

IDENTITY = b"Patient: John Doe DOB 1950-01-01"
CLIENT_NAME = "John_Doe_1950-01-01_flair.nii.gz"


def identifying_nifti(path: Path, *, nifti2: bool = False, big_endian: bool = False) -> Path:
    """Write a small brain-like volume whose header and extension name the patient."""
    source = nib.load(str(write_nifti(path.with_name("plain_" + path.name))))
    data = np.asanyarray(source.dataobj)
    klass = nib.Nifti2Image if nifti2 else nib.Nifti1Image
    header = (nib.Nifti2Header if nifti2 else nib.Nifti1Header)(
        endianness=">" if big_endian else "<")
    img = klass(data, source.affine, header=header)
    hdr = img.header
    hdr["descrip"] = IDENTITY[:79]
    hdr["aux_file"] = b"John Doe"
    hdr["intent_name"] = b"DOE^JOHN"
    if not nifti2:
        hdr["db_name"] = b"JohnDoe1950"
    hdr.extensions.append(nib.nifti1.Nifti1Extension(6, IDENTITY * 4))
    nib.save(img, str(path))
    return path


@pytest.fixture
def identifying_case(nifti_case, tmp_path):
    flair = identifying_nifti(tmp_path / CLIENT_NAME)
    return {**nifti_case, "flair": flair}


def upload(client, files, **fields):
    return client.post("/cases/new", data=form_data(files, **fields),
                       content_type="multipart/form-data")


def test_header_text_and_extensions_are_not_stored_nor_served(logged_in_client, app, db,
                                                              identifying_case):
    assert IDENTITY in gzip.decompress(identifying_case["flair"].read_bytes())
    assert upload(logged_in_client, identifying_case).status_code == 302
    case = db.session.scalars(select(Case)).one()
    response = logged_in_client.get(f"/cases/{case.id}/scans/flair")
    assert response.status_code == 200
    served = gzip.decompress(response.data)
    for needle in (b"John", b"Doe", b"DOE", b"1950"):
        assert needle not in served and needle not in response.data
    stored = Path(app.config["STORAGE_DIR"]) / case.scan_for("flair").stored_path
    assert stored.read_bytes() == response.data
    # What the pipeline needs survives: geometry, voxel type and every voxel value.
    original, clean = nib.load(str(identifying_case["flair"])), nib.load(str(stored))
    assert clean.shape == original.shape
    assert clean.get_data_dtype() == original.get_data_dtype()
    np.testing.assert_allclose(clean.affine, original.affine)
    np.testing.assert_array_equal(np.asanyarray(clean.dataobj), np.asanyarray(original.dataobj))
    assert list(clean.header.extensions) == []
    for field in ("descrip", "aux_file", "intent_name", "db_name"):
        assert clean.header[field].item() == b""


def test_client_file_name_is_never_stored(logged_in_client, db, identifying_case):
    with_nul = {**identifying_case, "t1": identifying_case["t1"]}
    data = form_data(with_nul)
    data["t1"] = (io.BytesIO(identifying_case["t1"].read_bytes()), "Doe\x00John\x07_t1.nii.gz")
    response = logged_in_client.post("/cases/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    for scan in db.session.scalars(select(Scan)):
        assert scan.original_filename == f"{scan.sequence}.nii.gz"
        assert Path(scan.stored_path).name == f"{scan.sequence}.nii.gz"
    dump = "\n".join(str(row) for row in db.session.execute(text("SELECT * FROM scans")))
    assert "John" not in dump and "Doe" not in dump and "\x00" not in dump


@pytest.mark.parametrize(("nifti2", "big_endian"), [(False, True), (True, False), (True, True)])
def test_nifti2_and_big_endian_headers_are_cleaned_too(tmp_path, nifti2, big_endian):
    source = identifying_nifti(tmp_path / "x_flair.nii.gz", nifti2=nifti2, big_endian=big_endian)
    target = tmp_path / "flair.nii.gz"
    with source.open("rb") as stream:
        stored = deidentify_nifti(stream, target, "flair")
    assert b"John" not in gzip.decompress(target.read_bytes())
    clean, original = nib.load(str(target)), nib.load(str(source))
    assert type(clean.header) is type(original.header)
    assert clean.header.endianness == original.header.endianness
    for field in KEPT_FIELDS:
        np.testing.assert_array_equal(clean.header[field], original.header[field])
    np.testing.assert_array_equal(np.asanyarray(clean.dataobj), np.asanyarray(original.dataobj))
    assert stored.info.shape == (24, 24, 16)


def gzip_bomb(tmp_path: Path, extra_zeros: int) -> bytes:
    """A valid small NIfTI followed by `extra_zeros` zero bytes, gzip-compressed."""
    plain = write_nifti(tmp_path / "bomb_src.nii", shape=(24, 24, 16))
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [compressor.compress(plain.read_bytes())]
    block = bytes(1 << 20)
    for _ in range(extra_zeros // len(block)):
        parts.append(compressor.compress(block))
    parts.append(compressor.flush())
    return b"".join(parts)


def test_gzip_bomb_is_refused_after_reading_little_of_it(tmp_path):
    blob = gzip_bomb(tmp_path, 512 << 20)  # unpacks to 512 MiB; the header declares 18 KiB
    assert 4 * INPUT_CHUNK < len(blob) < 1 << 20
    source = io.BytesIO(blob)
    with pytest.raises(InvalidInputError, match="decompression bomb") as refused:
        deidentify_nifti(source, tmp_path / "flair.nii.gz", "flair")
    assert refused.value.sequence == "flair"
    # Stopped just past the declared size: most of the compressed input was never read.
    assert source.tell() <= 2 * INPUT_CHUNK
    assert not (tmp_path / "flair.nii.gz").exists()


def test_gzip_bomb_upload_gets_a_clear_400(logged_in_client, app, db, nifti_case, tmp_path):
    bomb = tmp_path / "bomb_flair.nii.gz"
    bomb.write_bytes(gzip_bomb(tmp_path, 32 << 20))
    response = upload(logged_in_client, {**nifti_case, "flair": bomb})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "FLAIR: the compressed file unpacks to more than its header declares" in page
    assert_nothing_kept(app, db)


def test_a_little_padding_after_the_data_is_tolerated(tmp_path):
    plain = write_nifti(tmp_path / "pad_src.nii", shape=(24, 24, 16)).read_bytes()
    padded = gzip.compress(plain + bytes(DECOMPRESSION_SLACK // 2))
    deidentify_nifti(io.BytesIO(padded), tmp_path / "flair.nii.gz", "flair")


def volume_file(tmp_path: Path, data: np.ndarray, name: str = "odd_t2.nii.gz") -> Path:
    path = tmp_path / name
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))
    return path


@pytest.mark.parametrize(("values", "words"), [
    (np.full((24, 24, 16), np.nan, np.float32), "NaN"),
    (np.full((24, 24, 16), np.inf, np.float32), "NaN or infinite"),
    (np.zeros((24, 24, 16), np.int16), "every voxel is zero"),
    (np.full((24, 24, 16), 7, np.int16), "value 7"),
])
def test_useless_content_is_refused_at_upload_naming_the_file(logged_in_client, app, db,
                                                               nifti_case, tmp_path, values,
                                                               words):
    bad = volume_file(tmp_path, values)
    response = upload(logged_in_client, {**nifti_case, "t2": bad})
    assert response.status_code == 400
    error = response.get_data(as_text=True).split('id="t2-error">')[1].split("</p>")[0]
    assert error.startswith("T2: ") and words in error
    assert_nothing_kept(app, db)


def test_some_nan_voxels_are_accepted(tmp_path):
    values = np.random.default_rng(0).normal(100, 10, (24, 24, 16)).astype(np.float32)
    values[0, 0, :] = np.nan
    path = volume_file(tmp_path, values)
    with path.open("rb") as stream:
        deidentify_nifti(stream, tmp_path / "t2.nii.gz", "t2")


def test_truncated_uncompressed_file_is_refused(tmp_path):
    plain = write_nifti(tmp_path / "cut_src.nii", shape=(24, 24, 16)).read_bytes()
    with pytest.raises(InvalidInputError, match="truncated"):
        deidentify_nifti(io.BytesIO(plain[:-100]), tmp_path / "t1.nii.gz", "t1")


@pytest.mark.parametrize("pseudonym", [
    "Jöhn Döe 1950-01-01", "P 31.01.1950", "case 19500131", "JD 31 Jan 1950", "x 01-31-50",
])
def test_pseudonym_with_a_date_of_birth_is_refused(logged_in_client, app, db, nifti_case,
                                                  pseudonym):
    response = upload(logged_in_client, nifti_case, pseudonym=pseudonym,
                      confirm_pseudonym="y")
    assert response.status_code == 400
    assert "date (of birth?)" in response.get_data(as_text=True)
    assert_nothing_kept(app, db)


def test_pseudonym_like_a_name_needs_confirmation(logged_in_client, app, db, nifti_case):
    response = upload(logged_in_client, nifti_case, pseudonym="Jöhn Döe")
    assert response.status_code == 400
    assert "looks like a person&#39;s name" in response.get_data(as_text=True)
    assert_nothing_kept(app, db)
    confirmed = upload(logged_in_client, nifti_case, pseudonym="Jöhn Döe", confirm_pseudonym="y")
    assert confirmed.status_code == 302


@pytest.mark.parametrize("pseudonym", ["P-0042", "case 17", "GBM-2024-07", "tumour board B"])
def test_ordinary_pseudonyms_pass_without_a_warning(logged_in_client, nifti_case, pseudonym):
    assert upload(logged_in_client, nifti_case, pseudonym=pseudonym).status_code == 302


def test_every_answer_with_patient_data_is_no_store(logged_in_client, app, db, nifti_case):
    from app import storage
    from app.pipeline.render.artefacts import ARTEFACTS

    assert upload(logged_in_client, nifti_case, pseudonym="P-7").status_code == 302
    case = db.session.scalars(select(Case)).one()
    name = sorted(ARTEFACTS)[0]
    with app.test_request_context():
        folder = storage.results_dir(case.id)
    folder.mkdir(parents=True)
    (folder / name).write_bytes(b"{}")
    for url in (f"/cases/{case.id}", f"/cases/{case.id}/status", f"/cases/{case.id}/scans/flair",
                f"/cases/{case.id}/files/{name}", "/cases", "/cases/new", "/account"):
        response = logged_in_client.get(url)
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == "no-store", url
    token_page = logged_in_client.post("/account", data={"name": "script"})
    assert b'id="new-token"' in token_page.data
    assert token_page.headers["Cache-Control"] == "no-store"


def test_public_pages_and_static_files_stay_cacheable(client):
    assert "no-store" not in client.get("/").headers.get("Cache-Control", "")
    assert "no-store" not in client.get("/static/css/app.css").headers.get("Cache-Control", "")


def test_api_refuses_a_pseudonym_with_a_date(app, db, user, nifti_case):
    from app.models import ApiToken

    row, token = ApiToken.issue(user.id, "t")
    db.session.add(row)
    db.session.commit()
    data = {seq: (io.BytesIO(p.read_bytes()), p.name) for seq, p in nifti_case.items()}
    data["pseudonym"] = "Doe 1950-01-01"
    response = app.test_client().post("/api/v1/cases", data=data,
                                      headers={"Authorization": f"Bearer {token}"},
                                      content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.get_json()["field"] == "pseudonym"
    assert_nothing_kept(app, db)


def stored_like_an_old_version(app, db, user, nifti_case, tmp_path):
    """A case stored through the real upload path, whose FLAIR file is then swapped for one that
    still holds the patient's name (as versions before upload-time de-identification kept)."""
    from app.cases.uploads import UploadedFile, store_upload
    from app.storage import absolute_path

    files = {s: UploadedFile(p.name, p.open("rb")) for s, p in nifti_case.items()}
    try:
        case = store_upload(files, user.id)
    finally:
        for f in files.values():
            f.stream.close()
    flair = next(s for s in case.scans if s.sequence == "flair")
    old = identifying_nifti(tmp_path / "old_flair.nii.gz")
    path = absolute_path(flair.stored_path)
    path.write_bytes(old.read_bytes())
    flair.sha256, flair.size_bytes = "0" * 64, path.stat().st_size
    db.session.commit()
    return case, path


def test_stored_scans_are_deidentified_by_the_maintenance_command(app, db, user, nifti_case,
                                                                  tmp_path):
    case, path = stored_like_an_old_version(app, db, user, nifti_case, tmp_path)
    before = {s.sequence: absolute_path_bytes(s) for s in case.scans}
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["cases", "deidentify-stored", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "4 scans checked, 1 would be rewritten, 0 problem(s)" in dry.output
    assert IDENTITY[:20] in gzip.decompress(path.read_bytes())  # a dry run changes nothing

    result = runner.invoke(args=["cases", "deidentify-stored"])
    assert result.exit_code == 0, result.output
    assert "4 scans checked, 1 rewritten, 0 problem(s)" in result.output
    raw = gzip.decompress(path.read_bytes())
    assert b"John" not in raw and b"DOE" not in raw and IDENTITY[:20] not in raw
    db.session.expire_all()
    flair = db.session.scalars(select(Scan).where(Scan.case_id == case.id,
                                                  Scan.sequence == "flair")).one()
    import hashlib

    assert flair.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert flair.size_bytes == path.stat().st_size
    for scan in db.session.scalars(select(Scan).where(Scan.sequence != "flair")):
        assert absolute_path_bytes(scan) == before[scan.sequence]  # already clean: untouched
    np.testing.assert_array_equal(  # the voxels are the same
        np.asanyarray(nib.load(path).dataobj),
        np.asanyarray(nib.load(str(identifying_nifti(tmp_path / "again.nii.gz"))).dataobj))
    again = runner.invoke(args=["cases", "deidentify-stored"])
    assert "4 scans checked, 0 rewritten, 0 problem(s)" in again.output


def test_the_maintenance_command_reports_a_missing_file_and_goes_on(app, db, user, nifti_case,
                                                                    tmp_path):
    case, path = stored_like_an_old_version(app, db, user, nifti_case, tmp_path)
    t2 = next(s for s in case.scans if s.sequence == "t2")
    from app.storage import absolute_path

    absolute_path(t2.stored_path).unlink()
    result = app.test_cli_runner().invoke(args=["cases", "deidentify-stored"])
    assert result.exit_code == 1
    assert "1 rewritten, 1 problem(s)" in result.output
    assert f"case {case.id} t2: file missing" in result.output
    assert b"John" not in gzip.decompress(path.read_bytes())


def absolute_path_bytes(scan) -> bytes:
    from app.storage import absolute_path

    return absolute_path(scan.stored_path).read_bytes()
