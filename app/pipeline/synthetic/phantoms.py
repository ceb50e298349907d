"""Synthetic glioma phantoms on real anatomy (the MNI152 template shipped inside nilearn).

No patient data can be downloaded here, so GliomaLens makes its own realistic test cases. The grey /
white-matter probability maps and brain mask of the MNI152 2009 template (inside the nilearn
package; nothing is downloaded) are scaled by 0.92 into BraTS geometry (240×240×155 at 1 mm, RAS+
affine) once and cached (in memory and as an .npz under ``$GLIOMALENS_CACHE_DIR`` or
``~/.cache/gliomalens``). From them each case synthesises FLAIR, T1, T1ce and T2 and inserts a
tumour with the textbook hallmarks of its class:

- **G** (glioblastoma): ring-enhancing rim on T1ce around a necrotic core (dark on T1/T1ce,
  bright on T2), wide FLAIR-bright oedema following the white matter.
- **A** (IDH-mutant astrocytoma): non-enhancing, homogeneously T2-bright mass whose core is
  relatively suppressed on FLAIR with a bright FLAIR rim (T2–FLAIR mismatch); little oedema.
- **O** (oligodendroglioma): cortical / subcortical, mostly frontal, heterogeneous, with
  calcification foci dark on T1, T2 and FLAIR, and patchy faint enhancement; little oedema.
  The faint patches stay at or below the brightness of normal white matter on T1ce, so by the
  BraTS definition (enhancing tumour is hyperintense on T1Gd compared with T1 *and* with healthy
  white matter) they are non-enhancing core, label 1, not label 4.

A few per cent of glioblastomas are multifocal (:data:`MULTIFOCAL_G_RATE`): a second, smaller
ring-enhancing focus with its own oedema in the same hemisphere, 25–50 mm from the first.

Per case, randomised with a seed: size, position (inside the brain, in one hemisphere's white /
grey matter), irregular shape (an ellipsoid, flatter across slices, deformed by smooth
low-frequency noise), tissue contrast,
a whole-case intensity factor (0.5–3×, log-uniform), a smooth bias field, Rician noise, and a small
shift of the whole head. Output is int16 like BraTS, with a BraTS-label segmentation (1 necrotic /
non-enhancing core, 2 oedema, 4 enhancing).
"""

from __future__ import annotations

import csv
import functools
import gzip
import logging
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from app.pipeline.classes import CLASSES
from app.pipeline.io.naming import SEQUENCES

log = logging.getLogger(__name__)

BRATS_SHAPE = (240, 240, 155)
TEMPLATE_SCALE = 0.92
_CACHE_VERSION = 1
LABELS_CSV = "labels.csv"
LABELS_HEADER = ("CPM_RadPath_2019_ID", "class", "age_in_days")

# Normal tissue intensities (relative units: WM, GM, CSF) and the per-sequence unit that maps them
# to BraTS-like integers at intensity factor 1.
_TISSUE = {
    "flair": (0.70, 0.85, 0.20),
    "t1": (1.00, 0.70, 0.30),
    "t1ce": (1.00, 0.70, 0.30),
    "t2": (0.50, 0.70, 1.60),
}
_UNIT = {"flair": 400.0, "t1": 600.0, "t1ce": 600.0, "t2": 500.0}

# Lesion intensities in the same relative units, per compartment.
_G_CORE = {"flair": 1.30, "t1": 0.35, "t1ce": 0.35, "t2": 1.50}
_G_RIM = {"flair": 1.40, "t1": 0.60, "t1ce": 1.70, "t2": 1.00}
_G_OEDEMA = {"flair": 1.45, "t1": 0.70, "t1ce": 0.70, "t2": 1.05}
_A_CORE = {"flair": 1.15, "t1": 0.55, "t1ce": 0.55, "t2": 1.40}
_A_RIM = {"flair": 1.45, "t1": 0.60, "t1ce": 0.60, "t2": 1.25}
_A_OEDEMA = {"flair": 1.25, "t1": 0.80, "t1ce": 0.80, "t2": 0.90}
_O_MASS = {"flair": 1.40, "t1": 0.62, "t1ce": 0.64, "t2": 1.15}
_O_CALC = {"flair": 0.30, "t1": 0.25, "t1ce": 0.25, "t2": 0.20}
_O_OEDEMA = {"flair": 1.25, "t1": 0.80, "t1ce": 0.80, "t2": 0.85}


# --------------------------------------------------------------------------- anatomy (cached)


