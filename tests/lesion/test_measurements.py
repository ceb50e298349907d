"""Measurements on small synthetic label maps with known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.pipeline.lesion.measurements import measure
from tests.lesion.conftest import SHAPE, ellipse_slice, sphere


def test_volumes_per_label_in_ml(empty_map):
    labels = empty_map
    labels[10:20, 10:20, 5:15] = 1  # 1000 voxels
    labels[30:40, 10:30, 5:15] = 4  # 2000
    labels[10:40, 40:50, 20:30] = 2  # 3000
    m = measure(labels, (1.0, 1.0, 1.0))
    assert (m.necrosis_ml, m.et_ml, m.oedema_ml) == pytest.approx((1.0, 2.0, 3.0))
    assert (m.tc_ml, m.wt_ml) == pytest.approx((3.0, 6.0))
    anisotropic = measure(labels, (1.0, 1.0, 2.0))
    assert anisotropic.wt_ml == pytest.approx(12.0)


def test_empty_map_has_no_side_no_lesion_no_rano(empty_map, brain):
    m = measure(empty_map, (1.0, 1.0, 1.0), brain=brain)
    assert m.wt_ml == 0 and m.laterality == "none" and m.lesions == 0
    assert m.bidimensional is None and not m.crosses_midline and not m.multifocal
    json.dumps(m.to_dict())


def test_larger_x_index_is_the_patients_right_in_ras(empty_map, brain):
    labels = empty_map
    labels[sphere(SHAPE, (42, 30, 20), 5)] = 2
    m = measure(labels, (1.0, 1.0, 1.0), brain=brain)
    assert m.laterality == "right" and m.left_ml == 0 and m.right_ml == pytest.approx(m.wt_ml)
    flipped = measure(labels[::-1].copy(), (1.0, 1.0, 1.0), brain=brain)
    assert flipped.laterality == "left"


def test_midline_follows_the_brain_mask(empty_map):
    labels = empty_map
    labels[sphere(SHAPE, (35, 30, 20), 3)] = 1
    shifted = np.zeros(SHAPE, dtype=bool)
    shifted[20:60, 8:52, 4:36] = True  # centre of mass at x index 39.5
    assert measure(labels, (1.0, 1.0, 1.0)).laterality == "right"  # grid centre 29.5
    m = measure(labels, (1.0, 1.0, 1.0), brain=shifted)
    assert m.laterality == "left"
    assert m.midline_x_mm == pytest.approx(10.0)


def test_two_lesions_one_per_side_are_bilateral_multifocal_not_crossing(empty_map, brain):
    labels = empty_map
    labels[sphere(SHAPE, (15, 30, 20), 7)] = 2
    labels[sphere(SHAPE, (44, 30, 20), 7)] = 4
    m = measure(labels, (1.0, 1.0, 1.0), brain=brain)
    assert m.laterality == "bilateral"
    assert m.lesions == 2 and m.multifocal
    assert not m.crosses_midline


def test_one_lesion_across_the_midline_crosses(empty_map, brain):
    labels = empty_map
    labels[24:36, 20:30, 10:20] = 2  # x 24..35 straddles the midline at 29.5
    m = measure(labels, (1.0, 1.0, 1.0), brain=brain)
    assert m.crosses_midline and m.laterality == "bilateral" and m.lesions == 1
    assert m.left_ml == pytest.approx(m.right_ml)


def test_a_lesion_mostly_on_one_side_is_lateral_but_still_crosses(empty_map, brain):
    labels = empty_map
    labels[28:50, 20:30, 10:20] = 2  # 2 columns left of the midline, 20 right
    m = measure(labels, (1.0, 1.0, 1.0), brain=brain)
    assert m.laterality == "right" and m.crosses_midline


def test_small_lesions_do_not_count_as_foci(empty_map, brain):
    labels = empty_map
    labels[sphere(SHAPE, (40, 20, 20), 7)] = 2  # ~1.4 mL
    labels[sphere(SHAPE, (40, 42, 20), 7)] = 2
    labels[sphere(SHAPE, (20, 30, 10), 3)] = 2  # ~0.12 mL
    m = measure(labels, (1.0, 1.0, 1.0), brain=brain)
    assert m.lesions == 2 and m.multifocal
    labels[sphere(SHAPE, (40, 42, 20), 7)] = 0
    assert measure(labels, (1.0, 1.0, 1.0), brain=brain).lesions == 1


def test_rano_ellipse_longest_and_perpendicular(empty_map):
    labels = empty_map
    labels[ellipse_slice(SHAPE, 12, (30, 30), (15.0, 6.0))] = 4
    labels[ellipse_slice(SHAPE, 13, (30, 30), (10.0, 4.0))] = 4
    bi = measure(labels, (1.0, 1.0, 1.0)).bidimensional
    assert bi is not None and bi.slice_index == 12
    assert bi.longest_mm == pytest.approx(30.0, abs=0.01)
    assert bi.perpendicular_mm == pytest.approx(12.0, abs=0.01)
    assert bi.product_mm2 == pytest.approx(360.0, abs=1.0)


def test_rano_ring_perpendicular_spans_the_necrotic_centre(empty_map):
    labels = empty_map
    outer = ellipse_slice(SHAPE, 20, (30, 30), (10.0, 10.0))
    inner = ellipse_slice(SHAPE, 20, (30, 30), (6.0, 6.0))
    labels[outer] = 4
    labels[inner] = 1
    bi = measure(labels, (1.0, 1.0, 1.0)).bidimensional
    assert bi.longest_mm == pytest.approx(20.0, abs=0.01)
    assert bi.perpendicular_mm == pytest.approx(20.0, abs=0.5)


def test_rano_in_mm_with_anisotropic_pixels(empty_map):
    vs = (0.5, 1.0, 1.0)
    labels = empty_map
    labels[ellipse_slice(SHAPE, 10, (30, 30), (6.0, 12.0), vs)] = 4  # 12 mm across x, 24 along y
    bi = measure(labels, vs).bidimensional
    assert bi.longest_mm == pytest.approx(24.0, abs=0.01)
    assert bi.perpendicular_mm == pytest.approx(12.0, abs=0.01)


def test_affine_gives_voxel_size_and_non_canonical_is_refused(empty_map):
    labels = empty_map
    labels[10:20, 10:20, 5:15] = 1
    affine = np.diag([2.0, 1.0, 1.0, 1.0])
    assert measure(labels, affine=affine).wt_ml == pytest.approx(2.0)
    flipped = np.diag([-1.0, 1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="RAS"):
        measure(labels, affine=flipped)
    with pytest.raises(ValueError, match="affine or the voxel size"):
        measure(labels)


def test_non_brats_values_are_refused(empty_map):
    empty_map[0, 0, 0] = 3
    with pytest.raises(ValueError, match="not BraTS labels"):
        measure(empty_map, (1.0, 1.0, 1.0))


def test_to_dict_is_json_ready(empty_map, brain):
    labels = empty_map
    labels[sphere(SHAPE, (40, 30, 20), 6)] = 2
    labels[sphere(SHAPE, (40, 30, 20), 4)] = 4
    data = measure(labels, (1.0, 1.0, 1.0), brain=brain).to_dict()
    assert json.loads(json.dumps(data))["bidimensional"]["longest_mm"] == pytest.approx(8.0)
    assert set(data) >= {"wt_ml", "tc_ml", "et_ml", "necrosis_ml", "oedema_ml", "laterality",
                         "crosses_midline", "lesions", "multifocal", "bidimensional"}


def test_two_cores_in_one_oedema_are_multifocal(empty_map, brain):
    """A multifocal glioblastoma: two enhancing foci that one FLAIR-bright oedema joins."""
    labels = empty_map
    labels[sphere(SHAPE, (45, 30, 20), 13)] = 2
    labels[sphere(SHAPE, (45, 22, 20), 5)] = 4  # ~0.5 mL each: too small to count
    labels[sphere(SHAPE, (45, 38, 20), 5)] = 4
    assert measure(labels, (1.0, 1.0, 1.0), brain=brain).lesions == 1  # one lesion, no focus
    labels[sphere(SHAPE, (45, 22, 20), 7)] = 4  # ~1.4 mL each
    labels[sphere(SHAPE, (45, 38, 20), 7)] = 4
    labels[sphere(SHAPE, (45, 38, 20), 3)] = 1  # a necrotic centre is part of its core
    m = measure(labels, (1.0, 1.0, 1.0), brain=brain)
    assert m.lesions == 2 and m.multifocal and not m.crosses_midline


def test_a_multifocal_glioblastoma_phantom_counts_two_foci():
    from app.pipeline.synthetic.phantoms import generate_case

    case = generate_case("G", 10, voxel_mm=2.0)  # seed 10 draws a second focus
    m = measure(case.seg, case.voxel_size, affine=case.affine)
    assert m.lesions == 2 and m.multifocal
    single = generate_case("G", 11, voxel_mm=2.0)
    assert measure(single.seg, single.voxel_size, affine=single.affine).lesions == 1
