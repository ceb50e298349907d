"""Data building, augmentation, metrics and thresholds of the sequence training (no fitting)."""

import numpy as np
import pytest

from app.pipeline.io.naming import SEQUENCES
from app.pipeline.models.sequence import InputSpec, slice_indices
from app.pipeline.synthetic import phantoms
from app.pipeline.training.sequence import (
    SequenceData,
    SequenceTrainConfig,
    augment_slices,
    build_split,
    choose_thresholds,
    classification_metrics,
    train_sequence_model,
)


@pytest.fixture(scope="module")
def volume():
    return phantoms.generate_case("G", 12, voxel_mm=2.0).volumes["t1ce"]


def test_augmentation_keeps_shape_and_background(volume):
    spec = InputSpec()
    indices = slice_indices(volume, spec)
    brain = np.stack([volume[:, :, i] > 0 for i in indices], axis=-1)
    for seed in range(6):
        out = augment_slices(volume, indices, 2.0, np.random.default_rng(seed))
        assert out.shape == brain.shape and out.dtype == np.float32
        assert np.all(out >= 0) and np.all(out[:3] == 0) and np.all(out[-3:] == 0)
        # Thick slices blur the brain's edge a little; the brain stays about the same size.
        assert abs(int((out > 0).sum()) - int(brain.sum())) < 0.25 * brain.sum()


def test_augmentation_varies_the_image(volume):
    indices = slice_indices(volume, InputSpec())
    one = augment_slices(volume, indices, 2.0, np.random.default_rng(1))
    two = augment_slices(volume, indices, 2.0, np.random.default_rng(2))
    assert not np.allclose(one, two)


def test_build_split_labels_every_volume():
    data = build_split(5, 1, InputSpec(), fraction_1mm=0.0, augment=2)
    assert data.x.shape == (8, *InputSpec().shape)
    assert data.y.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert set(data.case.tolist()) == {0}


def test_metrics_count_the_confusion():
    y_true = np.array([0, 1, 2, 3, 2])
    y_pred = np.array([0, 1, 1, 3, 2])
    m = classification_metrics(y_true, y_pred)
    assert m["accuracy"] == 0.8 and m["n"] == 5
    assert m["per_sequence_accuracy"]["t1ce"] == 0.5
    assert m["confusion_matrix"]["counts"][2] == [0, 1, 1, 0]


def probs_for(y, p_true, t1ce_as_t1=0.0):
    out = np.full((len(y), 4), (1 - p_true) / 3)
    out[np.arange(len(y)), y] = p_true
    if t1ce_as_t1:  # T1ce volumes look like T1
        rows = y == SEQUENCES.index("t1ce")
        out[rows] = [0.01, t1ce_as_t1, 0.98 - t1ce_as_t1, 0.01]
    return out


def test_thresholds_separate_flat_pairs_from_normal_ones():
    y = np.tile(np.arange(4), 5)
    data = SequenceData(np.zeros((20, 1)), y, np.repeat(np.arange(5), 4))
    thresholds, info = choose_thresholds(
        probs_for(y, 0.97), data, probs_for(y, 0.97, t1ce_as_t1=0.6), data
    )
    assert thresholds.confident == 0.95
    assert info["validation_pair_probability_no_enhancement_max"] < thresholds.t1_t1ce_pair
    assert thresholds.t1_t1ce_pair < info["validation_pair_probability_normal_p01"]


def test_training_refuses_shared_seeds(tmp_path):
    with pytest.raises(ValueError, match="distinct"):
        train_sequence_model(SequenceTrainConfig(out_dir=tmp_path, val_seed=1, test_seed=1))
