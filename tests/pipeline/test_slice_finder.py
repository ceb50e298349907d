"""Seed and robust max-tumour-slice methods on small volumes."""

from __future__ import annotations

import numpy as np
import pytest

from app.pipeline.lesion.slice_finder import (
    SliceResult,
    find_slice,
    find_slice_robust,
    find_slice_seed,
)
from tests.pipeline.conftest import small_brain


def blank(value: float = 0.0) -> np.ndarray:
    return np.full((24, 24, 10), value, dtype=np.float32)


def test_seed_picks_largest_area_above_450():
    vol = blank()
    vol[4:10, 4:10, 3] = 500  # 6×6 above 450 after smoothing in its interior
    vol[2:20, 2:20, 6] = 400  # much larger, but only above the fallback
    result = find_slice_seed(vol)
    assert isinstance(result, SliceResult)
    assert result.index == 3
    assert result.areas[6] == 0
    assert not result.no_lesion_found
    assert result.mask.shape == vol.shape and result.mask.dtype == bool


def test_seed_falls_back_to_250_when_nothing_passes_450():
    vol = blank()
    vol[4:10, 4:10, 3] = 300
    vol[2:20, 2:20, 6] = 400
    result = find_slice_seed(vol)
    assert result.index == 6
    assert result.areas[3] > 0  # 300 passes the fallback too
    assert result.areas[6] > result.areas[3]


def test_seed_nothing_above_either_threshold():
    result = find_slice_seed(blank(100))
    assert result.index == 0
    assert result.no_lesion_found
    assert result.volume_ml == 0
    assert not result.mask.any()


def test_seed_smooths_in_plane_only():
    vol = blank()
    vol[12, 12, 2] = 1000  # a single hot voxel: about 1000/(2*pi) after smoothing, below 250
    vol[5:11, 5:11, 7] = 470  # a plateau: its interior stays above 450
    result = find_slice_seed(vol)
    assert result.index == 7
    assert result.areas[2] == 0
    assert result.areas[6] == 0 and result.areas[8] == 0  # no smoothing across slices


def test_seed_volume_uses_voxel_size():
    vol = blank()
    vol[4:14, 4:14, 5] = 600
    one = find_slice_seed(vol, (1.0, 1.0, 1.0))
    two = find_slice_seed(vol, (2.0, 2.0, 2.0))
    assert two.volume_ml == pytest.approx(8 * one.volume_ml)
    assert one.volume_ml == pytest.approx(one.mask.sum() / 1000)


def test_robust_finds_lesion_slice():
    vol = small_brain(lesion_centre=(24, 26, 20), lesion_radius=7)
    result = find_slice_robust(vol, (1.0, 1.0, 1.0))
    assert abs(result.index - 20) <= 1
    assert not result.no_lesion_found
    assert 1.0 < result.volume_ml < 1.8  # a 7-voxel-radius ball is 1.44 mL
    assert result.mask[24, 26, 20]
    assert not result.mask[5, 5, 5]


def test_robust_is_scale_invariant():
    vol = small_brain(lesion_centre=(14, 30, 12), lesion_radius=6)
    ref = find_slice_robust(vol)
    for factor in (0.001, 3.0, 1000.0):
        scaled = find_slice_robust(vol * np.float32(factor))
        assert scaled.index == ref.index
        np.testing.assert_array_equal(scaled.mask, ref.mask)


def test_robust_small_candidate_is_no_lesion():
    vol = small_brain(lesion_radius=3)  # about 0.1 mL
    result = find_slice_robust(vol, (1.0, 1.0, 1.0))
    assert result.no_lesion_found
    assert result.volume_ml < 1.0
    big_voxels = find_slice_robust(vol, (3.0, 3.0, 3.0))  # same voxels, 27× the volume
    assert not big_voxels.no_lesion_found


def test_robust_without_lesion():
    result = find_slice_robust(small_brain(lesion_centre=None))
    assert result.no_lesion_found
    assert result.volume_ml < 1.0


def test_robust_empty_volume():
    result = find_slice_robust(np.zeros((16, 16, 8), np.float32))
    assert result.no_lesion_found and result.index == 0 and not result.mask.any()


def test_robust_with_non_zero_background():
    vol = small_brain(lesion_radius=7) + np.float32(3.0)
    result = find_slice_robust(vol)
    assert abs(result.index - 20) <= 1 and not result.no_lesion_found


def test_find_slice_dispatch():
    vol = small_brain(lesion_radius=7)
    assert find_slice("robust", vol, (1, 1, 1)).index == find_slice_robust(vol).index
    assert find_slice("seed", vol, threshold=900).index == find_slice_seed(vol, threshold=900).index
    with pytest.raises(ValueError, match="unknown slice method"):
        find_slice("magic", vol)
    with pytest.raises(ValueError):
        find_slice_seed(np.zeros((4, 4)))