@dataclass(eq=False)
class _Anatomy:
    shape: tuple[int, int, int]
    voxel_mm: float
    affine: np.ndarray
    brain: np.ndarray  # bool (X, Y, Z)
    gm: np.ndarray  # uint8 0..255
    wm: np.ndarray  # uint8 0..255
    depth: np.ndarray  # uint8, mm to the brain surface
    index_f: np.ndarray = field(init=False)  # Fortran-order flat indices of brain voxels
    position: np.ndarray = field(init=False)  # int32 (X, Y, Z): voxel -> brain-vector position
    tissue: np.ndarray = field(init=False)  # (3, n) float32: wm, gm, csf fractions
    ijk: np.ndarray = field(init=False)  # (3, n) int32 voxel coordinates of brain voxels
    centres: np.ndarray = field(init=False)  # (k, 3) candidate tumour centres (every ~2 mm)

    def __post_init__(self) -> None:
        index = np.flatnonzero(self.brain.ravel())
        self.ijk = np.stack(np.unravel_index(index, self.shape)).astype(np.int32)
        self.index_f = np.ravel_multi_index(tuple(self.ijk), self.shape, order="F")
        self.position = np.full(self.shape, -1, dtype=np.int32)
        self.position.ravel()[index] = np.arange(index.size, dtype=np.int32)
        wm = self.wm.ravel()[index].astype(np.float32) / 255
        gm = self.gm.ravel()[index].astype(np.float32) / 255
        self.tissue = np.stack([wm, gm, np.clip(1 - wm - gm, 0, 1)])
        step = max(1, int(round(2 / self.voxel_mm)))
        on_grid = np.all(self.ijk % step == 0, axis=0)
        self.centres = self.ijk[:, on_grid].T.copy()

    def tissue_box(self, box: tuple[slice, ...]) -> np.ndarray:
        """Return (3, *box) float32 wm, gm, csf fractions (zero outside the brain)."""
        brain = self.brain[box]
        wm = self.wm[box].astype(np.float32) / 255
        gm = self.gm[box].astype(np.float32) / 255
        return np.stack([wm, gm, np.clip(1 - wm - gm, 0, 1) * brain])


