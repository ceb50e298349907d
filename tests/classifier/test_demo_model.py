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
    assert card.layout == "channels4" and demo_classifier.model.get_layer(card.gradcam_layer)
    assert card.gradcam_layer == "conv3_block4_out"  # 12x12 at 96 px: see docs/model.md


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


@pytest.mark.parametrize("cls, seed", [("G", 1002), ("G", 11)])
def test_saliency_falls_on_the_tumour_side(demo_classifier, tmp_path, cls, seed):
    """Two left-hemisphere glioblastomas whose Grad-CAM at the last block (3x3) lay on the healthy
    hemisphere: at the card's layer most of the heat is on the tumour's side, near the tumour."""
    import nibabel as nib
    import numpy as np
    from scipy import ndimage

    paths = write_phantom(tmp_path / "case", cls, seed, voxel_mm=1.0)
    analyse_case(paths, tmp_path / "results", ModelSet({"subtype": demo_classifier}))
    heat = np.asanyarray(nib.load(tmp_path / "results" / "heatmap.nii.gz").dataobj)
    seg = np.asanyarray(nib.load(tmp_path / "case" / f"CASE{seed}_seg.nii.gz").dataobj) > 0
    mid = (seg.shape[0] - 1) / 2
    x = np.arange(seg.shape[0])
    tumour_right = np.nonzero(seg)[0].mean() > mid
    per_x = heat.sum(axis=(1, 2))
    same_side = per_x[x > mid].sum() if tumour_right else per_x[x < mid].sum()
    assert same_side > 0.6 * heat.sum()
    near = ndimage.binary_dilation(seg, iterations=5)
    assert heat[near].sum() > 0.4 * heat.sum()
