"""Tumour-type phantoms: each type's textbook hallmarks, labels and reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from app.pipeline.classes import CLASSES, TUMOUR_TYPES
from app.pipeline.io.naming import SEQUENCES
from app.pipeline.synthetic.ood import OOD_KINDS, generate_ood_case
from app.pipeline.synthetic.tumour_types import generate_tumour_case

FAST_MM = 2.0
SEEDS = (3, 8, 21)


@pytest.fixture(scope="module")
def cases():
    return {
        (t, s): generate_tumour_case(t, s, voxel_mm=FAST_MM) for t in TUMOUR_TYPES for s in SEEDS
    }


def normal_median(case, seq):
    vol = case.volumes[seq]
    return float(np.median(vol[(vol > 0) & (case.seg == 0)]))


def midline(case):
    return (case.seg.shape[0] - 1) / 2 + case.params["shift_voxels"][0]


def test_geometry_labels_and_reproducibility(cases):
    for (t, _), case in cases.items():
        assert case.cls == t
        for seq in SEQUENCES:
            assert case.volumes[seq].shape == (120, 120, 78)
            assert case.volumes[seq].dtype == np.int16
        assert set(np.unique(case.seg)) <= {0, 1, 2, 4}
        assert (case.volumes["flair"][case.seg > 0] > 0).all()
    again = generate_tumour_case("meningioma", SEEDS[0], voxel_mm=FAST_MM)
    first = cases["meningioma", SEEDS[0]]
    np.testing.assert_array_equal(again.volumes["t1ce"], first.volumes["t1ce"])


def test_refuses_unknown_type_and_class():
    with pytest.raises(ValueError, match="unknown tumour type"):
        generate_tumour_case("lymphoma", 0, voxel_mm=FAST_MM)
    with pytest.raises(ValueError, match="unknown glioma class"):
        generate_tumour_case("glioma", 0, voxel_mm=FAST_MM, glioma_class="X")


def test_glioma_is_one_of_the_aog_phantoms(cases):
    for s in SEEDS:
        assert cases["glioma", s].params["glioma_class"] in CLASSES
    g = generate_tumour_case("glioma", 1, voxel_mm=FAST_MM, glioma_class="G")
    assert g.params["glioma_class"] == "G" and (g.seg == 4).any() and (g.seg == 1).any()


def test_meningioma_is_extra_axial_enhancing_and_sharp(cases):
    for s in SEEDS:
        m = cases["meningioma", s]
        mass = m.seg == 4
        head = m.volumes["flair"] > 0
        assert mass.sum() * 8 / 1000 > 1.0  # > 1 mL
        # Extra-axial: the mass reaches the surface of the head (dural base).
        depth = ndimage.distance_transform_edt(head)
        assert depth[mass].min() <= 1.5
        # Homogeneous avid enhancement.
        t1ce = m.volumes["t1ce"].astype(float)
        core = ndimage.binary_erosion(mass, iterations=1)
        assert t1ce[core].mean() > 1.8 * normal_median(m, "t1ce")
        assert t1ce[core].std() / t1ce[core].mean() < 0.15
        # Modest oedema at most.
        assert (m.seg == 2).sum() < 1.5 * mass.sum()


def test_pituitary_is_midline_near_the_sella_without_oedema(cases):
    for s in SEEDS:
        p = cases["pituitary", s]
        mass = p.seg > 0
        assert mass.any() and not (p.seg == 2).any()
        centre = np.argwhere(mass).mean(axis=0)
        assert abs(centre[0] - midline(p)) * FAST_MM < 5  # midline
        head_z = np.flatnonzero((p.volumes["flair"] > 0).any(axis=(0, 1)))
        assert np.argwhere(mass)[:, 2].min() < head_z[0] + 0.35 * (head_z[-1] - head_z[0])
        enh = p.seg == 4
        assert p.volumes["t1ce"][enh].mean() > 1.3 * normal_median(p, "t1ce")


def test_metastases_enhance_with_oedema_out_of_proportion(cases):
    counts = []
    for s in SEEDS:
        m = cases["metastasis", s]
        lesion = (m.seg == 4) | (m.seg == 1)
        counts.append(m.params["count"])
        assert ndimage.label(lesion)[1] >= 1
        assert (m.seg == 2).sum() > 2 * lesion.sum()
        assert m.volumes["t1ce"][m.seg == 4].mean() > 1.5 * normal_median(m, "t1ce")
        assert all(r <= 13 for r in m.params["radii_mm"])
    many = generate_tumour_case("metastasis", np.random.default_rng(0), voxel_mm=FAST_MM)
    counts.append(many.params["count"])
    assert min(counts) >= 1


def test_normal_brain_has_no_label_but_may_have_incidental_spots():
    spots = 0
    for s in range(6):
        n = generate_tumour_case("no_tumour", s, voxel_mm=FAST_MM)
        assert not n.seg.any()
        spots += n.params["incidental_spots"]
    assert spots > 0


@pytest.mark.parametrize("kind", OOD_KINDS)
def test_ood_cases_have_brats_field_of_view(kind):
    volumes, affine = generate_ood_case(kind, 5, voxel_mm=4.0)
    assert set(volumes) == set(SEQUENCES)
    for vol in volumes.values():
        assert vol.shape == (60, 60, 39) and vol.dtype == np.int16 and vol.any()
    np.testing.assert_array_equal(np.diag(affine)[:3], [4, 4, 4])
    with pytest.raises(ValueError, match="unknown OOD kind"):
        generate_ood_case("banana", 0)