def cache_dir() -> Path:
    """Return the folder for cached template work ($GLIOMALENS_CACHE_DIR or ~/.cache/gliomalens)."""
    env = os.environ.get("GLIOMALENS_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "gliomalens"


def _grid(voxel_mm: float) -> tuple[tuple[int, int, int], np.ndarray]:
    sx, sy, sz = (int(round(s / voxel_mm)) for s in BRATS_SHAPE)
    shape = (sx, sy, sz)
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = -(np.asarray(shape) - 1) / 2 * voxel_mm
    return shape, affine


def _build_anatomy_arrays(voxel_mm: float) -> dict[str, np.ndarray]:
    """Resample the nilearn MNI152 brain mask and GM/WM maps into the BraTS-like grid."""
    from nilearn import datasets  # slow import, only on a cache miss

    t1 = np.asarray(datasets.load_mni152_template().dataobj, dtype=np.float32)
    gm = np.asarray(datasets.load_mni152_gm_template().dataobj, dtype=np.float32)
    wm = np.asarray(datasets.load_mni152_wm_template().dataobj, dtype=np.float32)
    brain_mni = (t1 > 0).astype(np.float32)
    hits = np.argwhere(brain_mni > 0)
    centre_mni = (hits.min(axis=0) + hits.max(axis=0)) / 2
    shape, _ = _grid(voxel_mm)
    centre_out = (np.asarray(shape) - 1) / 2
    step = voxel_mm / TEMPLATE_SCALE  # template voxels are 1 mm
    matrix = np.full(3, step)
    offset = centre_mni - centre_out * step

    def resample(arr: np.ndarray) -> np.ndarray:
        return ndimage.affine_transform(
            arr, matrix, offset=offset, output_shape=shape, order=1, mode="constant", cval=0.0
        )

    brain = resample(brain_mni) > 0.5
    gm_r = np.clip(resample(gm / max(float(gm.max()), 1e-6)), 0, 1) * brain
    wm_r = np.clip(resample(wm / max(float(wm.max()), 1e-6)), 0, 1) * brain
    depth = ndimage.distance_transform_edt(brain, sampling=voxel_mm)
    return {
        "brain": brain.astype(np.uint8),
        "gm": np.rint(gm_r * 255).astype(np.uint8),
        "wm": np.rint(wm_r * 255).astype(np.uint8),
        "depth": np.clip(np.rint(depth), 0, 255).astype(np.uint8),
    }


@functools.lru_cache(maxsize=4)
def _anatomy(voxel_mm: float = 1.0) -> _Anatomy:
    """Return the cached anatomy for a grid of ``voxel_mm`` (memory, then .npz, then build)."""
    shape, affine = _grid(voxel_mm)
    path = cache_dir() / f"mni_anatomy_v{_CACHE_VERSION}_{voxel_mm:g}mm.npz"
    arrays: dict[str, np.ndarray] | None = None
    if path.is_file():
        try:
            with np.load(path) as npz:
                arrays = {k: npz[k] for k in ("brain", "gm", "wm", "depth")}
            if arrays["brain"].shape != shape:
                arrays = None
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring unreadable anatomy cache %s: %s", path, exc)
            arrays = None
    if arrays is None:
        log.info("building MNI152 anatomy at %g mm (cached afterwards in %s)", voxel_mm, path)
        arrays = _build_anatomy_arrays(voxel_mm)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
            np.savez(tmp, **arrays)
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("could not write anatomy cache %s: %s", path, exc)
    return _Anatomy(
        shape=shape,
        voxel_mm=voxel_mm,
        affine=affine,
        brain=arrays["brain"].astype(bool),
        gm=arrays["gm"],
        wm=arrays["wm"],
        depth=arrays["depth"],
    )


# --------------------------------------------------------------------------- tumour geometry


def _waves(
    rng: np.random.Generator, grids: tuple[np.ndarray, ...], wavelength: tuple[float, float], n: int
) -> np.ndarray:
    """Smooth random field (sum of ``n`` plane waves, unit variance) on the box's 1D mm grids.

    cos(a + b) = cos a cos b - sin a sin b keeps the transcendental work on the (x, y) plane and
    the z line, so the full box only sees multiplications.
    """
    gx, gy, gz = (g.ravel() for g in grids)
    out = np.zeros((gx.size, gy.size, gz.size), dtype=np.float32)
    for _ in range(n):
        direction = rng.normal(size=3)
        direction *= 2 * np.pi / rng.uniform(*wavelength) / np.linalg.norm(direction)
        phase = rng.uniform(0, 2 * np.pi)
        plane = (
            gx[:, None] * np.float32(direction[0])
            + gy[None, :] * np.float32(direction[1])
            + np.float32(phase)
        )[:, :, None]
        line = (gz * np.float32(direction[2]))[None, None, :]
        out += np.cos(plane) * np.cos(line)
        out -= np.sin(plane) * np.sin(line)
    out *= np.float32(np.sqrt(2.0 / n))
    return out


def _inside(rho: np.ndarray, radius_mm: float, edge_mm: float = 1.5) -> np.ndarray:
    """Soft indicator of rho < 1 with an edge of about ``edge_mm`` (partial volume)."""
    return np.clip((1 - rho) * (radius_mm / edge_mm) + 0.5, 0, 1).astype(np.float32)


def _pick_centre(
    anat: _Anatomy, rng: np.random.Generator, cls: str, radius_mm: float
) -> np.ndarray:
    """Pick a tumour centre (voxel coords): deep white matter for A/G, near the cortex for O."""
    cand = anat.centres
    i, j, k = cand.T
    depth = anat.depth[i, j, k].astype(np.float32)
    wm = anat.wm[i, j, k].astype(np.float32) / 255
    gm = anat.gm[i, j, k].astype(np.float32) / 255
    lateral = np.abs(i - (anat.shape[0] - 1) / 2) * anat.voxel_mm
    if cls == "O":
        ok = (depth >= 0.25 * radius_mm + 2) & (depth <= 0.6 * radius_mm + 8)
        ok &= (wm + gm > 0.7) & (lateral > 12)
        if rng.random() < 0.7:  # frontal: the anterior 40% of the brain
            ok &= j > j.min() + 0.6 * (j.max() - j.min())
    else:
        ok = (depth >= 0.5 * radius_mm + 5) & (wm > 0.6) & (lateral > 0.5 * radius_mm + 5)
    chosen = np.flatnonzero(ok)
    if chosen.size == 0:  # tiny grids: relax to anywhere reasonably deep
        chosen = np.flatnonzero(depth >= depth.max() * 0.5)
    step = max(1, int(round(2 / anat.voxel_mm)))
    jitter = rng.uniform(-step / 2, step / 2, size=3)
    return (cand[chosen[rng.integers(chosen.size)]] + jitter).astype(np.float32)


def _pick_satellite_centre(
    anat: _Anatomy, rng: np.random.Generator, primary: np.ndarray, radius_mm: float
) -> np.ndarray:
    """Pick a second G focus centre (voxel coords): white matter, same hemisphere as
    ``primary``, 25–50 mm from it; the deepest-enough candidate nearest 35 mm when none fits."""
    cand = anat.centres
    i, j, k = cand.T
    depth = anat.depth[i, j, k].astype(np.float32)
    wm = anat.wm[i, j, k].astype(np.float32) / 255
    mid = (anat.shape[0] - 1) / 2
    same_side = np.sign(i - mid) == np.sign(primary[0] - mid)
    dist = np.linalg.norm((cand - primary) * anat.voxel_mm, axis=1)
    ok = same_side & (depth >= 0.5 * radius_mm + 4) & (wm > 0.5)
    chosen = np.flatnonzero(ok & (dist >= 25) & (dist <= 50))
    if chosen.size == 0:
        fallback = np.flatnonzero(ok) if ok.any() else np.arange(len(cand))
        chosen = fallback[[int(np.argmin(np.abs(dist[fallback] - 35)))]]
    return cand[chosen[rng.integers(chosen.size)]].astype(np.float32)


MULTIFOCAL_G_RATE = 0.06
"""Share of glioblastoma phantoms with a second, separate enhancing focus (multifocal)."""


def _merge_labels(seg: np.ndarray, box: tuple[slice, ...], labels: np.ndarray) -> None:
    """Write a second lesion's BraTS labels into ``seg`` (in place): tumour (1, 4) wins over
    oedema (2), and oedema never overwrites tumour."""
    region = seg[box]
    tumour = (labels == 1) | (labels == 4)
    region[tumour] = labels[tumour]
    region[(labels == 2) & (region == 0)] = 2


@dataclass(eq=False)
class PhantomCase:
    """One synthetic case: int16 volumes (RAS+ X, Y, Z), affine, BraTS-label segmentation."""

    cls: str
    volumes: dict[str, np.ndarray]
    affine: np.ndarray
    seg: np.ndarray
    max_slice: int
    params: dict = field(default_factory=dict)

    @property
    def mask(self) -> np.ndarray:
        """Return the whole-tumour mask (seg > 0) as bool."""
        return self.seg > 0

    @property
    def voxel_size(self) -> tuple[float, float, float]:
        """Return the voxel size in mm."""
        sizes = np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))
        return float(sizes[0]), float(sizes[1]), float(sizes[2])


