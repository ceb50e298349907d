"""The shipped sequence model on BraTS-size phantoms: correct slots pass, swaps are named."""

from pathlib import Path

import numpy as np
import pytest

from app.pipeline.io.naming import SEQUENCES
from app.pipeline.models.card import sha256_file
from app.pipeline.models.sequence import SequenceCard, get_sequence_model
from app.pipeline.synthetic import phantoms

pytestmark = pytest.mark.slow

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "sequence-demo"
SWAP = {"flair": "t1", "t1": "flair", "t1ce": "t1ce", "t2": "t2"}
ROTATION = {"flair": "t2", "t1": "flair", "t1ce": "t1", "t2": "t1ce"}


@pytest.fixture(scope="module")
def model():
    return get_sequence_model(str(MODEL_DIR))


def volumes_of(case) -> dict[str, np.ndarray]:
    """The case's volumes as the case loader gives them (float32)."""
    return {s: case.volumes[s].astype(np.float32) for s in SEQUENCES}


@pytest.fixture(scope="module", params=["A", "G"])
def case_volumes(request):
    # Seeds outside the training / validation / test seeds recorded on the card.
    return volumes_of(phantoms.generate_case(request.param, 8100 + ord(request.param)))


def put_in_slots(volumes, slot_holds):
    return {slot: volumes[held] for slot, held in slot_holds.items()}


def test_card_describes_the_shipped_weights():
    card = SequenceCard.load(MODEL_DIR)
    assert card.task == "sequence" and card.classes == list(SEQUENCES)
    weights = card.weights_path(MODEL_DIR)
    assert weights.stat().st_size <= 5 * 1024 * 1024
    assert sha256_file(weights) == card.weights_sha256
    test = card.metrics["test"]
    assert test["seed"] not in (
        card.training["seeds"]["train"],
        card.training["seeds"]["validation"],
    )
    assert test["accuracy"] >= 0.99


def test_correct_slots_pass(model, case_volumes):
    result = model.check(case_volumes)
    assert not result.differs and not result.needs_review, result.message
    assert not result.t1_t1ce_ambiguous
    for slot in SEQUENCES:
        call = result.slots[slot]
        assert call.detected == slot
        assert call.probability >= model.card.thresholds.confident
        assert 0 <= call.spread < 0.5


def test_swap_of_two_slots_is_detected_and_named(model, case_volumes):
    result = model.check(put_in_slots(case_volumes, SWAP))
    assert result.needs_review
    assert result.assignment == SWAP
    assert "The file in the FLAIR slot looks like T1 (p = " in result.message
    assert "the T1 slot looks like FLAIR (p = " in result.message


def test_rotation_of_all_four_is_detected_and_named(model, case_volumes):
    result = model.check(put_in_slots(case_volumes, ROTATION))
    assert result.needs_review
    assert result.assignment == ROTATION
    for slot, held in ROTATION.items():
        assert result.slots[slot].assigned == held
    assert result.message.startswith("The file in the FLAIR slot looks like T2 (p = ")


def test_t1_and_t1ce_without_enhancement_are_not_guessed(model):
    case = phantoms.generate_case("A", 8300, enhancement=0)  # non-enhancing tumour, no vessels
    for holds in (
        {s: s for s in SEQUENCES},
        {**{s: s for s in SEQUENCES}, "t1": "t1ce", "t1ce": "t1"},
    ):
        result = model.check(put_in_slots(volumes_of(case), holds))
        assert result.t1_t1ce_ambiguous, result.to_dict()
        assert result.assignment == {s: s for s in SEQUENCES}  # kept as uploaded
        assert not result.needs_review
        assert "cannot be told apart" in result.t1_t1ce_message


def test_gradcam_for_the_detected_sequence(model, case_volumes):
    result = model.check(case_volumes, with_gradcam=True)
    size = model.card.input.image_size
    for slot in SEQUENCES:
        cam = result.gradcam[slot]
        assert cam.shape == (size, size)
        assert 0 <= cam.min() and cam.max() <= 1 + 1e-6 and cam.max() > 0


def test_mc_dropout_is_repeatable(model, case_volumes):
    batch = model.prepare(case_volumes)
    one, two = model.predict(batch), model.predict(batch)
    assert np.array_equal(one.mean, two.mean)
    assert np.allclose(one.mean.sum(axis=1), 1, atol=1e-5)
    assert np.all(one.std >= 0)
