"""Segmentation inference: geometry, resampling, card, and the shipped model end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.pipeline.lesion.segmentation_card import SegmentationCard
from app.pipeline.models.card import CardError

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "models" / "segmentation-demo"
UNSEEN_SEED = 5404  # not the card's training (5101), validation (5202) or test (5707, 5808) seeds


@pytest.fixture(scope="module")
def seg():
    from app.pipeline.lesion import segmentation

    return segmentation


@pytest.fixture
def tiny_card() -> SegmentationCard:
    card = SegmentationCard(name="tiny")
    card.architecture["base_filters"] = 4
    return card


@pytest.fixture
def tiny_segmenter(seg, tiny_card):
    model = seg.build_unet(tiny_card.in_channels, 4, base_filters=4, levels=4)
    segmenter = seg.Segmenter(model, tiny_card)
    segmenter.warm_up()
    return segmenter


def test_card_round_trip_and_refusals(tmp_path, tiny_card):
    tiny_card.save(tmp_path)
    loaded = SegmentationCard.load(tmp_path)
    assert loaded.to_dict() == tiny_card.to_dict()
    assert loaded.in_channels == 12
    with pytest.raises(CardError, match="unknown segmentation card keys"):
        SegmentationCard.from_dict({**tiny_card.to_dict(), "colour": "red"})
    with pytest.raises(CardError, match="task"):
        SegmentationCard.from_dict({**tiny_card.to_dict(), "task": "subtype"})


def test_block_mean_then_linear_upsampling_restores_a_ramp(seg):
    ramp = np.add.outer(np.add.outer(np.arange(16.0), np.arange(12.0)), np.arange(8.0))
    coarse = seg.block_mean(ramp.astype(np.float32), (2, 2, 2))
    assert coarse.shape == (8, 6, 4)
    fine = seg.upsample_linear(coarse, (2, 2, 2))
    assert fine.shape == ramp.shape
    np.testing.assert_allclose(fine[1:-1, 1:-1, 1:-1], ramp[1:-1, 1:-1, 1:-1], atol=1e-5)


def test_plan_geometry_covers_the_brain_padded(seg):
    brain = np.zeros((100, 90, 60), dtype=bool)
    brain[13:77, 20:81, 5:50] = True
    g = seg.plan_geometry(brain, (1.0, 1.0, 1.0), 2.0, 8)
    assert g.factors == (2, 2, 2)
    assert g.coarse_shape[0] % 8 == 0 and g.coarse_shape[1] % 8 == 0
    for axis, (lo, hi) in enumerate([(13, 77), (20, 81), (5, 50)]):
        assert g.origin[axis] <= lo and g.origin[axis] + g.fine_size[axis] >= hi
    assert seg.block_factors((0.5, 0.5, 3.0), 2.0) == (4, 4, 1)
    with pytest.raises(ValueError, match="empty"):
        seg.plan_geometry(np.zeros((10, 10, 10), bool), (1, 1, 1), 2.0, 8)


def test_extract_box_zero_fills_outside(seg):
    data = np.arange(27, dtype=np.float32).reshape(3, 3, 3) + 1
    box = seg.extract_box(data, (-1, 1, 0), (3, 3, 3))
    assert (box[0] == 0).all() and (box[:, 2] == 0).all()
    np.testing.assert_array_equal(box[1:, :2], data[:2, 1:])


def test_probabilities_map_back_to_the_exact_fine_block(seg, tiny_segmenter):
    brain = np.zeros((64, 64, 40), dtype=bool)
    brain[8:56, 8:56, 4:36] = True
    g = seg.plan_geometry(brain, (1.0, 1.0, 1.0), 2.0, 8)
    xc, yc, zc = g.coarse_shape
    rows = np.arange(zc)
    probs = np.zeros((zc, xc, yc, 4), np.float32)
    probs[..., 0] = 1
    probs[6:9, 5:9, 5:9] = [0, 0, 0, 1]  # label 4 in coarse x 5..8, y 5..8, z 6..8
    labels = tiny_segmenter.labels_from_probabilities(probs, rows, g, brain)
    block = np.zeros(brain.shape, bool)
    ox, oy, oz = g.origin
    block[ox + 10 : ox + 18, oy + 10 : oy + 18, oz + 12 : oz + 18] = True
    assert set(np.unique(labels)) == {0, 4}
    assert not (labels[~block]).any()  # nothing outside the block's fine voxels
    inner = np.zeros_like(block)
    inner[ox + 11 : ox + 17, oy + 11 : oy + 17, oz + 13 : oz + 17] = True
    assert (labels[inner] == 4).all()  # only the block's corners round off (trilinear)
    assert (labels[ox + 10 : ox + 18, oy + 14, oz + 15] == 4).all()  # exact extent on the axes


def test_segment_returns_a_label_map_in_the_case_grid(tiny_segmenter):
    from app.pipeline.synthetic.phantoms import generate_case
    from app.pipeline.training.segmentation import phantom_source

    phantom = generate_case("G", 3, voxel_mm=2.0)
    result = tiny_segmenter.segment(phantom_source(phantom))
    assert result.labels.shape == phantom.seg.shape and result.labels.dtype == np.uint8
    assert set(np.unique(result.labels)) <= {0, 1, 2, 4}
    assert not result.labels[phantom.volumes["flair"] == 0].any()
    assert result.slices > 0 and result.seconds["total"] > 0


def test_segment_refuses_mismatched_volumes(tiny_segmenter):
    vols = {s: np.ones((20, 20, 20), np.float32) for s in ("flair", "t1", "t1ce")}
    with pytest.raises(ValueError, match="missing"):
        tiny_segmenter.segment_volumes(vols, (1, 1, 1))
    vols["t2"] = np.ones((20, 20, 21), np.float32)
    with pytest.raises(ValueError, match="one shape"):
        tiny_segmenter.segment_volumes(vols, (1, 1, 1))


@pytest.mark.slow
def test_shipped_model_segments_an_unseen_brats_size_phantom(tmp_path, seg):
    from app.pipeline.io.case_loader import load_case
    from app.pipeline.io.naming import SEQUENCES
    from app.pipeline.synthetic.phantoms import generate_case, write_case
    from app.pipeline.training.seg_metrics import dice

    card = SegmentationCard.load(SHIPPED)
    assert UNSEEN_SEED not in card.seeds.values()
    phantom = generate_case("G", UNSEEN_SEED)
    write_case(phantom, tmp_path, "P")
    case = load_case({s: tmp_path / f"P_{s}.nii.gz" for s in SEQUENCES})
    result = seg.Segmenter.load(SHIPPED).segment(case)
    assert result.labels.shape == case.shape
    assert dice(result.labels > 0, phantom.seg > 0) >= 0.85


def test_small_enhancing_tumour_is_relabelled_core(seg):
    labels = np.zeros((20, 20, 20), np.uint8)
    labels[2:12, 2:12, 2:12] = 1
    labels[4:6, 4:6, 4:6] = 4  # 8 voxels of 2 mm: 0.064 mL
    spacing = (2.0, 2.0, 2.0)
    kept = labels.copy()
    assert seg.relabel_small_enhancing(kept, 0.05, spacing) == 0  # 0.064 mL >= 0.05: kept
    assert (kept == 4).sum() == 8
    assert seg.relabel_small_enhancing(kept, 0.0, spacing) == 0  # rule off
    assert seg.relabel_small_enhancing(labels, 0.1, spacing) == 8
    assert not (labels == 4).any() and (labels == 1).sum() == 1000  # TC unchanged
    empty = np.zeros((4, 4, 4), np.uint8)
    assert seg.relabel_small_enhancing(empty, 1.0, spacing) == 0