def _jitter(
    rng: np.random.Generator, table: dict[str, float], spread: float = 0.08
) -> dict[str, float]:
    return {k: v * float(rng.uniform(1 - spread, 1 + spread)) for k, v in table.items()}


def _insert_tumour(
    cls: str,
    anat: _Anatomy,
    rng: np.random.Generator,
    tissue_values: dict[str, tuple[float, float, float]],
    signal: dict[str, np.ndarray],
    satellite_of: np.ndarray | None = None,
) -> tuple[np.ndarray, tuple[slice, ...], dict]:
    """Paint the class's tumour into the brain-voxel ``signal`` vectors (in place).

    Work is restricted to the tumour's bounding box. With ``satellite_of`` (the voxel centre of a
    glioblastoma already painted) a smaller second G focus is painted on top of the current signal,
    25–50 mm from it in the same hemisphere. Returns (uint8 BraTS-label seg of the box, the box,
    params).
    """
    vox = anat.voxel_mm
    if satellite_of is not None:
        radius = float(rng.uniform(6, 11))
        oedema_radius = radius + float(rng.uniform(5, 12))
        amp = 0.22
    elif cls == "G":
        radius = float(rng.uniform(12, 24))
        oedema_radius = radius + float(rng.uniform(10, 22))
        amp = 0.22
    elif cls == "A":
        radius = float(rng.uniform(14, 28))
        oedema_radius = radius + float(rng.uniform(1, 4))
        amp = 0.15
    else:
        radius = float(rng.uniform(12, 24))
        oedema_radius = radius + float(rng.uniform(2, 6))
        amp = 0.22
    if satellite_of is None:
        centre = _pick_centre(anat, rng, cls, radius)
    else:
        centre = _pick_satellite_centre(anat, rng, satellite_of, radius)
    half = (oedema_radius * 1.15 * (1 + 2.2 * amp) + 3) / vox
    lo = np.maximum(np.floor(centre - half).astype(int), anat.ijk.min(axis=1))
    hi = np.minimum(np.ceil(centre + half).astype(int) + 1, anat.ijk.max(axis=1) + 1)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    grids = tuple(
        ((np.arange(lo[ax], hi[ax], dtype=np.float32) - centre[ax]) * np.float32(vox)).reshape(
            [-1 if i == ax else 1 for i in range(3)]
        )
        for ax in range(3)
    )
    # An ellipsoid, flatter across slices than in-plane, turned by a random in-plane angle.
    theta = float(rng.uniform(0, np.pi))
    axes = (
        float(rng.uniform(0.9, 1.15)),
        float(rng.uniform(0.9, 1.15)),
        float(rng.uniform(0.55, 0.8)),
    )
    u = (grids[0] * np.float32(np.cos(theta)) + grids[1] * np.float32(np.sin(theta))) / axes[0]
    v = (grids[1] * np.float32(np.cos(theta)) - grids[0] * np.float32(np.sin(theta))) / axes[1]
    r = np.sqrt(u**2 + v**2 + (grids[2] / np.float32(axes[2])) ** 2)
    shape_noise = _waves(rng, grids, (1.5 * radius, 4 * radius), 6)
    rho = r / (radius * (1 + amp * np.clip(shape_noise, -2, 2)))
    oedema_noise = _waves(rng, grids, (0.8 * oedema_radius, 2.5 * oedema_radius), 6)
    rho_o = r / (oedema_radius * (1 + 1.2 * amp * np.clip(oedema_noise, -2, 2)))
    texture = _waves(rng, grids, (4, 12), 8)

    mid = (anat.shape[0] - 1) / 2
    side = 1.0 if centre[0] >= mid else -1.0
    x_abs = grids[0] / np.float32(vox) + np.float32(centre[0] - mid)
    hemisphere = np.clip(side * x_abs * (vox / 2) - 0.5, 0, 1).astype(np.float32)
    brain = anat.brain[box].astype(np.float32)
    wm = anat.wm[box].astype(np.float32) / 255
    w_t = _inside(rho, radius) * brain
    # Vasogenic oedema follows the white matter and does not cross the falx.
    oedema_zone = _inside(rho_o, oedema_radius, 3.0) * brain * hemisphere * (1 - w_t)
    w_o = oedema_zone * (0.6 + 0.4 * wm)  # strongest in white matter
    seg = np.zeros(w_t.shape, dtype=np.uint8)
    seg[oedema_zone > 0.5] = 2
    params: dict = {
        "centre_voxel": centre.round(1).tolist(),
        "radius_mm": round(radius, 1),
        "oedema_radius_mm": round(oedema_radius, 1),
    }

    comps: list[tuple[np.ndarray, dict[str, float], float]] = []
    if cls == "G":
        necrosis = float(rng.uniform(0.45, 0.7))
        rim_noise = _waves(rng, grids, (12, 30), 5)
        w_core = _inside(rho / (necrosis * (1 + 0.15 * rim_noise)), radius * necrosis) * w_t
        w_rim = w_t - w_core
        rim_vals = _jitter(rng, _G_RIM)
        patchy = np.clip(0.75 + 0.25 * rim_noise, 0.4, 1.0)
        comps += [(w_core, _jitter(rng, _G_CORE), 0.06), (w_rim, rim_vals, 0.06)]
        comps += [(w_o, _jitter(rng, _G_OEDEMA), 0.04)]
        seg[w_t > 0.5] = 4
        seg[w_core > 0.5] = 1
        params["necrosis_fraction"] = round(necrosis, 2)
        extra_t1ce = w_rim * (patchy - 1) * (rim_vals["t1ce"] - rim_vals["t1"])
    elif cls == "A":
        rim_width = max(float(rng.uniform(0.12, 0.22)), 3.5 / radius)
        w_core = _inside(rho / (1 - rim_width), radius * (1 - rim_width), 2.5) * w_t
        core_vals = _jitter(rng, _A_CORE)
        rim_vals = dict(core_vals)
        rim_vals["flair"] = _A_RIM["flair"] * float(rng.uniform(0.92, 1.08))
        comps += [(w_core, core_vals, 0.04), (w_t - w_core, rim_vals, 0.05)]
        comps += [(w_o, _jitter(rng, _A_OEDEMA), 0.04)]
        seg[w_t > 0.5] = 1
        params["rim_fraction"] = round(rim_width, 2)
        extra_t1ce = None
    else:
        mass_vals = _jitter(rng, _O_MASS)
        comps += [(w_t, mass_vals, 0.08), (w_o, _jitter(rng, _O_OEDEMA), 0.04)]
        seg[w_t > 0.5] = 1
        patches = _waves(rng, grids, (5, 14), 6)
        w_enh = np.clip((patches - 0.8) * 2, 0, 1) * (rho < 0.85) * w_t
        # Faint: at most about normal white matter on T1ce, so non-enhancing core (label 1).
        extra_t1ce = w_enh * float(rng.uniform(0.25, 0.4))
        n_calc = int(rng.integers(3, 9))
        calc = np.zeros(w_t.shape, dtype=np.float32)
        inner = np.argwhere((rho < 0.75) & (w_t > 0.9))
        for idx in inner[rng.integers(len(inner), size=n_calc)] if len(inner) else []:
            cr = float(rng.uniform(1.5, 3.0))
            dist = np.sqrt(sum((g - g.ravel()[i]) ** 2 for g, i in zip(grids, idx, strict=True)))
            calc = np.maximum(calc, _inside(dist / cr, cr, 0.8))
        comps += [(calc * w_t, _jitter(rng, _O_CALC), 0.05)]
        params["calcifications"] = n_calc

    tissue = anat.tissue_box(box)
    inside = anat.brain[box]
    where = anat.position[box][inside]
    for seq in SEQUENCES:
        tw, tg, tc = tissue_values[seq]
        region = (
            tissue[0] * np.float32(tw) + tissue[1] * np.float32(tg) + tissue[2] * np.float32(tc)
        )
        if satellite_of is not None:  # paint over what is there (the first tumour's oedema)
            region[inside] = signal[seq][where]
        for weight, values, tex in comps:
            target = np.float32(values[seq]) * (1 + np.float32(tex) * texture)
            region += weight * (target - region)
        if seq == "t1ce" and extra_t1ce is not None:
            region += extra_t1ce * brain
        signal[seq][where] = region[inside]
    seg[~inside] = 0
    return seg, box, params


