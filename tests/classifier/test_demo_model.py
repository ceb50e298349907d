"""The shipped ResNet50 demo model, end to end on a full-size phantom case (slow)."""

from __future__ import annotations

import json

import pytest

from app.pipeline.analysis.runner import analyse_case
from app.pipeline.models.registry import ModelSet, discover_models
from app.pipeline.render import artefacts

from .conftest import write_phantom

pytestmark = pytest.mark.slow


def test_demo_card_states_what_it_is(demo_classifier):
    card = demo_classifier.card
    assert card.demo is True and "synthetic" in card.training_data.lower()
    assert "not for clinical use" in card.intended_use
    assert card.metrics["evaluation"]["balanced_accuracy"] >= 0.90
    assert card.layout == "channels4" and demo_classifier.model.get_layer("conv5_block3_out")


@pytest.mark.parametrize("cls", ["A", "O", "G"])
def test_demo_model_gives_each_class_on_its_phantom(demo_classifier, tmp_path, cls):
    """A change that answers one class for every case fails here (seed 11: not a training seed)."""
    paths = write_phantom(tmp_path / "case", cls, 11, voxel_mm=1.0)
    summary = analyse_case(paths, tmp_path / "results", ModelSet({"subtype": demo_classifier}))
    assert summary["class"] == cls
    assert summary["probabilities"][cls] == max(summary["probabilities"].values())


def test_demo_model_end_to_end_on_a_phantom(demo_classifier, tmp_path):
    paths = write_phantom(tmp_path / "case", "G", 11, voxel_mm=1.0)
    summary = analyse_case(paths, tmp_path / "results", ModelSet({"subtype": demo_classifier}))
    assert summary["class"] == "G" and summary["grade_group"] == "WHO grade 4"
    assert summary["model"]["demo"] is True and summary["outcome"] == "subtype"
    assert summary["models"] == {"subtype": summary["model"]}
    expected = set(artefacts.ARTEFACTS) - set(artefacts.SEGMENTATION_ARTEFACTS)
    assert {p.name for p in (tmp_path / "results").iterdir()} == expected
    on_disk = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert on_disk["slice_index"] == summary["slice_index"]


def test_the_shipped_models_are_discovered_by_task():
    from .conftest import DEMO_MODEL

    found = discover_models()
    assert found["subtype"] == DEMO_MODEL
    assert found["sequence"] == DEMO_MODEL.parent / "sequence-demo"
