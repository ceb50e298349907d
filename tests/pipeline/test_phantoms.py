"""Synthetic phantoms: class hallmarks, reproducibility, writer, CLI, robust slice accuracy."""

from __future__ import annotations

import csv

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from app.pipeline.io.case_loader import load_case
from app.pipeline.io.naming import SEQUENCES, sequence_from_filename
from app.pipeline.lesion.slice_finder import find_slice_robust
from app.pipeline.synthetic import phantoms

FAST_MM = 2.0  # 120×120×78 grid: same anatomy and tumours, 8× fewer voxels


@pytest.fixture(scope="module")
def cases() -> dict[str, phantoms.PhantomCase]:
    return {cls: phantoms.generate_case(cls, 11, voxel_mm=FAST_MM) for cls in "AOG"}


def brain_median(case: phantoms.PhantomCase, seq: str) -> float:
    vol = case.volumes[seq]
    return float(np.median(vol[(vol > 0) & ~case.mask]))


def test_geometry_and_types(cases):
    for cls, case in cases.items():
        assert case.cls == cls
        for seq in SEQUENCES:
            assert case.volumes[seq].shape == (120, 120, 78)
            assert case.volumes[seq].dtype == np.int16
        assert case.seg.dtype == np.uint8
        assert set(np.unique(case.seg)) <= {0, 1, 2, 4}
        assert case.voxel_size == (2.0, 2.0, 2.0)
        areas = case.mask.sum(axis=(0, 1))
        assert case.max_slice == int(np.argmax(areas))
        assert case.mask.sum() * 8 / 1000 > 3  # a few mL at least
        assert (case.volumes["flair"][case.mask] > 0).all()  # tumour inside the brain


def test_brats_geometry():
    case = phantoms.generate_case("G", 5)
    assert case.volumes["flair"].shape == (240, 240, 155)
    np.testing.assert_array_equal(np.diag(case.affine), [1, 1, 1, 1])
    assert 0.5 <= case.params["intensity_factor"] <= 3.0


def test_glioblastoma_hallmarks(cases):
    g = cases["G"]
    t1ce, t2, flair = (g.volumes[s].astype(float) for s in ("t1ce", "t2", "flair"))
    rim, core, oedema = g.seg == 4, g.seg == 1, g.seg == 2
    assert rim.any() and core.any() and oedema.any()
    assert t1ce[rim].mean() > 1.5 * t1ce[core].mean()  # ring enhancement around necrosis
    assert t1ce[rim].mean() > 1.2 * brain_median(g, "t1ce")
    assert t2[core].mean() > 1.8 * brain_median(g, "t2")  # necrosis bright on T2
    assert flair[oedema].mean() > 1.4 * brain_median(g, "flair")
    assert oedema.sum() > core.sum()  # wide oedema


def test_astrocytoma_hallmarks(cases):
    a = cases["A"]
    t1, t1ce, t2, flair = (a.volumes[s].astype(float) for s in ("t1", "t1ce", "t2", "flair"))
    mass = a.seg == 1
    core = ndimage.binary_erosion(mass, iterations=3)
    rim = mass & ~ndimage.binary_erosion(mass, iterations=1)
    # non-enhancing: T1ce/T1 in the mass as in normal brain
    ratio_mass = t1ce[mass].mean() / t1[mass].mean()
    ratio_brain = brain_median(a, "t1ce") / brain_median(a, "t1")
    assert ratio_mass < 1.1 * ratio_brain
    # T2-FLAIR mismatch: the core is very bright on T2 but relatively dark on FLAIR
    t2_rel = t2[core].mean() / brain_median(a, "t2")
    flair_rel = flair[core].mean() / brain_median(a, "flair")
    assert t2_rel > 2.0
    assert flair_rel < 0.75 * t2_rel
    assert flair[rim].mean() > flair[core].mean()  # bright FLAIR rim
    assert (a.seg == 2).sum() < mass.sum()  # little oedema


def test_oligodendroglioma_hallmarks(cases):
    o = cases["O"]
    t1, t2, t1ce = (o.volumes[s].astype(float) for s in ("t1", "t2", "t1ce"))
    mass = o.seg > 0
    assert o.params["calcifications"] >= 3
    dark_t1 = t1[mass] < 0.5 * brain_median(o, "t1")
    dark_t2 = t2[mass] < 0.5 * brain_median(o, "t2")
    assert (dark_t1 & dark_t2).sum() >= 1  # calcification foci dark on T1 and T2
    assert t1ce[mass].mean() < 1.2 * brain_median(o, "t1ce")


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_oligodendroglioma_faint_enhancement_is_not_enhancing_tumour(seed):
    """BraTS labels enhancing tumour only where T1ce is brighter than healthy white matter; the
    O phantom's patchy enhancement is fainter than that, so its label is core (1), never 4."""
    o = phantoms.generate_case("O", seed, voxel_mm=FAST_MM)
    assert not (o.seg == 4).any()
    t1, t1ce = (o.volumes[s].astype(float) for s in ("t1", "t1ce"))
    mass = o.seg == 1
    white_matter = (t1 > np.percentile(t1[(t1 > 0) & (o.seg == 0)], 75)) & (o.seg == 0)
    assert np.percentile(t1ce[mass], 95) < 1.1 * np.median(t1ce[white_matter])