# ------------------------------------------------------------------- normal T1ce enhancement


def _smooth_field(
    rng: np.random.Generator, xyz_mm: np.ndarray, wavelength: tuple[float, float], n: int = 6
) -> np.ndarray:
    """Smooth random field (unit variance) at the (3, m) mm points ``xyz_mm``."""
    out = np.zeros(xyz_mm.shape[1], dtype=np.float32)
    for _ in range(n):
        direction = rng.normal(size=3)
        direction *= 2 * np.pi / rng.uniform(*wavelength) / np.linalg.norm(direction)
        out += np.cos(direction.astype(np.float32) @ xyz_mm + np.float32(rng.uniform(0, 2 * np.pi)))
    return out * np.float32(np.sqrt(2.0 / n))


def normal_enhancement(
    anat: _Anatomy, rng: np.random.Generator, strength: float = 1.0
) -> np.ndarray:
    """Return the T1ce signal of normal enhancing structures per brain voxel (relative units).

    Contrast agent brightens blood and tissue without a blood-brain barrier even in a healthy brain:
    the dural sinuses (superior sagittal sinus along the top of the midline, the straight and
    transverse sinuses at the back), the choroid plexus inside the lateral ventricles, and cortical
    veins on the brain surface. This is the textbook difference between T1 and T1ce that exists
    without an enhancing tumour. ``strength`` scales it (0 gives a T1ce equal to T1 in healthy
    tissue); the per-case variation comes from ``rng``. Returns a float32 vector over the brain
    voxels (``anat.ijk`` order).
    """
    vox = anat.voxel_mm
    centre = (np.asarray(anat.shape, dtype=np.float32) - 1) / 2
    xyz = (anat.ijk.astype(np.float32) - centre[:, None]) * np.float32(vox)
    x, y, z = xyz
    depth = anat.depth[tuple(anat.ijk)].astype(np.float32)
    top = float(z.max())
    back = float(y.min())
    lateral = np.exp(-((x / 3.5) ** 2))
    shell = np.clip(1 - depth / 4, 0, 1)
    # Superior sagittal sinus and falx: midline, at the surface, over the upper two thirds.
    sss = lateral * shell * np.clip((z - (top - 0.75 * (top - float(z.min())))) / 20, 0, 1)
    # Straight / transverse sinuses: the back of the brain, low.
    post = np.clip(1 - (y - back) / 25, 0, 1) * np.clip(1 - np.abs(z - (z.min() + 45)) / 12, 0, 1)
    transverse = post * shell
    # Choroid plexus: lobules inside the ventricles (deep CSF).
    ventricle = np.flatnonzero((anat.tissue[2] > 0.5) & (depth > 15))
    choroid = np.zeros_like(x)
    choroid[ventricle] = np.clip(_smooth_field(rng, xyz[:, ventricle], (10, 25)) * 2, 0, 1)
    # Cortical veins: thin curves where a smooth field crosses zero on the surface shell.
    surface = np.flatnonzero(depth < 2.5)
    veins = np.zeros_like(x)
    veins[surface] = np.exp(-((_smooth_field(rng, xyz[:, surface], (25, 60)) / 0.12) ** 2)) * (
        1 - depth[surface] / 2.5
    )
    amp = rng.uniform([1.2, 0.8, 1.0, 0.5], [2.0, 1.4, 1.8, 0.9]).astype(np.float32)
    signal = amp[0] * sss + amp[1] * transverse + amp[2] * choroid + amp[3] * veins
    return (np.float32(strength) * signal).astype(np.float32)


