"""The shared calibration module: temperature scaling, ECE, reliability, bootstrap, thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from app.pipeline.models.prediction import softmax
from app.pipeline.training.calibration import (
    auroc,
    balanced_accuracy,
    bootstrap_ci,
    case_probabilities,
    choose_low_confidence,
    classification_metrics,
    expected_calibration_error,
    fit_temperature,
    lower_quantile,
    negative_log_likelihood,
    reliability_bins,
    write_reliability_png,
)


@pytest.fixture(scope="module")
def calibrated_set():
    """4000 cases whose labels are drawn from softmax(logits): calibrated by construction."""
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, size=(4000, 3))
    labels = np.array([rng.choice(3, p=p) for p in softmax(logits)])
    return logits, labels


@pytest.fixture(scope="module")
def overconfident_set(calibrated_set):
    """The same cases with logits sharpened 3x (an over-confident network), as 5-slice slabs."""
    logits, labels = calibrated_set
    rng = np.random.default_rng(1)
    slabs = 3 * logits[:, None, :] + rng.normal(0, 0.05, size=(len(logits), 5, 3))
    return slabs, labels


def test_ece_of_a_calibrated_set_is_near_zero(calibrated_set):
    logits, labels = calibrated_set
    assert expected_calibration_error(softmax(logits), labels) < 0.03
    assert expected_calibration_error(softmax(3 * logits), labels) > 0.1


def test_temperature_fit_lowers_the_nll_of_an_overconfident_set(overconfident_set):
    slabs, labels = overconfident_set
    t = fit_temperature(slabs, labels)
    assert t == pytest.approx(3.0, rel=0.15)
    nll_before = negative_log_likelihood(case_probabilities(slabs), labels)
    nll_after = negative_log_likelihood(case_probabilities(slabs, t), labels)
    assert nll_after < nll_before - 0.1
    ece_after = expected_calibration_error(case_probabilities(slabs, t), labels)
    assert ece_after < expected_calibration_error(case_probabilities(slabs), labels) / 3
    # Slabs of different depth (clipped at the volume's edge) give the same fit.
    ragged = [s[: 3 + i % 3] for i, s in enumerate(slabs)]
    assert fit_temperature(ragged, labels) == pytest.approx(t, rel=0.05)


def test_case_probabilities_average_the_slices_and_refuse_bad_input():
    z = np.array([[[2.0, 0.0], [0.0, 2.0]]])
    np.testing.assert_allclose(case_probabilities(z), [[0.5, 0.5]])
    np.testing.assert_allclose(case_probabilities([z[0][:1]], 2.0), softmax(z[0][:1], 2.0))
    with pytest.raises(ValueError, match="positive"):
        case_probabilities(z, 0.0)
    with pytest.raises(ValueError):
        case_probabilities(np.zeros(3))
    with pytest.raises(ValueError):
        fit_temperature(z, np.array([0, 1]))


def test_bootstrap_ci_contains_the_point_estimate():
    rng = np.random.default_rng(3)
    hits = (rng.random(300) < 0.9).astype(float)
    lo, hi = bootstrap_ci(lambda i: float(hits[i].mean()), len(hits), seed=5)
    assert lo < hits.mean() < hi
    assert 0.05 < hi - lo < 0.1  # about 2 x 1.96 x sqrt(0.9 x 0.1 / 300) = 0.068
    assert bootstrap_ci(lambda i: float(hits[i].mean()), len(hits), seed=5) == (lo, hi)


def test_low_confidence_thresholds_flag_at_most_the_share_of_correct_cases():
    rng = np.random.default_rng(4)
    leads = rng.random(200)
    correct = np.arange(200) < 180
    agreements = np.where(np.arange(200) < 10, 0.8, 1.0)
    agreements[0] = 0.6  # correct cases: 1 of 180 below 0.8, 10 of 180 below 1.0
    limits = choose_low_confidence(leads, agreements, correct, share=0.02)
    assert np.mean(leads[correct] < limits["margin"]) <= 0.02
    assert np.mean(agreements[correct] < limits["agreement"]) <= 0.02
    assert limits["agreement"] == 0.8
    assert lower_quantile([3.0, 1.0, 2.0], 0.0) == 1.0
    with pytest.raises(ValueError, match="no correctly classified"):
        choose_low_confidence(leads, agreements, np.zeros(200, dtype=bool))
    with pytest.raises(ValueError):
        lower_quantile([], 0.1)


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
    from app.pipeline.training.calibration import ece_of_bins

    # the diagram's ECE is the card's: the same bins
    assert ece_of_bins(rows) == pytest.approx(expected_calibration_error(probs, labels))
    path = write_reliability_png(tmp_path / "rel.png", rows, rows)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_reliability_png_draws_one_bar_per_filled_bin(tmp_path):
    """The picture: a bar of the bin's accuracy in Okabe-Ito blue, as tall as that accuracy."""
    from PIL import Image

    from app.pipeline.training.calibration import RELIABILITY_COLOURS

    rows = [{"lo": i / 10, "hi": (i + 1) / 10, "n": 0, "accuracy": 0.0, "confidence": 0.0}
            for i in range(10)]
    rows[9].update(n=30, accuracy=0.9, confidence=0.95)  # a 0.9-high bar at the right
    rows[5].update(n=10, accuracy=0.5, confidence=0.55)
    image = np.asarray(Image.open(write_reliability_png(tmp_path / "r.png", rows, rows)))
    blue = np.all(image == RELIABILITY_COLOURS["bar"], axis=-1)[:-40]  # not the legend's swatch
    panel = blue[:, : image.shape[1] // 2]
    heights = panel.sum(axis=0)
    columns = np.flatnonzero(heights)
    assert columns.size > 0
    tall, short = heights[columns[-1] - 5], heights[columns[0] + 5]
    assert tall / short == pytest.approx(0.9 / 0.5, rel=0.05)
    assert blue[:, image.shape[1] // 2:].sum() == panel.sum()  # the after panel is the same


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
