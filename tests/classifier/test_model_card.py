"""The model card: round trip, refusals, and inference reading preprocessing from it alone."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.pipeline.models.card import CARD_FILE, CardError, ModelCard, sha256_file
from app.pipeline.models.inputs import build_inputs


def test_card_round_trip(tmp_path):
    card = ModelCard(
        task="subtype", name="m", image_size=64, uncertainty_k=1, demo=True, metrics={"x": 1.0}
    )
    card.save(tmp_path)
    loaded = ModelCard.load(tmp_path)
    assert loaded == card
    assert loaded.n_slices == 3 and loaded.input_shape == (64, 64, 4)
    data = json.loads((tmp_path / CARD_FILE).read_text())
    assert data["classes"] == ["A", "O", "G"] and data["demo"] is True
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"layout": "rgb"}, "layout"),
        ({"classes": ["A", "A", "G"]}, "distinct"),
        ({"classes": ["A", "X", "G"]}, "unknown classes"),
        ({"image_size": 8}, "image_size"),
        ({"normalisation": {"flair": {"method": "magic"}}}, "normalisation"),
        ({"architecture": "keras-json"}, "model_json"),
    ],
)
def test_inconsistent_cards_are_refused(tmp_path, change, message):
    data = ModelCard(task="subtype", name="m").to_dict() | change
    (tmp_path / CARD_FILE).write_text(json.dumps(data))
    with pytest.raises(CardError, match=message):
        ModelCard.load(tmp_path)


def test_unknown_keys_and_missing_card_are_refused(tmp_path):
    with pytest.raises(CardError, match="no model card"):
        ModelCard.load(tmp_path)
    (tmp_path / CARD_FILE).write_text(
        json.dumps(ModelCard(task="subtype", name="m").to_dict() | {"imgsize": 3})
    )
    with pytest.raises(CardError, match="unknown model card keys"):
        ModelCard.load(tmp_path)


def test_weights_checksum_is_verified(tmp_path):
    (tmp_path / "weights.f16.npz").write_bytes(b"abc")
    card = ModelCard(
        task="subtype", name="m", weights_sha256=sha256_file(tmp_path / "weights.f16.npz")
    )
    card.verify_weights(tmp_path)
    (tmp_path / "weights.f16.npz").write_bytes(b"abd")
    with pytest.raises(CardError, match="sha256"):
        card.verify_weights(tmp_path)


def test_preprocessing_comes_from_the_card(phantom_case):
    case, found = phantom_case
    indices = [found.index]
    a, _ = build_inputs(case, indices, ModelCard(task="subtype", name="a", image_size=48))
    b, _ = build_inputs(case, indices, ModelCard(task="subtype", name="b", image_size=40))
    strip_card = ModelCard(
        task="subtype",
        name="c",
        layout="seed-strip",
        image_size=56,
        channels=3,
        normalisation={s: {"method": "minmax"} for s in ("flair", "t1", "t1ce", "t2")},
    )
    c, _ = build_inputs(case, indices, strip_card)
    assert a.shape == (1, 48, 48, 4) and b.shape == (1, 40, 40, 4) and c.shape == (1, 56, 56, 3)
    assert c.max() <= 1.0 and a.max() > 1.0  # minmax vs shifted robust z-score


def test_summary_block_has_the_contract_keys():
    block = ModelCard(
        task="subtype", name="m", weights_sha256="ab", demo=True, training_data="t"
    ).summary_block()
    assert set(block) == {"name", "version", "weights_sha256", "demo", "training_data"}
    assert np.isfinite(ModelCard(task="subtype", name="m").n_slices)


def test_card_names_its_task_and_refuses_unknown_ones(tmp_path):
    data = ModelCard(task="subtype", name="m").to_dict()
    assert data["task"] == "subtype"
    for bad, message in [({"task": "astrology"}, "unknown task"), ({}, "task: required")]:
        broken = {k: v for k, v in data.items() if k != "task"} | bad
        (tmp_path / CARD_FILE).write_text(json.dumps(broken))
        with pytest.raises(CardError, match=message):
            ModelCard.load(tmp_path)


def test_assignment_is_validated_and_training_data_has_no_final_stop():
    card = ModelCard(task="subtype", name="m", training_data="Phantoms. No patient data.")
    assert card.training_data == "Phantoms. No patient data"
    with pytest.raises(CardError, match="image_size"):
        card.image_size = 4


def test_shipped_card_is_valid_and_matches_its_weights():
    from tests.classifier.conftest import DEMO_MODEL

    card = ModelCard.load(DEMO_MODEL)
    assert card.task == "subtype" and card.demo
    card.verify_weights(DEMO_MODEL)


def test_a_card_without_calibration_has_temperature_one(tmp_path):
    from tests.classifier.conftest import DEMO_MODEL

    data = json.loads((DEMO_MODEL / CARD_FILE).read_text())  # as shipped before calibration
    data.pop("calibration", None)
    data.pop("low_confidence_method", None)
    old = ModelCard.from_dict(data)
    assert old.calibration is None and old.temperature == 1.0
    assert old.low_confidence_method == ""


def test_the_calibration_block_round_trips_and_is_validated(tmp_path):
    card = ModelCard(task="subtype", name="m", calibration={
        "temperature": 1.7, "fitted_on": {"seed": 2611, "n": 150},
        "ece_before": 0.04, "ece_after": 0.01})
    card.save(tmp_path)
    loaded = ModelCard.load(tmp_path)
    assert loaded.temperature == 1.7 and loaded.calibration.fitted_on["seed"] == 2611
    assert json.loads((tmp_path / CARD_FILE).read_text())["calibration"]["ece_after"] == 0.01
    with pytest.raises(CardError, match="calibration.temperature"):
        ModelCard(task="subtype", name="m", calibration={"temperature": 0})
    with pytest.raises(CardError, match="unknown model card keys: \\['calibration.scale'\\]"):
        ModelCard(task="subtype", name="m", calibration={"temperature": 1.0, "scale": 2})
