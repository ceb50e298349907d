"""load_case: canonical loading, lazy slices, and every refusal with its message."""

from __future__ import annotations

import numpy as np
import pytest

from app.pipeline.errors import InvalidInputError
from app.pipeline.io.case_loader import LoadedCase, load_case
from app.pipeline.io.naming import SEQUENCES
from tests.pipeline.conftest import lps_twin, save_nifti, small_brain, swapped_twin


def volumes(**overrides: np.ndarray) -> dict[str, np.ndarray]:
    base = small_brain()
    vols = {seq: base * (1 + 0.1 * i) for i, seq in enumerate(SEQUENCES)}
    vols.update(overrides)
    return vols


def refusal(paths, sequence: str) -> str:
    with pytest.raises(InvalidInputError) as info:
        case = load_case(paths)
        case.volume(sequence)
    assert info.value.sequence == sequence
    return str(info.value)


def test_load_case_basic(case_writer):
    case = load_case(case_writer())
    assert isinstance(case, LoadedCase)
    assert case.shape == (40, 48, 36)
    assert case.voxel_size == (1.0, 1.0, 1.0)
    assert case.flair.dtype == np.float32
    np.testing.assert_allclose(case.flair, small_brain())
    t2 = case.axial_slices("t2", [5, 20, 21])
    assert t2.shape == (40, 48, 3) and t2.dtype == np.float32
    np.testing.assert_allclose(t2, (small_brain() * 1.3)[:, :, [5, 20, 21]], rtol=1e-6)
    np.testing.assert_allclose(case.volume("t1"), small_brain() * 1.1, rtol=1e-6)
    np.testing.assert_allclose(case.axial_slices("flair", [3]), small_brain()[:, :, [3]])


@pytest.mark.parametrize("twin", [lps_twin, swapped_twin])
def test_lps_and_swapped_twins_identical(case_writer, twin):
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    ras = load_case(case_writer(folder="ras", affine=affine))
    other = load_case(case_writer(folder="twin", affine=affine, transform=twin))
    np.testing.assert_array_equal(other.flair, ras.flair)
    np.testing.assert_allclose(other.affine, ras.affine, atol=1e-5)
    assert other.shape == ras.shape
    for seq in SEQUENCES:
        np.testing.assert_array_equal(
            other.axial_slices(seq, [10, 20, 11]), ras.axial_slices(seq, [10, 20, 11])
        )
        np.testing.assert_array_equal(other.volume(seq), ras.volume(seq))


def test_mixed_storage_orders_in_one_case(case_writer, tmp_path):
    paths = case_writer()
    data = small_brain() * 1.3
    paths["t2"] = save_nifti(tmp_path / "t2_lps.nii", *lps_twin(data, np.eye(4)))
    case = load_case(paths)
    np.testing.assert_allclose(case.axial_slices("t2", [7]), data[:, :, [7]], rtol=1e-6)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("nifti2", [False, True])
def test_nii_and_nifti2_load(case_writer, suffix, nifti2):
    case = load_case(case_writer(suffix=suffix, nifti2=nifti2))
    np.testing.assert_allclose(case.flair, small_brain())


def test_missing_sequence(case_writer):
    paths = case_writer()
    del paths["t1ce"]
    with pytest.raises(InvalidInputError) as info:
        load_case(paths)
    assert info.value.sequence == "t1ce"
    assert str(info.value) == "T1ce: the file is missing (all four sequences are needed)"


def test_unknown_key_is_a_programming_error(case_writer):
    paths = case_writer()
    paths["dwi"] = paths["t1"]
    with pytest.raises(ValueError, match="unknown sequence"):
        load_case(paths)


def test_few_nans_replaced(case_writer):
    flair = small_brain()
    flair[0, 0, :3] = np.nan
    case = load_case(case_writer(volumes(flair=flair)))
    assert np.isfinite(case.flair).all()
    assert case.flair[0, 0, 0] == 0