def test_multifocal_glioblastoma():
    """Seed 10 draws a second focus: two separate enhancing lesions in one hemisphere."""
    g = phantoms.generate_case("G", 10, voxel_mm=FAST_MM)
    assert g.params["satellite"]["radius_mm"] < g.params["radius_mm"]
    lesions, n = ndimage.label(np.isin(g.seg, (1, 4)))
    assert n == 2
    for index in (1, 2):
        assert (g.seg[lesions == index] == 4).any()  # each focus enhances
    x = np.nonzero(g.seg)[0]
    mid = (g.seg.shape[0] - 1) / 2
    assert ((x > mid) == (x[0] > mid)).mean() > 0.97  # one hemisphere
    assert phantoms.MULTIFOCAL_G_RATE < 0.1  # a few per cent


def test_multifocality_leaves_other_draws_alone():
    """The second focus draws from a spawned child: a unifocal G is unchanged by its existence,
    and turning normal enhancement off does not change which cases are multifocal."""
    for seed in (10, 11):
        plain = phantoms.generate_case("G", seed, voxel_mm=FAST_MM, enhancement=0)
        full = phantoms.generate_case("G", seed, voxel_mm=FAST_MM)
        assert ("satellite" in plain.params) == ("satellite" in full.params)
        np.testing.assert_array_equal(plain.seg, full.seg)
        np.testing.assert_array_equal(plain.volumes["flair"], full.volumes["flair"])


def test_oligodendroglioma_is_near_the_cortex():
    anat = phantoms._anatomy(FAST_MM)
    depths = []
    for seed in range(6):
        case = phantoms.generate_case("O", seed, voxel_mm=FAST_MM)
        centre = np.round(case.params["centre_voxel"]).astype(int)
        depths.append(anat.depth[tuple(centre)])
    assert np.median(depths) < 25


def test_reproducible_and_varied():
    one = phantoms.generate_case("A", 3, voxel_mm=FAST_MM)
    two = phantoms.generate_case("A", 3, voxel_mm=FAST_MM)
    other = phantoms.generate_case("A", 4, voxel_mm=FAST_MM)
    for seq in SEQUENCES:
        np.testing.assert_array_equal(one.volumes[seq], two.volumes[seq])
    np.testing.assert_array_equal(one.seg, two.seg)
    assert not np.array_equal(one.seg, other.seg)
    assert one.params != other.params


def test_unknown_class():
    with pytest.raises(ValueError):
        phantoms.generate_case("X", 0)


def test_anatomy_is_cached():
    assert phantoms._anatomy(FAST_MM) is phantoms._anatomy(FAST_MM)


def test_write_dataset(tmp_path):
    progress = []
    labels = phantoms.write_dataset(
        tmp_path,
        4,
        seed=2,
        progress=lambda done, total: progress.append((done, total)),
        voxel_mm=FAST_MM,
    )
    assert labels == tmp_path / "labels.csv"
    assert progress[-1] == (4, 4)
    with open(labels, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["CPM_RadPath_2019_ID", "class", "age_in_days"]
    ids = [r[0] for r in rows[1:]]
    assert ids == [f"PHANTOM_{i:04d}" for i in range(1, 5)]
    classes = [r[1] for r in rows[1:]]
    assert sorted(set(classes)) <= ["A", "G", "O"] and max(map(classes.count, "AOG")) == 2
    for _, cls, age in rows[1:]:
        years = int(age) / 365.25
        assert (50 <= years <= 75) if cls == "G" else (30 <= years <= 50)
    names = sorted(p.name for p in tmp_path.iterdir())
    expected = sorted(
        [f"{cid}_{s}.nii.gz" for cid in ids for s in (*SEQUENCES, "seg")] + ["labels.csv"]
    )
    assert names == expected
    cid = ids[0]
    paths = {s: tmp_path / f"{cid}_{s}.nii.gz" for s in SEQUENCES}
    assert all(sequence_from_filename(p) == s for s, p in paths.items())
    case = load_case(paths)
    assert case.shape == (120, 120, 78)
    seg = nib.load(tmp_path / f"{cid}_seg.nii.gz")
    assert seg.get_data_dtype() == np.uint8
    flair = nib.load(paths["flair"])
    assert flair.get_data_dtype() == np.int16
    np.testing.assert_allclose(flair.affine, case.affine)


def test_write_dataset_same_with_workers(tmp_path):
    phantoms.write_dataset(tmp_path / "one", 2, seed=9, voxel_mm=FAST_MM)
    phantoms.write_dataset(tmp_path / "two", 2, seed=9, workers=2, voxel_mm=FAST_MM)
    assert (tmp_path / "one/labels.csv").read_text() == (tmp_path / "two/labels.csv").read_text()
    for name in ("PHANTOM_0002_t1ce.nii.gz", "PHANTOM_0001_seg.nii.gz"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_robust_on_fast_phantoms():
    hits = 0
    for i in range(6):
        case = phantoms.generate_case("AOG"[i % 3], 100 + i, voxel_mm=FAST_MM)
        result = find_slice_robust(case.volumes["flair"], case.voxel_size)
        hits += abs(result.index - case.max_slice) <= 1
    assert hits >= 5


@pytest.mark.slow
def test_robust_slice_on_40_brats_size_phantoms():
    """±2 slices of the true max-area slice on ≥95% of 40 cases; same slice when scaled."""
    hits, misses = 0, []
    for i in range(40):
        case = phantoms.generate_case("AOG"[i % 3], i)
        flair = case.volumes["flair"]
        result = find_slice_robust(flair, case.voxel_size)
        if abs(result.index - case.max_slice) <= 2:
            hits += 1
        else:
            misses.append((i, case.cls, case.max_slice, result.index))
        if i % 5 == 0:  # scale invariance on every fifth case
            scaled = find_slice_robust(flair.astype(np.float32) * np.float32(7.3), case.voxel_size)
            assert scaled.index == result.index
    assert hits >= 38, misses
