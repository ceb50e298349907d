"""Calibration (ECE, temperature scaling), bootstrap metrics and OOD scoring functions."""

from __future__ import annotations

import numpy as np
import pytest

from app.pipeline.models.tumour_type import MahalanobisOOD, in_distribution_score, softmax
from app.pipeline.training.tumour_type import (
    auroc,
    balanced_accuracy,
    classification_metrics,
    conformal_threshold,
    expected_calibration_error,
    fit_temperature,
    low_confidence_threshold,
    reliability_bins,
    write_reliability_png,
)


def test_ece_is_zero_when_confidence_matches_accuracy():
    probs = np.tile([0.8, 0.2], (10, 1))
    labels = np.array([0] * 8 + [1] * 2)
    assert expected_calibration_error(probs, labels) == pytest.approx(0.0)


def test_ece_measures_overconfidence():
    probs = np.tile([0.99, 0.01], (10, 1))
    labels = np.array([0] * 5 + [1] * 5)
    assert expected_calibration_error(probs, labels) == pytest.approx(0.49)
    with pytest.raises(ValueError):
        expected_calibration_error(np.zeros((0, 2)), np.zeros(0))


def test_temperature_scaling_undoes_sharpened_logits():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, size=(4000, 5))
    probs = softmax(true_logits)
    labels = np.array([rng.choice(5, p=p) for p in probs])
    t = fit_temperature(true_logits * 3, labels)
    assert t == pytest.approx(3.0, rel=0.1)
    before = expected_calibration_error(softmax(true_logits * 3), labels)
    after = expected_calibration_error(softmax(true_logits * 3, t), labels)
    assert after < before / 3


def test_softmax_temperature_flattens():
    p1, p2 = softmax(np.array([2.0, 0.0])), softmax(np.array([2.0, 0.0]), 4.0)
    assert p1.sum() == pytest.approx(1) and p2.sum() == pytest.approx(1)
    assert p2[0] < p1[0]


def test_reliability_png(tmp_path):
    rng = np.random.default_rng(1)
    probs = softmax(rng.normal(0, 2, size=(200, 5)))
    labels = rng.integers(0, 5, 200)
    rows = reliability_bins(probs, labels)
    assert sum(r["n"] for r in rows) == 200
    path = write_reliability_png(tmp_path / "rel.png", rows, rows)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_auroc_and_balanced_accuracy():
    assert auroc(np.array([0.1, 0.2]), np.array([0.5, 0.9])) == 1.0
    assert auroc(np.array([1.0, 1.0]), np.array([1.0, 1.0])) == 0.5
    assert auroc(np.array([0.9]), np.array([0.1])) == 0.0
    with pytest.raises(ValueError):
        auroc(np.array([]), np.array([1.0]))
    labels = np.array([0, 0, 0, 0, 1])
    assert balanced_accuracy(labels, np.array([0, 0, 0, 0, 0]), 2) == 0.5


def test_classification_metrics_have_bootstrap_intervals():
    labels = np.repeat(np.arange(5), 20)
    probs = np.eye(5)[labels] * 0.9 + 0.02
    probs[0] = [0.02, 0.9, 0.02, 0.02, 0.04]  # one mistake
    m = classification_metrics(labels, probs, ["a", "b", "c", "d", "e"])
    assert m["n"] == 100 and m["per_class"]["a"]["recall"] == 0.95
    lo, hi = m["balanced_accuracy_ci95"]
    assert lo <= m["balanced_accuracy"] <= hi <= 1.0
    assert m["confusion"][0][1] == 1


def test_conformal_and_low_confidence_thresholds():
    scores = np.arange(1, 100, dtype=float)  # n = 99
    assert conformal_threshold(scores, 0.01) == 99.0
    assert conformal_threshold(scores, 0.1) == 90.0
    probs = np.array([[0.9, 0.1]] * 49 + [[0.55, 0.45]])
    assert low_confidence_threshold(probs, np.zeros(50, dtype=int), 0.01) >= 0.5


@pytest.fixture()
def gaussian_features():
    rng = np.random.default_rng(2)
    means = np.array([[0.0, 0.0, 0.0], [5.0, 0.0, 0.0], [0.0, 5.0, 0.0]])
    labels = np.repeat(np.arange(3), 300)
    feats = means[labels] + rng.normal(0, 1, size=(900, 3))
    return feats, labels, means


def test_mahalanobis_scores_far_points_high(gaussian_features, tmp_path):
    feats, labels, means = gaussian_features
    ood = MahalanobisOOD.fit(feats, labels, 3)
    near = ood.score(means)
    far = ood.score(np.array([[20.0, 20.0, 20.0], [-15.0, 0.0, 0.0]]))
    assert near.max() < 0.1 and far.min() > 50
    loaded = MahalanobisOOD.load(ood.save(tmp_path / "ood.npz"))
    np.testing.assert_allclose(loaded.score(feats[:10]), ood.score(feats[:10]), rtol=1e-4)
    with pytest.raises(ValueError, match="no training features"):
        MahalanobisOOD.fit(feats, labels, 4)


def test_mahalanobis_feature_blocks_add_their_scaled_scores(gaussian_features):
    feats, labels, _ = gaussian_features
    rng = np.random.default_rng(3)
    both = np.concatenate([feats, rng.normal(0, 1, size=(900, 2))], axis=1)
    ood = MahalanobisOOD.fit(both, labels, 3, sizes=[3, 2])
    assert ood.sizes == [3, 2]
    first = MahalanobisOOD.fit(feats, labels, 3)
    second = MahalanobisOOD.fit(both[:, 3:], labels, 3)
    expected = first.score(feats[:5]) + second.score(both[:5, 3:])
    np.testing.assert_allclose(ood.score(both[:5]), expected)
    # A point normal in the first block but extreme in the second is caught by the second.
    odd = np.array([[0.0, 0.0, 0.0, 12.0, -12.0]])
    assert ood.score(odd)[0] > 20 * np.median(ood.score(both))
    with pytest.raises(ValueError, match="do not add up"):
        MahalanobisOOD.fit(both, labels, 3, sizes=[3, 3])


def test_in_distribution_score_is_a_conformal_p_value(gaussian_features):
    feats, labels, _ = gaussian_features
    ood = MahalanobisOOD.fit(feats, labels, 3)
    ref = ood.score(feats)
    assert in_distribution_score(float(ref.min()), ref) == 1.0
    assert in_distribution_score(1e6, ref) == pytest.approx(1 / (len(ref) + 1))
    with pytest.raises(ValueError):
        in_distribution_score(1.0, [])