def test_many_nans_refused(case_writer):
    flair = small_brain()
    flair[:, :, :2] = np.nan
    msg = refusal(case_writer(volumes(flair=flair)), "flair")
    assert msg.startswith("FLAIR: 5.6% of the voxels are not numbers (NaN or infinite)")


def test_infinite_values_refused_in_t1(case_writer):
    t1 = small_brain()
    t1[:, :, :4] = np.inf
    msg = refusal(case_writer(volumes(t1=t1)), "t1")
    assert msg.startswith("T1: ") and "not numbers" in msg


def test_all_zero_refused(case_writer):
    msg = refusal(case_writer(volumes(t2=np.zeros((40, 48, 36), np.float32))), "t2")
    assert msg == "T2: the image is empty (all voxels are zero)"


def test_constant_refused(case_writer):
    msg = refusal(case_writer(volumes(flair=np.full((40, 48, 36), 7, np.float32))), "flair")
    assert msg == "FLAIR: the image is blank (every voxel has the same value, 7)"


def test_no_plausible_brain_refused(case_writer):
    sparse = np.zeros((40, 48, 36), np.float32)
    sparse[20, 20, 10:20] = 100
    msg = refusal(case_writer(volumes(t1ce=sparse)), "t1ce")
    assert msg.startswith("T1ce: only 0.014% of the voxels are non-zero; this does not look like")


def test_4d_multi_volume_refused(case_writer):
    four_d = np.stack([small_brain()] * 2, axis=-1)
    msg = refusal(case_writer(volumes(t2=four_d)), "t2")
    assert msg == "T2: the file holds 2 volumes (a 4D series); please upload a single 3D volume"


def test_4d_single_volume_accepted(case_writer):
    case = load_case(case_writer(volumes(t2=small_brain()[..., None])))
    assert case.volume("t2").shape == (40, 48, 36)
    assert case.axial_slices("t2", [4, 5]).shape == (40, 48, 2)


def test_grid_mismatch_refused(case_writer):
    paths = case_writer()
    other = case_writer(
        volumes={"t1": small_brain()}, folder="other", affine=np.diag([1.0, 1.0, 2.0, 1.0])
    )
    paths["t1"] = other["t1"]
    with pytest.raises(InvalidInputError) as info:
        load_case(paths)
    assert info.value.sequence == "t1"
    assert str(info.value).startswith("T1: the image grid differs from FLAIR")


def test_not_nifti_refused(case_writer):
    paths = case_writer()
    paths["t2"].write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 600)
    with pytest.raises(InvalidInputError, match=r"^T2: the file is not a NIfTI image"):
        load_case(paths)


def test_lazy_slices_are_checked(case_writer):
    t1 = small_brain()
    t1[:, :, 10:15] = 0
    case = load_case(case_writer(volumes(t1=t1)))
    with pytest.raises(InvalidInputError) as info:
        case.axial_slices("t1", [11, 12, 13])
    assert info.value.sequence == "t1"
    assert str(info.value) == "T1: the image is empty (all voxels are zero in axial slices 11–13)"
    assert case.axial_slices("t1", [20]).shape == (40, 48, 1)


def test_eager_loading_refuses_up_front(case_writer):
    paths = case_writer(volumes(t1ce=np.zeros((40, 48, 36), np.float32)))
    case = load_case(paths)  # lazy: FLAIR only
    assert case.shape == (40, 48, 36)
    with pytest.raises(InvalidInputError, match="T1ce: the image is empty"):
        load_case(paths, lazy=False)


def test_truncated_t2_refused_when_read(case_writer):
    paths = case_writer()
    raw = paths["t2"].read_bytes()
    paths["t2"].write_bytes(raw[: len(raw) - 2000])
    case = load_case(paths)
    with pytest.raises(InvalidInputError, match="T2: the file is damaged or truncated"):
        case.volume("t2")


def test_bad_index_and_name_are_programming_errors(case_writer):
    case = load_case(case_writer())
    with pytest.raises(ValueError):
        case.axial_slices("t1", [36])
    with pytest.raises(ValueError):
        case.volume("dwi")
