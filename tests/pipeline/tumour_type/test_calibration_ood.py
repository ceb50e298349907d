"""The tumour-type OOD scoring and threshold rules (shared calibration: test_calibration.py)."""

from __future__ import annotations

import numpy as np
import pytest

from app.pipeline.models.tumour_type import MahalanobisOOD, in_distribution_score
from app.pipeline.training.tumour_type import conformal_threshold, low_confidence_threshold


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
