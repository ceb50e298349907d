"""The tumour-type model: card, preprocessing from the card, and the shipped demo model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.pipeline.classes import TUMOUR_TYPES
from app.pipeline.io.naming import SEQUENCES
from app.pipeline.models.card import CardError
from app.pipeline.models.tumour_type import TumourTypeCard, prepare_volumes, resample_to
from app.pipeline.synthetic.tumour_types import generate_tumour_case

DEMO = Path(__file__).resolve().parents[3] / "models" / "tumour-type-demo"


@pytest.fixture(scope="module")
def card():
    return TumourTypeCard(name="test")


def test_card_refuses_unknown_keys_and_wrong_classes(card):
    data = card.to_dict()
    assert TumourTypeCard.from_dict(data).classes == list(TUMOUR_TYPES)
    with pytest.raises(CardError, match="unknown tumour-type card keys"):
        TumourTypeCard.from_dict({**data, "tempreature": 2})
    with pytest.raises(CardError, match="classes must be"):
        TumourTypeCard.from_dict({**data, "classes": ["A", "O", "G"]})
    with pytest.raises(CardError, match="task"):
        TumourTypeCard.from_dict({**data, "task": "subtype"})


def test_block_mean_resampling():
    vol = np.arange(4 * 4 * 2, dtype=np.float32).reshape(4, 4, 2)
    out = resample_to(vol, (1, 1, 1), 2.0)
    assert out.shape == (2, 2, 1)
    assert out[0, 0, 0] == pytest.approx(vol[:2, :2, :2].mean())
    odd = np.random.default_rng(0).integers(0, 500, size=(13, 8, 7)).astype(np.int16)
    padded = np.pad(odd.astype(np.float64), [(0, 2), (0, 1), (0, 2)])
    expected = padded.reshape(5, 3, 3, 3, 3, 3).mean(axis=(1, 3, 5))
    for layout in (odd, np.asfortranarray(odd)):
        np.testing.assert_allclose(resample_to(layout, (1, 1, 1), 3.0), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="coarser"):
        resample_to(vol, (4, 4, 4), 2.0)


def test_prepare_volumes_same_input_from_1mm_and_2mm_grids(card):
    small = generate_tumour_case("meningioma", 4, voxel_mm=2.0)
    x = prepare_volumes(small.volumes, small.voxel_size, card)
    assert x.shape == card.input_shape and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 2.0
    assert (x[..., 0] > 0).mean() > 0.2  # the brain fills the window
    with pytest.raises(ValueError, match="missing"):
        prepare_volumes({"flair": small.volumes["flair"]}, small.voxel_size, card)
    empty = {s: np.zeros((20, 20, 20), np.int16) for s in SEQUENCES}
    with pytest.raises(ValueError, match="no brain"):
        prepare_volumes(empty, (2.0, 2.0, 2.0), card)


@pytest.fixture(scope="module")
def demo_model():
    from app.pipeline.models.tumour_type import TumourTypeModel

    return TumourTypeModel.load(DEMO)


@pytest.mark.slow
@pytest.mark.parametrize("kind", TUMOUR_TYPES)
def test_shipped_model_names_each_type_on_brats_size_cases(demo_model, kind):
    case = generate_tumour_case(kind, 9001, voxel_mm=1.0)
    assert case.volumes["flair"].shape == (240, 240, 155)
    result = demo_model.predict_volumes(case.volumes, case.voxel_size)
    assert result["tumour_type"] == kind, result
    assert not result["out_of_distribution"]
    assert sum(result["probabilities"].values()) == pytest.approx(1.0)


@pytest.mark.slow
def test_shipped_model_reads_a_loaded_case(demo_model, tmp_path):
    from app.pipeline.io.case_loader import load_case
    from app.pipeline.synthetic.phantoms import write_case

    case = generate_tumour_case("glioma", 9002, voxel_mm=1.0)
    write_case(case, tmp_path, "G1")
    loaded = load_case({s: tmp_path / f"G1_{s}.nii.gz" for s in SEQUENCES})
    result = demo_model.predict(loaded)
    assert result["tumour_type"] == "glioma"
    assert 0 < result["in_distribution"] <= 1


@pytest.mark.slow
def test_shipped_model_flags_a_non_brain_volume(demo_model):
    from app.pipeline.synthetic.ood import generate_ood_case

    volumes, affine = generate_ood_case("ellipsoid", 9003, voxel_mm=1.0)
    result = demo_model.predict_volumes(volumes, (1.0, 1.0, 1.0))
    assert result["out_of_distribution"]
    assert result["tumour_type"] is None
    assert result["ood_score"] > result["ood_threshold"]
    assert "unlike the data" in result["message"]
