"""The four-slot decision on synthetic probability tables (no model, no TensorFlow)."""

import json

import numpy as np
import pytest

from app.pipeline.io.naming import SEQUENCES
from app.pipeline.models.sequence import Thresholds, decide_assignment

THRESHOLDS = Thresholds(confident=0.9, t1_t1ce_pair=0.9)


def table(holds: dict[str, str], p: float = 0.97) -> dict[str, np.ndarray]:
    """Per slot: probability ``p`` for the sequence the slot holds, the rest spread evenly."""
    out = {}
    for slot, seq in holds.items():
        row = np.full(4, (1 - p) / 3)
        row[SEQUENCES.index(seq)] = p
        out[slot] = row
    return out


IDENTITY = {s: s for s in SEQUENCES}


def test_correct_slots_pass():
    result = decide_assignment(table(IDENTITY), None, THRESHOLDS)
    assert result.assignment == IDENTITY
    assert not result.differs and not result.needs_review and not result.t1_t1ce_ambiguous
    assert result.message == "Each file looks like the sequence of its slot."
    assert result.slots["t2"].detected == "t2"
    assert result.slots["t2"].probability == pytest.approx(0.97)


def test_swap_of_two_slots_is_named():
    holds = {"flair": "t2", "t1": "t1", "t1ce": "t1ce", "t2": "flair"}
    result = decide_assignment(table(holds, 0.98), None, THRESHOLDS)
    assert result.assignment == holds
    assert result.differs and result.confident and result.needs_review
    assert result.message == (
        "The file in the FLAIR slot looks like T2 (p = 0.98), "
        "the T2 slot looks like FLAIR (p = 0.98)."
    )


def test_rotation_of_all_four_is_named():
    holds = {"flair": "t2", "t1": "flair", "t1ce": "t1", "t2": "t1ce"}
    result = decide_assignment(table(holds), None, THRESHOLDS)
    assert result.assignment == holds
    assert result.needs_review
    for slot, seq in holds.items():
        assert result.slots[slot].assigned == seq
    assert result.message.startswith("The file in the FLAIR slot looks like T2 (p = 0.97), the T1")
    assert "the T2 slot looks like T1ce" in result.message


def test_joint_assignment_overrides_a_lone_argmax():
    # Two files both look most like T2; the joint assignment gives the weaker one FLAIR.
    probs = table(IDENTITY)
    probs["flair"] = np.array([0.40, 0.02, 0.02, 0.56])
    result = decide_assignment(probs, None, THRESHOLDS)
    assert result.slots["flair"].detected == "t2"
    assert result.assignment == IDENTITY
    assert not result.differs


def test_unsure_swap_is_reported_but_not_confident():
    holds = {"flair": "t2", "t1": "t1", "t1ce": "t1ce", "t2": "flair"}
    result = decide_assignment(table(holds, 0.6), None, THRESHOLDS)
    assert result.differs and not result.confident and not result.needs_review
    assert result.message.startswith("The files may be in the wrong slots, but the model is not")


def test_t1_t1ce_that_cannot_be_told_apart_are_kept_and_flagged():
    probs = table(IDENTITY)
    probs["t1"] = np.array([0.01, 0.60, 0.38, 0.01])
    probs["t1ce"] = np.array([0.01, 0.62, 0.36, 0.01])  # no enhancement: looks like T1 too
    result = decide_assignment(probs, None, THRESHOLDS)
    assert result.t1_t1ce_ambiguous
    assert result.assignment == IDENTITY  # not guessed
    assert not result.needs_review
    assert "T1 and T1ce cannot be told apart" in result.t1_t1ce_message
    assert "the T1 slot and the T1ce slot" in result.t1_t1ce_message


def test_clear_t1_t1ce_swap_is_detected():
    holds = {"flair": "flair", "t1": "t1ce", "t1ce": "t1", "t2": "t2"}
    result = decide_assignment(table(holds, 0.95), None, THRESHOLDS)
    assert not result.t1_t1ce_ambiguous
    assert result.needs_review
    assert result.t1_t1ce_probability > 0.99


def test_ambiguous_pair_in_other_slots_is_kept_closest_to_the_upload():
    # T1 uploaded in the FLAIR slot, FLAIR in the T1 slot, an unenhanced T1ce in its own slot.
    probs = {
        "flair": np.array([0.01, 0.55, 0.43, 0.01]),
        "t1": np.array([0.97, 0.01, 0.01, 0.01]),
        "t1ce": np.array([0.01, 0.56, 0.42, 0.01]),
        "t2": np.array([0.01, 0.01, 0.01, 0.97]),
    }
    result = decide_assignment(probs, None, THRESHOLDS)
    assert result.t1_t1ce_ambiguous
    assert result.assignment == {"flair": "t1", "t1": "flair", "t1ce": "t1ce", "t2": "t2"}
    assert result.needs_review  # FLAIR and "T1 or T1ce" are surely in the wrong slots
    assert "the FLAIR slot looks like T1 or T1ce (p = 0.98)" in result.message


def test_spread_is_reported_for_the_detected_sequence():
    spreads = {s: np.full(4, 0.01) for s in SEQUENCES}
    spreads["t2"] = np.array([0.0, 0.0, 0.0, 0.05])
    result = decide_assignment(table(IDENTITY), spreads, THRESHOLDS)
    assert result.slots["t2"].spread == pytest.approx(0.05)


def test_result_serialises_to_json():
    result = decide_assignment(table(IDENTITY), None, THRESHOLDS)
    data = json.loads(json.dumps(result.to_dict()))
    assert set(data["slots"]) == set(SEQUENCES)
    assert data["slots"]["flair"]["detected"] == "flair"


@pytest.mark.parametrize(
    "probs",
    [
        {s: np.full(4, 0.25) for s in SEQUENCES[:3]},
        {s: np.full(3, 1 / 3) for s in SEQUENCES},
        {s: np.array([np.nan, 0.5, 0.25, 0.25]) for s in SEQUENCES},
    ],
)
def test_bad_tables_are_refused(probs):
    with pytest.raises(ValueError):
        decide_assignment(probs, None, THRESHOLDS)