def generate_case(
    cls: str,
    rng: np.random.Generator | int | None = None,
    *,
    voxel_mm: float = 1.0,
    enhancement: float = 1.0,
) -> PhantomCase:
    """Return one synthetic case of class ``cls`` ("A", "O" or "G") as an in-memory PhantomCase.

    ``rng`` is a numpy Generator or a seed (same seed, same case). ``voxel_mm`` 1.0 gives BraTS
    geometry 240×240×155; 2.0 gives a 120×120×78 grid for fast tests. ``max_slice`` is the axial
    index where the ground-truth whole-tumour mask (seg > 0) has its largest area. ``enhancement``
    scales the normal T1ce enhancement of vessels and choroid plexus (:func:`normal_enhancement`;
    0 turns it off); its randomness comes from a spawned child of ``rng``, so the other draws (and
    every other sequence) do not change with it. ValueError for an unknown class.
    """
    if cls not in CLASSES:
        raise ValueError(f"unknown class {cls!r}; expected one of {CLASSES}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    anat = _anatomy(float(voxel_mm))
    tissue_values = {
        seq: tuple(v * float(rng.uniform(0.93, 1.07)) for v in _TISSUE[seq]) for seq in SEQUENCES
    }
    signal = {
        seq: np.asarray(tissue_values[seq], dtype=np.float32) @ anat.tissue for seq in SEQUENCES
    }
    seg_box, box, params = _insert_tumour(cls, anat, rng, tissue_values, signal)
    seg_full = np.zeros(anat.shape, dtype=np.uint8)
    seg_full[box] = seg_box
    # Normal enhancement and multifocality draw from spawned children of ``rng`` (in that order,
    # whatever ``enhancement`` is), so the other draws do not change with either.
    enhancement_rng, focal_rng = rng.spawn(2)
    if cls == "G":
        if focal_rng.random() < MULTIFOCAL_G_RATE:
            primary = np.asarray(params["centre_voxel"], dtype=np.float32)
            seg2, box2, params2 = _insert_tumour(
                cls, anat, focal_rng, tissue_values, signal, satellite_of=primary
            )
            _merge_labels(seg_full, box2, seg2)
            params["satellite"] = {k: params2[k] for k in ("centre_voxel", "radius_mm")}
    if enhancement:
        signal["t1ce"] = signal["t1ce"] + normal_enhancement(anat, enhancement_rng, enhancement)

    factor = float(np.exp(rng.uniform(np.log(0.5), np.log(3.0))))
    sigma = float(rng.uniform(0.015, 0.04))
    n = anat.index_f.size
    # Shift the whole head a little (never wrapping the brain around the grid edge).
    lo, hi = anat.ijk.min(axis=1), anat.ijk.max(axis=1)
    wanted = np.array([rng.integers(-8, 9), rng.integers(-8, 9), rng.integers(-3, 4)]) / voxel_mm
    shift = np.clip(np.rint(wanted).astype(int), -lo, np.asarray(anat.shape) - 1 - hi)
    offset = int(shift[0] + anat.shape[0] * (shift[1] + anat.shape[1] * shift[2]))
    out: dict[str, np.ndarray] = {}
    axes = [np.linspace(-1, 1, size, dtype=np.float32) for size in anat.shape]
    for seq in SEQUENCES:
        c = rng.normal(0, 0.06, size=(3, 2))
        bx, by, bz = (
            np.exp(c[a, 0] * t + c[a, 1] * t * t).astype(np.float32) for a, t in enumerate(axes)
        )
        bias = bx[anat.ijk[0]] * by[anat.ijk[1]] * bz[anat.ijk[2]]
        values = signal[seq] * bias
        noise_a = rng.standard_normal(n, dtype=np.float32) * np.float32(sigma)
        noise_b = rng.standard_normal(n, dtype=np.float32) * np.float32(sigma)
        values = np.sqrt((values + noise_a) ** 2 + noise_b**2)
        values *= np.float32(_UNIT[seq] * factor * rng.uniform(0.9, 1.1))
        vol = np.zeros(anat.shape, dtype=np.int16, order="F")
        vol.T.reshape(-1)[anat.index_f + offset] = np.clip(np.rint(values), 1, 32767).astype(
            np.int16
        )
        out[seq] = vol
    seg = np.zeros(anat.shape, dtype=np.uint8, order="F")
    target, source = [], []
    for d, size in zip(shift, anat.shape, strict=True):
        target.append(slice(max(d, 0), size + min(d, 0)))
        source.append(slice(max(-d, 0), size - max(d, 0)))
    seg[tuple(target)] = seg_full[tuple(source)]
    areas = np.count_nonzero(seg, axis=(0, 1))
    params.update(
        intensity_factor=round(factor, 3), noise_sigma=round(sigma, 4), shift_voxels=shift.tolist()
    )
    return PhantomCase(
        cls=cls,
        volumes=out,
        affine=anat.affine.copy(),
        seg=seg,
        max_slice=int(np.argmax(areas)),
        params=params,
    )


# --------------------------------------------------------------------------- writing a dataset


def _age_days(cls: str, rng: np.random.Generator) -> int:
    years = rng.uniform(50, 75) if cls == "G" else rng.uniform(30, 50)
    return int(round(years * 365.25))


def case_id(i: int) -> str:
    """Return the CPM-RadPath-style id of phantom number ``i`` (e.g. "PHANTOM_0007")."""
    return f"PHANTOM_{i:04d}"


def write_nifti_gz(path: str | os.PathLike, data: np.ndarray, affine: np.ndarray) -> Path:
    """Write ``data`` as a NIfTI-1 .nii.gz (gzip level 1, qform = sform = ``affine``); return path.

    Streams the header and the Fortran-ordered voxels straight into one gzip member, which is much
    faster than nibabel's chunked writer at the same compression level.
    """
    import nibabel as nib

    img = nib.Nifti1Image(data, affine)
    hdr = img.header
    hdr.set_xyzt_units("mm")
    hdr.set_qform(affine, code=1)
    hdr.set_sform(affine, code=1)
    hdr.set_data_offset(352)
    path = Path(path)
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as fh,
    ):
        fh.write(hdr.binaryblock)
        fh.write(b"\x00" * 4)  # no extensions
        fh.write(np.asfortranarray(data).T.tobytes())
    return path


