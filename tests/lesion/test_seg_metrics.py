"""Dice / HD95: BraTS conventions, and a cross-check against MedPy's implementation."""

from __future__ import annotations

import numpy as np
import pytest
from medpy.metric import binary as medpy_binary

from app.pipeline.training.seg_metrics import brats_scores, dice, hd95, region_mask, summarise
from tests.lesion.conftest import sphere


def _blob(seed: int, shape=(48, 40, 30)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centre = tuple(rng.uniform(12, s - 12) for s in shape)
    mask = sphere(shape, centre, rng.uniform(5, 9))
    mask |= sphere(shape, tuple(c + rng.uniform(-5, 5) for c in centre), rng.uniform(3, 6))
    return mask


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("voxel_size", [(1.0, 1.0, 1.0), (0.8, 1.0, 2.5)])
def test_matches_medpy(seed, voxel_size):
    a, b = _blob(seed), _blob(seed + 100)
    b |= np.roll(a, 2, axis=0)  # make them overlap
    assert dice(a, b) == pytest.approx(medpy_binary.dc(a, b), abs=1e-12)
    assert hd95(a, b, voxel_size) == pytest.approx(
        medpy_binary.hd95(a, b, voxelspacing=voxel_size), abs=1e-9
    )


def test_brats_conventions_for_empty_masks():
    empty = np.zeros((240, 240, 155), dtype=bool)
    some = empty.copy()
    some[100:110, 100:110, 70:80] = True
    assert dice(empty, empty) == 1.0 and hd95(empty, empty) == 0.0
    assert dice(some, empty) == 0.0
    assert hd95(some, empty) == pytest.approx(373.13, abs=0.01)


def test_regions_and_scores():
    labels = np.zeros((20, 20, 20), dtype=np.uint8)
    labels[5:10, 5:10, 5:10] = 1
    labels[10:12, 5:10, 5:10] = 4
    labels[12:15, 5:10, 5:10] = 2
    assert region_mask(labels, "WT").sum() == 250
    assert region_mask(labels, "TC").sum() == 175
    assert region_mask(labels, "ET").sum() == 50
    pred = labels.copy()
    pred[pred == 4] = 1  # no enhancing tumour predicted
    s = brats_scores(pred, labels, (1.0, 1.0, 1.0))
    assert s["dice_WT"] == s["dice_TC"] == 1.0 and s["hd95_WT"] == 0.0
    assert s["dice_ET"] == 0.0
    with pytest.raises(ValueError, match="unknown region"):
        region_mask(labels, "XX")


def test_summarise_means_and_medians():
    keys = [f"{m}_{r}" for m in ("dice", "hd95") for r in ("WT", "TC", "ET")]
    rows = [{k: v for k in keys} for v in (0.5, 0.7, 1.0)]
    out = summarise(rows)
    assert out["dice_WT"]["mean"] == pytest.approx(0.7333, abs=1e-4)
    assert out["hd95_ET"]["median"] == 0.7
    lo, hi = out["dice_WT"]["mean_ci95"]
    assert 0.5 <= lo < 0.7333 < hi <= 1.0  # a bootstrap interval of the mean, within the range
    same = summarise([{k: 0.9 for k in keys}] * 4)
    assert same["dice_ET"]["mean_ci95"] == [0.9, 0.9]
    with pytest.raises(ValueError):
        summarise([])
