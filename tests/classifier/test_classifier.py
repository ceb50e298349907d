"""Classification with uncertainty: probabilities, agreement, low confidence, no lesion."""

from __future__ import annotations

import numpy as np
import pytest

from app.pipeline.classes import CLASSES
from app.pipeline.models.inputs import prepare_case
from app.pipeline.models.prediction import NO_LESION_MESSAGE, summarise_probabilities


def test_summary_of_confident_agreeing_slices():
    probs = np.array([[0.05, 0.05, 0.9], [0.1, 0.1, 0.8], [0.0, 0.1, 0.9]])
    s = summarise_probabilities(probs, CLASSES, margin=0.2, agreement_min=0.6)
    assert s.label == "G" and s.agreement == 1.0 and not s.low_confidence
    assert sum(s.probabilities.values()) == pytest.approx(1.0)
    assert s.std["G"] == pytest.approx(np.std([0.9, 0.8, 0.9]))
    assert 0 < s.entropy < 0.6


def test_a_certain_answer_has_entropy_zero_not_minus_zero():
    s = summarise_probabilities(np.array([[0.0, 0.0, 1.0]]), CLASSES, margin=0.2,
                                agreement_min=0.6)
    assert s.entropy == 0.0 and str(s.entropy) == "0.0"


def test_close_call_is_low_confidence():
    probs = np.array([[0.45, 0.1, 0.45 - 1e-3], [0.5, 0.1, 0.4]])
    s = summarise_probabilities(probs, CLASSES, margin=0.2, agreement_min=0.6)
    assert s.label == "A" and s.low_confidence


def test_disagreeing_slices_are_low_confidence():
    probs = np.array([[0.9, 0.05, 0.05]] * 2 + [[0.05, 0.05, 0.9]] * 3 + [[0.95, 0.0, 0.05]] * 2)
    s = summarise_probabilities(probs, CLASSES, margin=0.05, agreement_min=0.6)
    assert s.agreement == pytest.approx(4 / 7) and s.low_confidence


def test_uniform_probabilities_have_entropy_one():
    s = summarise_probabilities(np.full((3, 3), 1 / 3), CLASSES, margin=0.2, agreement_min=0.6)
    assert s.entropy == pytest.approx(1.0) and s.low_confidence


def test_bad_probability_arrays_are_refused():
    with pytest.raises(ValueError):
        summarise_probabilities(np.zeros((0, 3)), CLASSES, margin=0.2, agreement_min=0.6)
    with pytest.raises(ValueError):
        summarise_probabilities(np.zeros((2, 4)), CLASSES, margin=0.2, agreement_min=0.6)


def test_classify_reports_class_grade_and_uncertainty(tiny_classifier, phantom_case):
    case, found = phantom_case
    result = tiny_classifier.classify(case, found)
    assert result.label in CLASSES
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-6)
    assert set(result.probabilities) == set(CLASSES)
    assert result.slice_index == found.index
    assert found.index in result.slices and len(result.slices) == 5
    assert result.grade_group.startswith("WHO grade")
    assert 0 <= result.uncertainty()["agreement"] <= 1
    assert tiny_classifier.device.startswith(("CPU", "GPU"))


def test_no_lesion_is_never_presented_as_confident(tiny_classifier, phantom_case):
    case, found = phantom_case

    prepared = prepare_case(case, tiny_classifier.card, found.index)
    result = tiny_classifier.classify_prepared(prepared, no_lesion_found=True)
    assert result.no_lesion_found and result.low_confidence
    assert result.message == NO_LESION_MESSAGE
    assert result.label in CLASSES  # still computed


def test_predict_pads_and_chunks_to_the_compiled_batch(tiny_classifier):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, (7, 32, 32, 4)).astype(np.float32)
    all_at_once = tiny_classifier.predict(x)
    one_by_one = np.concatenate([tiny_classifier.predict(x[i : i + 1]) for i in range(7)])
    assert all_at_once.shape == (7, 3)
    assert np.allclose(all_at_once, one_by_one, atol=1e-5)
    assert np.allclose(all_at_once.sum(axis=1), 1.0, atol=1e-5)


def test_predict_applies_the_cards_temperature_to_the_logits(tiny_classifier, tmp_path):
    from app.pipeline.models.prediction import softmax
    from app.pipeline.models.subtype import Classifier

    from .conftest import save_tiny_model

    assert tiny_classifier.card.temperature == 1.0 and tiny_classifier.has_logits
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 10, (5, 32, 32, 4)).astype(np.float32)
    logits = tiny_classifier.logits(x)
    np.testing.assert_allclose(tiny_classifier.predict(x), softmax(logits), atol=1e-5)
    save_tiny_model(tmp_path, calibration={"temperature": 2.5, "fitted_on": {"seed": 9, "n": 4}})
    warm = Classifier.load(tmp_path)
    assert warm.card.temperature == 2.5
    np.testing.assert_allclose(warm.logits(x), logits, atol=1e-5)
    np.testing.assert_allclose(warm.predict(x), softmax(logits, 2.5), atol=1e-5)
    assert warm.predict(x).max() < tiny_classifier.predict(x).max()