def write_case(case: PhantomCase, out_dir: str | os.PathLike, cid: str) -> list[Path]:
    """Write ``case`` as CID_flair/_t1/_t1ce/_t2/_seg.nii.gz (gzip level 1); return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    items = [(seq, case.volumes[seq]) for seq in SEQUENCES] + [("seg", case.seg)]
    return [write_nifti_gz(out / f"{cid}_{name}.nii.gz", data, case.affine) for name, data in items]


def _write_one(args: tuple[str, str, int, np.random.SeedSequence, float]) -> tuple[str, str, int]:
    out_dir, cls, i, seed_seq, voxel_mm = args
    rng = np.random.default_rng(seed_seq)
    case = generate_case(cls, rng, voxel_mm=voxel_mm)
    cid = case_id(i)
    write_case(case, out_dir, cid)
    return cid, cls, _age_days(cls, rng)


def write_dataset(
    out_dir: str | os.PathLike,
    n: int,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
    *,
    voxel_mm: float = 1.0,
) -> Path:
    """Write ``n`` phantom cases and labels.csv into ``out_dir``; return the labels.csv path.

    Classes are balanced (round-robin A, O, G, shuffled by ``seed``); every case has its own seed
    derived from ``seed``, so the output does not depend on ``workers``. Ages: A/O 30–50 years, G
    50–75 years, in days. ``progress(done, n)`` is called after each case. ValueError for n < 1.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    master = np.random.default_rng(seed)
    classes = [CLASSES[i % len(CLASSES)] for i in range(n)]
    master.shuffle(classes)
    seeds = np.random.SeedSequence(seed).spawn(n)
    jobs = [(str(out), classes[i], i + 1, seeds[i], float(voxel_mm)) for i in range(n)]
    rows: dict[str, tuple[str, str, int]] = {}
    _anatomy(float(voxel_mm))  # build / load the cache once, before any fork
    if workers <= 1:
        for done, job in enumerate(jobs, start=1):
            row = _write_one(job)
            rows[row[0]] = row
            if progress:
                progress(done, n)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_write_one, job) for job in jobs]
            for done, future in enumerate(as_completed(futures), start=1):
                row = future.result()
                rows[row[0]] = row
                if progress:
                    progress(done, n)
    labels = out / LABELS_CSV
    with open(labels, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(LABELS_HEADER)
        for cid in sorted(rows):
            writer.writerow(rows[cid])
    return labels
