"""End to end on a tiny set: data files, training, calibration, OOD fitting, refit, evaluation.

Training and evaluation run through `flask model train|evaluate` (the only command line).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.pipeline.classes import TUMOUR_TYPES
from app.pipeline.models.tumour_type import TumourTypeCard, TumourTypeModel
from app.pipeline.training.tumour_type import load_dataset, make_dataset


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("tt")
    train = make_dataset(root / "train.npz", 10, 11, voxel_mm=2.0)
    val = make_dataset(root / "val.npz", 10, 12, voxel_mm=2.0)
    ood = make_dataset(root / "ood.npz", 5, 13, kind="ood", voxel_mm=2.0)
    return root, train, val, ood


def test_dataset_files_are_balanced_and_reproducible(files):
    root, train, _, _ = files
    data = load_dataset(train)
    assert data["x"].shape == (10, *TumourTypeCard(name="x").input_shape)
    assert np.bincount(data["y"], minlength=5).tolist() == [2] * 5
    assert [TUMOUR_TYPES[i] for i in data["y"]] == data["names"].tolist()
    again = load_dataset(make_dataset(root / "again.npz", 10, 11, voxel_mm=2.0))
    np.testing.assert_array_equal(again["x"], data["x"])


@pytest.mark.slow
def test_train_refit_and_evaluate_write_a_loadable_card(files, runner):
    root, train, val, ood = files
    out = root / "model"
    # Two training files are one set (the mechanics only: the second is the validation file).
    train_args = ["model", "train", "--task", "tumour-type", "--train-data", str(train),
                  "--train-data", str(val), "--val-data", str(val), "--out", str(out)]
    result = runner.invoke(args=[*train_args, "--epochs", "1"])
    assert result.exit_code == 0, result.output
    card = TumourTypeCard.load(out)
    assert card.training["train_seeds"] == [11, 12] and card.training["train_cases"] == 20
    assert card.training["validation_seeds"] == [12]
    assert "seed 11 on a 2 mm grid, seed 12 on a 2 mm grid" in card.training_data
    assert card.calibration["temperature"] > 0
    assert card.ood["threshold"] >= max(card.ood["validation_scores"]) - 1e-3
    result = runner.invoke(args=[*train_args, "--refit"])
    assert result.exit_code == 0, result.output
    png = root / "rel.png"
    result = runner.invoke(args=["model", "evaluate", "--model", str(out), "--test-data",
                                 str(val), "--ood-data", str(ood), "--reliability-png", str(png),
                                 "--write-card"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["test"]["n"] == 10 and 0 <= printed["ood_test"]["auroc"] <= 1
    assert png.is_file()
    model = TumourTypeModel.load(out)
    assert "ood_test" in model.card.metrics
