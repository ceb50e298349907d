"""Segmentation training helpers: the phantom plan, training arrays, loss, CSV and seed checks."""

from __future__ import annotations

import csv

import numpy as np
import pytest


@pytest.fixture(scope="module")
def training():
    from app.pipeline.training import segmentation

    return segmentation


def test_phantom_plan_is_balanced_and_reproducible(training):
    plan = training.phantom_plan(9, 7)
    assert [c for _, c, _ in plan].count("G") == 3
    assert [c for _, c, _ in plan] == [c for _, c, _ in training.phantom_plan(9, 7)]
    assert plan[0][0] == "PHANTOM_0001"
    with pytest.raises(ValueError):
        training.phantom_plan(0, 7)


def test_case_arrays_match_inference_preprocessing(training):
    from app.pipeline.lesion.segmentation_card import SegmentationCard
    from app.pipeline.synthetic.phantoms import generate_case

    card = SegmentationCard(name="t")
    card.input["target_voxel_mm"] = 4.0  # 2 mm phantom, factor 2
    phantom = generate_case("G", 4, voxel_mm=2.0)
    source = training.phantom_source(phantom)
    x, y = training.case_arrays(source.volumes, phantom.seg, phantom.voxel_size, card)
    assert x.shape[:3] == y.shape[:3] and x.shape[3] == 12 and y.shape[3] == 4
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, atol=1e-5)
    ml_per_coarse = float(np.prod(phantom.voxel_size)) * 8 / 1000
    wt_ml = y[..., 1:].sum() * ml_per_coarse
    assert wt_ml == pytest.approx((phantom.seg > 0).sum() * 8 / 1000, rel=0.01)


def test_loss_prefers_the_right_answer(training):
    y = np.zeros((2, 8, 8, 4), np.float32)
    y[..., 0] = 1
    y[:, 2:6, 2:6] = [0, 0, 0, 1]
    wrong = np.full_like(y, 0.25)
    right = np.clip(y, 0.01, 0.97)
    assert float(training.segmentation_loss(y, right)) < float(training.segmentation_loss(y, wrong))
    dice = training.coarse_dice(y, y)
    assert dice == {"WT": 1.0, "TC": 1.0, "ET": 1.0, "mean": 1.0}


def test_seeds_must_be_distinct(training, tmp_path):
    config = training.SegmentationTrainConfig(out_dir=tmp_path, train_seed=1, val_seed=1,
                                              test_seed=2)
    with pytest.raises(ValueError, match="distinct"):
        training.train(config)
    with pytest.raises(ValueError, match="at least 1"):
        training.train(training.SegmentationTrainConfig(out_dir=tmp_path, n_val=0))


def test_csv_has_the_per_case_columns(training, tmp_path):
    seg = np.zeros((10, 10, 10), np.uint8)
    seg[2:5, 2:5, 2:5] = 4
    row = training._score_row("C1", "G", seg, seg, (1.0, 1.0, 1.0), 0.5)
    path = training.write_csv([row], tmp_path / "scores.csv")
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["dice_ET"] == "1.0" and rows[0]["ref_ml_WT"] == "0.027"


@pytest.mark.slow
def test_min_enhancing_volume_is_chosen_on_validation_phantoms(training, tmp_path):
    import shutil

    from app.pipeline.lesion.segmentation_card import SegmentationCard

    model = tmp_path / "seg"
    shutil.copytree("models/segmentation-demo", model)
    card = SegmentationCard.load(model)
    with pytest.raises(ValueError, match="test seed"):
        training.choose_min_enhancing_ml(model, n=1, seed=card.seeds["test"])
    chosen = training.choose_min_enhancing_ml(model, n=2, seed=4242)
    saved = SegmentationCard.load(model).postprocessing
    assert saved["min_enhancing_ml"] == chosen in training.MIN_ENHANCING_CANDIDATES_ML
    table = saved["min_enhancing_selection"]["mean_et_dice_by_ml"]
    assert set(table) == {str(t) for t in training.MIN_ENHANCING_CANDIDATES_ML}
    assert table[str(chosen)] == max(table.values())
    assert "seed 4242" in saved["min_enhancing_selection"]["chosen_on"]
