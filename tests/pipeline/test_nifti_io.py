"""inspect_nifti refusals, check_same_grid, canonical loading."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import app.pipeline.io.nifti as nifti_module
from app.pipeline.errors import InvalidInputError
from app.pipeline.io.nifti import (
    NiftiVolume,
    VolumeInfo,
    check_same_grid,
    inspect_nifti,
    load_volume,
)
from tests.pipeline.conftest import lps_twin, save_nifti, set_scaling, small_brain, swapped_twin

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 600


def refused(path: Path, sequence: str | None = "t1ce") -> InvalidInputError:
    with pytest.raises(InvalidInputError) as info:
        inspect_nifti(path, sequence)
    assert info.value.sequence == sequence
    return info.value


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("nifti2", [False, True])
def test_inspect_accepts_nifti1_and_2_compressed_or_not(tmp_path, suffix, nifti2):
    path = save_nifti(
        tmp_path / f"x{suffix}", small_brain(), np.diag([1.0, 1.2, 2.0, 1]), nifti2=nifti2
    )
    info = inspect_nifti(path, "flair")
    assert isinstance(info, VolumeInfo)
    assert info.shape == (40, 48, 36)
    assert info.voxel_size == pytest.approx((1.0, 1.2, 2.0))
    assert info.dtype == "float32"


def test_inspect_png_renamed_nii_gz(tmp_path):
    path = tmp_path / "t1ce.nii.gz"
    path.write_bytes(PNG_BYTES)
    msg = str(refused(path))
    assert msg.startswith("T1ce: the file is not a NIfTI image (.nii or .nii.gz)")
    assert "PNG" in msg


def test_inspect_gzipped_png(tmp_path):
    path = tmp_path / "x.nii.gz"
    path.write_bytes(gzip.compress(PNG_BYTES))
    assert "T1ce: the file is not a NIfTI image" in str(refused(path))


def test_inspect_dicom(tmp_path):
    path = tmp_path / "x.nii"
    path.write_bytes(b"\x00" * 128 + b"DICM" + b"\x00" * 600)
    assert "DICOM" in str(refused(path))


def test_inspect_truncated_gzip(tmp_path):
    path = save_nifti(tmp_path / "x.nii.gz", small_brain())
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    msg = str(refused(path))
    assert msg.startswith("T1ce: the compressed file is truncated")


def test_inspect_truncated_gzip_inside_header(tmp_path):
    path = save_nifti(tmp_path / "x.nii.gz", small_brain())
    path.write_bytes(path.read_bytes()[:40])
    assert "truncated" in str(refused(path))


def test_inspect_corrupt_gzip(tmp_path):
    path = save_nifti(tmp_path / "x.nii.gz", small_brain())
    raw = bytearray(path.read_bytes())
    raw[-8] ^= 0xFF  # break the CRC
    path.write_bytes(bytes(raw))
    assert "damaged" in str(refused(path))


def test_inspect_truncated_uncompressed(tmp_path):
    path = save_nifti(tmp_path / "x.nii", small_brain())
    path.write_bytes(path.read_bytes()[:5000])
    assert "T1ce: the file is truncated" in str(refused(path))


def test_inspect_header_only_skips_data_check(tmp_path):
    path = save_nifti(tmp_path / "x.nii", small_brain())
    path.write_bytes(path.read_bytes()[:5000])
    assert inspect_nifti(path, "t1ce", check_data=False).shape == (40, 48, 36)


def test_inspect_empty_file(tmp_path):
    path = tmp_path / "x.nii.gz"
    path.write_bytes(b"")
    assert str(refused(path)) == "T1ce: the file is empty (0 bytes)"


def test_inspect_missing_file(tmp_path):
    assert "missing" in str(refused(tmp_path / "nope.nii.gz"))


def test_inspect_2d(tmp_path):
    path = save_nifti(tmp_path / "x.nii.gz", np.ones((64, 64), dtype=np.float32))
    assert "T1ce: the image is 2D (a single slice of 64×64 voxels)" in str(refused(path))


def test_inspect_2d_as_3d_with_one_slice(tmp_path):
    path = save_nifti(tmp_path / "x.nii.gz", np.ones((64, 64, 1), dtype=np.float32))
    assert "2D" in str(refused(path))


def test_inspect_4d_multi_volume(tmp_path):
    path = save_nifti(tmp_path / "x.nii.gz", np.ones((8, 8, 8, 3), dtype=np.float32))
    assert "T1ce: the file holds 3 volumes (a 4D series)" in str(refused(path))


def test_inspect_4d_single_volume_is_fine(tmp_path):
    path = save_nifti(tmp_path / "x.nii.gz", np.ones((8, 9, 10, 1), dtype=np.float32))
    assert inspect_nifti(path).shape == (8, 9, 10)


def test_inspect_too_large(tmp_path):
    path = save_nifti(tmp_path / "x.nii.gz", np.zeros((600, 4, 4), dtype=np.uint8))
    msg = str(refused(path))
    assert "too large (600×4×4 voxels; at most 512 voxels per side)" in msg


def test_inspect_non_numeric(tmp_path):
    path = save_nifti(tmp_path / "x.nii.gz", np.ones((8, 8, 8), dtype=np.complex64))
    assert "complex values, not plain numbers" in str(refused(path))


def test_inspect_message_uses_file_name_without_sequence(tmp_path):
    path = tmp_path / "upload.nii"
    path.write_bytes(b"hello world" * 100)
    err = refused(path, sequence=None)
    assert str(err).startswith("upload.nii: the file is not a NIfTI image")


def test_inspect_reports_canonical_geometry_of_lps_file(tmp_path):
    data = small_brain()
    affine = np.diag([1.0, 1.5, 2.0, 1.0])
    ras = inspect_nifti(save_nifti(tmp_path / "ras.nii.gz", data, affine))
    lps = inspect_nifti(save_nifti(tmp_path / "lps.nii.gz", *lps_twin(data, affine)))
    swapped = inspect_nifti(save_nifti(tmp_path / "sw.nii.gz", *swapped_twin(data, affine)))
    for other in (lps, swapped):
        assert other.shape == ras.shape
        assert other.voxel_size == pytest.approx(ras.voxel_size)
        np.testing.assert_allclose(other.affine, ras.affine, atol=1e-5)


# --------------------------------------------------------------------------- check_same_grid


def info(shape=(10, 10, 10), voxel=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0)) -> VolumeInfo:
    affine = np.diag([*voxel, 1.0])
    affine[:3, 3] = origin
    return VolumeInfo(shape=shape, voxel_size=voxel, dtype="int16", affine=affine)


def test_same_grid_passes():
    check_same_grid(
        {"flair": info(), "t1": info(), "t1ce": info(origin=(0.05, 0, 0)), "t2": info()}
    )


def test_grid_shape_differs():
    with pytest.raises(InvalidInputError) as exc:
        check_same_grid({"flair": info(), "t1": info(), "t1ce": info(shape=(10, 10, 12))})
    assert exc.value.sequence == "t1ce"
    assert str(exc.value).startswith(
        "T1ce: the image grid differs from FLAIR (10×10×12 voxels instead of 10×10×10)"
    )


def test_grid_voxel_size_differs():
    with pytest.raises(InvalidInputError) as exc:
        check_same_grid({"flair": info(), "t2": info(voxel=(1.0, 1.0, 3.0))})
    assert exc.value.sequence == "t2"
    assert "voxels of 1×1×3 mm instead of 1×1×1 mm" in str(exc.value)


def test_grid_position_differs():
    with pytest.raises(InvalidInputError) as exc:
        check_same_grid({"flair": info(), "t1": info(origin=(0, 12.0, 0))})
    assert exc.value.sequence == "t1"
    assert "positioned or oriented differently, up to 12.0 mm apart" in str(exc.value)


def test_grid_rotation_differs():
    rotated = info()
    c, s = np.cos(0.2), np.sin(0.2)
    rotated.affine[:2, :2] = [[c, -s], [s, c]]
    with pytest.raises(InvalidInputError, match="oriented differently"):
        check_same_grid({"flair": info(), "t1": rotated})


def test_grid_empty_and_single_are_fine():
    check_same_grid({})
    check_same_grid({"t1": info()})


# --------------------------------------------------------------------------- loading


def test_scl_slope_and_inter_applied(tmp_path):
    raw = (small_brain() / 10).astype(np.int16)
    path = save_nifti(tmp_path / "x.nii", raw)
    set_scaling(path, 2.5, 10.0)
    data, _ = load_volume(path)
    assert data.dtype == np.float32
    np.testing.assert_allclose(data, raw * 2.5 + 10.0)
    vol = NiftiVolume(path)
    np.testing.assert_allclose(vol.read_axial([3, 1]), (raw * 2.5 + 10.0)[:, :, [3, 1]])


@pytest.mark.parametrize("twin", [lps_twin, swapped_twin])
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_twins_load_identically(tmp_path, twin, suffix):
    data = small_brain()
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    ras, ras_affine = load_volume(save_nifti(tmp_path / f"ras{suffix}", data, affine))
    other_path = save_nifti(tmp_path / f"twin{suffix}", *twin(data, affine))
    other, other_affine = load_volume(other_path)
    np.testing.assert_array_equal(other, ras)
    np.testing.assert_array_equal(ras, data)
    np.testing.assert_allclose(other_affine, ras_affine, atol=1e-5)
    np.testing.assert_array_equal(
        NiftiVolume(other_path).read_axial([30, 2, 17]), data[:, :, [30, 2, 17]]
    )


def test_gzipped_file_named_nii_is_read_by_content(tmp_path):
    data = small_brain()
    real = save_nifti(tmp_path / "x.nii.gz", data)
    lying = tmp_path / "y.nii"
    lying.write_bytes(real.read_bytes())
    assert inspect_nifti(lying).shape == data.shape
    loaded, _ = load_volume(lying)
    np.testing.assert_array_equal(loaded, data)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("stored", [np.float64, np.int16, np.uint8])
def test_read_in_pieces_matches_nibabel(tmp_path, monkeypatch, suffix, stored):
    """Pieces much smaller than the volume (and not a whole slice) give nibabel's own values."""
    monkeypatch.setattr(nifti_module, "_READ_PIECE", 1000)
    data = (small_brain() / 4).astype(stored)
    path = save_nifti(tmp_path / f"x{suffix}", *lps_twin(data, np.eye(4)), dtype=stored)
    loaded, _ = load_volume(path)
    assert loaded.dtype == np.float32
    expected = np.asarray(nib.as_closest_canonical(nib.load(path)).dataobj, dtype=np.float32)
    np.testing.assert_array_equal(loaded, expected)
    np.testing.assert_array_equal(loaded, data.astype(np.float32))


def test_read_in_pieces_refuses_data_ending_mid_piece(tmp_path, monkeypatch):
    monkeypatch.setattr(nifti_module, "_READ_PIECE", 4096)
    path = save_nifti(tmp_path / "x.nii", small_brain())
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(InvalidInputError, match="T2: the file is damaged or truncated"):
        NiftiVolume(path, "t2").read()


def test_read_axial_rejects_out_of_range(tmp_path):
    vol = NiftiVolume(save_nifti(tmp_path / "x.nii.gz", small_brain()))
    with pytest.raises(ValueError):
        vol.read_axial([36])


def test_truncated_data_refused_when_read(tmp_path):
    path = save_nifti(tmp_path / "x.nii.gz", small_brain())
    path.write_bytes(path.read_bytes()[:-3000])
    with pytest.raises(InvalidInputError, match="FLAIR: the file is damaged or truncated"):
        load_volume(path, "flair")
