"""Preprocessing of one volume and the sequence card (no TensorFlow)."""

import json

import numpy as np
import pytest

from app.pipeline.io.naming import SEQUENCES
from app.pipeline.models.card import CardError
from app.pipeline.models.sequence import (
    InputSpec,
    SequenceCard,
    preprocess_volume,
    slice_indices,
)
from app.pipeline.synthetic import phantoms


@pytest.fixture(scope="module")
def case():
    return phantoms.generate_case("A", 31, voxel_mm=2.0)


@pytest.fixture
def spec():
    return InputSpec()


def test_slices_are_spread_over_the_brain(case, spec):
    volume = case.volumes["t1"]
    indices = slice_indices(volume, spec)
    filled = np.flatnonzero(volume.any(axis=(0, 1)))
    assert indices == sorted(indices)
    assert filled[0] < indices[0] and indices[-1] < filled[-1]


def test_input_shape_range_and_background(case, spec):
    x = preprocess_volume(case.volumes["flair"], spec)
    assert x.shape == spec.shape and x.dtype == np.float32
    assert spec.clip[0] <= x.min() and x.max() <= spec.clip[1]
    assert np.all(x[0, 0] == 0) and np.all(x[-1, -1] == 0)  # corners are background


def test_input_ignores_scanner_gain_and_offset(case, spec):
    volume = case.volumes["t2"].astype(np.float32)
    brain = volume > 0
    other = np.where(brain, volume * 3.7 + 250.0, 0)
    assert np.allclose(preprocess_volume(volume, spec), preprocess_volume(other, spec), atol=1e-4)


def test_t1ce_differs_from_t1_by_normal_enhancement(case):
    t1 = case.volumes["t1"].astype(float)
    t1ce = case.volumes["t1ce"].astype(float)
    bright = t1ce > 1.6 * np.median(t1ce[t1ce > 0])
    assert bright.sum() > 100
    assert t1ce[bright].mean() > 1.4 * t1[bright].mean()
    flat = phantoms.generate_case("A", 31, voxel_mm=2.0, enhancement=0)
    for seq in ("flair", "t1", "t2"):  # the other sequences do not change with it
        assert np.array_equal(flat.volumes[seq], case.volumes[seq])


@pytest.mark.parametrize("volume", [np.zeros((8, 8, 8)), np.ones((8, 8))])
def test_unusable_volumes_are_refused(volume, spec):
    with pytest.raises(ValueError):
        preprocess_volume(volume, spec)


def test_card_round_trip(tmp_path):
    card = SequenceCard(name="x")
    card.save(tmp_path)
    again = SequenceCard.load(tmp_path)
    assert again == card
    assert again.task == "sequence" and again.classes == list(SEQUENCES)


@pytest.mark.parametrize(
    "change",
    [
        {"task": "subtype"},
        {"classes": ["flair", "t1", "t2", "dwi"]},
        {"surprise": 1},
        {"input": {"image_size": 64, "slice_fractions": [1.5]}},
    ],
)
def test_bad_cards_are_refused(tmp_path, change):
    data = SequenceCard(name="x").model_dump(mode="json")
    data.update(change)
    (tmp_path / "card.json").write_text(json.dumps(data))
    with pytest.raises(CardError):
        SequenceCard.load(tmp_path)


def test_missing_weights_are_refused(tmp_path):
    with pytest.raises(CardError, match="missing"):
        SequenceCard(name="x").verify_weights(tmp_path)
