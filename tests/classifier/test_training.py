"""Training and evaluation on a handful of 2 mm phantoms with a tiny image size (slow)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from app.pipeline.models.card import CardError, ModelCard
from app.pipeline.training import evaluation
from app.pipeline.training.dataset import find_cases, read_labels
from app.pipeline.training.train import TrainConfig, split_cases, train

from .conftest import write_phantom


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rows = []
    for i, cls in enumerate("AOGAOG"):
        case_dir = root / f"C{i}"  # one subfolder per case
        paths = write_phantom(case_dir, cls, 100 + i)
        for seq, path in paths.items():
            path.rename(case_dir / f"C{i}_{seq}.nii.gz")
        rows.append((f"C{i}", cls, 12000))
    labels = root / "labels.csv"
    with open(labels, "w", newline="") as fh:
        csv.writer(fh).writerows([("CPM_RadPath_2019_ID", "class", "age_in_days"), *rows])
    return root, labels


def test_cases_and_labels_are_found(tiny_dataset):
    root, labels = tiny_dataset
    assert sorted(find_cases(root)) == [f"C{i}" for i in range(6)]
    assert read_labels(labels)["C2"] == "G"


def test_split_is_stratified_by_case():
    train, val = split_cases([0, 1, 2] * 10, 0.2, seed=0)
    labels = [0, 1, 2] * 10
    assert len(val) == 6 and sorted(labels[i] for i in val) == [0, 0, 1, 1, 2, 2]
    assert not set(train) & set(val)
    with pytest.raises(ValueError):
        split_cases([0, 1, 2, 2], 0.5, seed=0)


@pytest.mark.slow
def test_train_then_evaluate(tiny_dataset, tmp_path):
    root, labels = tiny_dataset
    out = tmp_path / "model"
    trained = train(TrainConfig(root, labels, out, image_size=32, epochs=1, val_fraction=0.5,
                                workers=1, uncertainty_k=1, save_float32=tmp_path / "f32.npz"))
    card = ModelCard.load(out)
    assert card == trained and card.task == "subtype"
    assert card.image_size == 32 and card.n_slices == 3
    assert set(card.metrics["validation"]) >= {"f1_micro", "kappa", "balanced_accuracy"}
    assert card.float16_max_abs_prob_diff < 1e-3
    png = tmp_path / "cm.png"
    metrics = evaluation.evaluate(out, root, labels, confusion_png=png, write_card=True, workers=1)
    evaluation.evaluate(out, root, labels, write_card=True, card_key="evaluation_other", workers=1)
    assert metrics["n"] == 6 and png.stat().st_size > 0
    stored = ModelCard.load(out).metrics
    assert stored["evaluation"]["n"] == 6 and stored["evaluation_other"]["n"] == 6
    assert "balanced accuracy" in evaluation.format_metrics(metrics)
    assert "float16_max_abs_prob_diff" not in metrics

    measured = evaluation.evaluate(out, root, labels, workers=1,
                                   float32_reference=tmp_path / "f32.npz")
    assert 0 < measured["float16_max_abs_prob_diff"] < 1e-3
    assert "max |Δprob| vs float32" in evaluation.format_metrics(measured)


def test_float32_reference_must_match_the_model(tiny_dataset, tiny_model_dir, tmp_path):
    root, labels = tiny_dataset
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, w0000=np.zeros((3, 3)))
    with pytest.raises(CardError, match="1 weight arrays, the model has"):
        evaluation.evaluate(tiny_model_dir, root, labels, workers=1, float32_reference=wrong)


def test_calibrate_then_evaluate_with_intervals_and_reliability(tiny_dataset, tmp_path, runner):
    from .conftest import save_tiny_model

    root, labels = tiny_dataset
    model_dir = tmp_path / "model"
    save_tiny_model(model_dir)
    sha = ModelCard.load(model_dir).weights_sha256
    result = runner.invoke(args=["model", "calibrate", "--model", str(model_dir), "--data",
                                 str(root), "--labels", str(labels), "--data-seed", "41",
                                 "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "temperature " in result.output and "on 6 cases (seed 41)" in result.output
    card = ModelCard.load(model_dir)
    assert card.weights_sha256 == sha and card.calibration.fitted_on["seed"] == 41
    assert card.calibration.fitted_on["n"] == 6 and card.temperature > 0
    assert "lower 2% quantile" in card.low_confidence_method
    assert set(card.low_confidence) == {"margin", "agreement"}

    png = tmp_path / "reliability.png"
    result = runner.invoke(args=["model", "evaluate", "--model", str(model_dir), "--data",
                                 str(root), "--labels", str(labels), "--data-seed", "42",
                                 "--reliability-png", str(png), "--write-card",
                                 "--card-key", "test42", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "data seed 42" in result.output and "95% CI" in result.output
    assert f"at temperature {card.temperature:.3f}" in result.output
    metrics = ModelCard.load(model_dir).metrics["test42"]
    assert metrics["data_seed"] == 42 and metrics["n"] == 6
    assert metrics["temperature"] == round(card.temperature, 4)
    for key in ("f1_micro", "kappa", "balanced_accuracy"):
        lo, hi = metrics[f"{key}_ci95"]
        assert lo <= metrics[key] <= hi
    assert all("recall_ci95" in row for row in metrics["per_class"].values())
    assert 0 <= metrics["ece_after"] <= 1 and 0 <= metrics["ece_before"] <= 1
