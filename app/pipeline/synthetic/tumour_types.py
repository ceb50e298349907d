"""Synthetic phantoms of every tumour type (and normal brains) on the MNI152 anatomy.

Builds on :mod:`app.pipeline.synthetic.phantoms` (its cached anatomy, smooth random fields, tissue
contrasts and glioma insertion) and adds the other types of the scope stage, each following its
textbook imaging, with every hallmark randomised so that no single cue separates the types:

- **glioma**: one of the A / O / G glioma phantoms (``phantoms._insert_tumour``).
- **meningioma**: an extra-axial dome with a broad base on the dura of the convexity or the falx,
  sharply bounded (1 mm edge), homogeneous avid enhancement, usually a thin CSF cleft between mass
  and brain, sometimes a dural tail, modest or no oedema. The part between brain and dura lies
  outside the template's brain mask and is added to the head.
- **pituitary**: a sellar mass below the diencephalon on the midline, often with a suprasellar
  lobe above a waist ("snowman"), homogeneous moderate enhancement, sometimes a cystic part, no
  oedema.
- **metastasis**: one to six round lesions at the grey-white junction, ring-enhancing around a
  necrotic core or solid-enhancing when small, with vasogenic oedema out of proportion to their
  size.
- **no_tumour**: normal anatomy with the usual variation; often a few small FLAIR-bright
  white-matter spots (incidental, not tumours), which also appear in some tumour cases.

All types go through one assembly (bias field, Rician noise, whole-case intensity factor 0.5-3x,
head shift, int16) so the types cannot be told apart by how they were made. Labels are BraTS-like
(1 necrotic / non-enhancing core or cyst, 2 oedema, 4 enhancing); a normal brain's map is empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from app.pipeline.classes import CLASSES, TUMOUR_TYPES
from app.pipeline.io.naming import SEQUENCES
from app.pipeline.synthetic.phantoms import (
    _TISSUE,
    _UNIT,
    PhantomCase,
    _Anatomy,
    _anatomy,
    _insert_tumour,
    _inside,
    _jitter,
    _waves,
)

# Lesion intensities in the relative units of phantoms._TISSUE (WM, GM, CSF of each sequence).
_MENINGIOMA = {"flair": 0.95, "t1": 0.68, "t1ce": 1.85, "t2": 0.80}
_PITUITARY = {"flair": 0.90, "t1": 0.70, "t1ce": 1.45, "t2": 0.90}
_CYST = {"flair": 0.60, "t1": 0.35, "t1ce": 0.36, "t2": 1.55}
_MET_CORE = {"flair": 1.20, "t1": 0.38, "t1ce": 0.40, "t2": 1.45}
_MET_RIM = {"flair": 1.30, "t1": 0.65, "t1ce": 1.80, "t2": 0.95}
_MET_OEDEMA = {"flair": 1.45, "t1": 0.68, "t1ce": 0.68, "t2": 1.10}
_MEN_OEDEMA = {"flair": 1.30, "t1": 0.78, "t1ce": 0.78, "t2": 0.95}
_SPOT = {"flair": 1.30, "t1": 0.88, "t1ce": 0.88, "t2": 1.10}
_CSF = {"flair": 0.20, "t1": 0.30, "t1ce": 0.30, "t2": 1.60}

# Where the sella lies, as fractions of the brain's bounding box (from the MNI152 template's
# mid-sagittal plane: anterior to the pons, below the hypothalamus).
_SELLA_Y = (0.54, 0.58)
_SELLA_Z = (0.26, 0.31)


@dataclass(eq=False)
class _Canvas:
    """Dense per-sequence signal (relative units) being painted, plus the head mask and labels."""

    anat: _Anatomy
    signal: dict[str, np.ndarray]  # (X, Y, Z) float32 per sequence
    head: np.ndarray  # bool: voxels that carry signal (brain + extra-axial masses)
    seg: np.ndarray  # uint8 BraTS labels

    def box_grids(
        self, centre: np.ndarray, half_mm: float
    ) -> tuple[tuple[slice, ...], tuple[np.ndarray, ...]]:
        """Return the box (clipped to the grid) around ``centre`` and its 1D mm grids."""
        vox = self.anat.voxel_mm
        half = half_mm / vox
        lo = np.maximum(np.floor(centre - half).astype(int), 0)
        hi = np.minimum(np.ceil(centre + half).astype(int) + 1, np.asarray(self.anat.shape))
        box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
        grids = tuple(
            ((np.arange(lo[ax], hi[ax], dtype=np.float32) - centre[ax]) * np.float32(vox)).reshape(
                [-1 if i == ax else 1 for i in range(3)]
            )
            for ax in range(3)
        )
        return box, grids

    def paint(
        self,
        box: tuple[slice, ...],
        weight: np.ndarray,
        values: dict[str, float],
        texture: np.ndarray | float = 0.0,
        amount: float = 0.0,
    ) -> None:
        """Blend ``values`` (with ``amount`` of ``texture``) into the box where ``weight`` > 0."""
        for seq in SEQUENCES:
            region = self.signal[seq][box]
            target = np.float32(values[seq]) * (1 + np.float32(amount) * texture)
            region += weight * (target - region)


def _ellipsoid_r(
    grids: tuple[np.ndarray, ...], radii: tuple[float, float, float], theta: float = 0.0
) -> np.ndarray:
    """Return the normalised radius of an ellipsoid (1 on its surface), turned by ``theta``."""
    x, y, z = grids
    u = x * np.float32(np.cos(theta)) + y * np.float32(np.sin(theta))
    v = y * np.float32(np.cos(theta)) - x * np.float32(np.sin(theta))
    return np.sqrt((u / radii[0]) ** 2 + (v / radii[1]) ** 2 + (z / radii[2]) ** 2)


def _hemisphere(canvas: _Canvas, box: tuple[slice, ...], side: float) -> np.ndarray:
    """Return a soft (box-shaped) mask of one hemisphere (oedema does not cross the falx)."""
    anat = canvas.anat
    mid = (anat.shape[0] - 1) / 2
    x = (np.arange(box[0].start, box[0].stop, dtype=np.float32) - mid) * anat.voxel_mm
    return np.clip(side * x / 2 - 0.5, 0, 1).reshape(-1, 1, 1).astype(np.float32)


def _brain_bounds(anat: _Anatomy) -> tuple[np.ndarray, np.ndarray]:
    return anat.ijk.min(axis=1).astype(np.float32), anat.ijk.max(axis=1).astype(np.float32)


# --------------------------------------------------------------------------- meningioma


def _meningioma(canvas: _Canvas, rng: np.random.Generator) -> dict:
    """Paint an extra-axial dural-based mass (convexity or falx); return its parameters."""
    anat = canvas.anat
    vox = anat.voxel_mm
    lo, hi = _brain_bounds(anat)
    mid = (anat.shape[0] - 1) / 2
    radius = float(rng.uniform(11, 26))
    site = "falx" if rng.random() < 0.3 else "convexity"
    i, j, k = anat.centres.T
    depth = anat.depth[i, j, k].astype(np.float32)
    if site == "convexity":
        zf = (k - lo[2]) / (hi[2] - lo[2])
        ok = (depth <= max(2.0, vox)) & (zf > 0.35) & (np.abs(i - mid) * vox > 12)
        surface = anat.centres[rng.choice(np.flatnonzero(ok))].astype(np.float32)
        # Outward normal from the smoothed distance-to-surface map around the point.
        box, _ = canvas.box_grids(surface, 8.0)
        local = ndimage.gaussian_filter(anat.depth[box].astype(np.float32), 2.0 / vox)
        grad = np.array(np.gradient(local))[(slice(None), *(
            int(round(surface[a] - box[a].start)) for a in range(3)
        ))]
        norm = np.linalg.norm(grad)
        inward = grad / norm if norm > 0 else (np.array([mid, 0, 0]) - surface) / 1.0
        inward = inward / np.linalg.norm(inward)
        dura = surface - inward * float(rng.uniform(1.0, 3.0)) / vox
    else:
        yf = rng.uniform(0.2, 0.85)
        zf = rng.uniform(0.5, 0.85)
        dura = np.array(
            [mid, lo[1] + yf * (hi[1] - lo[1]), lo[2] + zf * (hi[2] - lo[2])], dtype=np.float32
        )
        side = 1.0 if rng.random() < 0.5 else -1.0
        inward = np.array([side, 0.0, 0.0])
    bilateral = site == "falx" and rng.random() < 0.25
    h = float(rng.uniform(0.15, 0.5)) * radius * (0.0 if bilateral else 1.0)
    centre = dura + inward * h / vox
    tail = float(rng.uniform(6, 16)) if rng.random() < 0.5 else 0.0
    oedema = float(rng.uniform(2, 9)) if rng.random() < 0.55 else 0.0
    cleft = float(rng.uniform(1.0, 2.5)) if rng.random() < 0.75 else 0.0
    box, grids = canvas.box_grids(centre, radius * 1.3 + max(tail, oedema) + 6)
    # Axes: the third along the dural normal (flatter), two in the dural plane.
    a3 = inward / np.linalg.norm(inward)
    a1 = np.cross(a3, [0.0, 0.0, 1.0] if abs(a3[2]) < 0.9 else [1.0, 0.0, 0.0])
    a1 /= np.linalg.norm(a1)
    a2 = np.cross(a3, a1)
    theta = float(rng.uniform(0, np.pi))
    a1, a2 = a1 * np.cos(theta) + a2 * np.sin(theta), a2 * np.cos(theta) - a1 * np.sin(theta)
    dc = (centre - dura) * vox  # mm
    p1 = sum(g * np.float32(a) for g, a in zip(grids, a1, strict=True))
    p2 = sum(g * np.float32(a) for g, a in zip(grids, a2, strict=True))
    p3 = sum(g * np.float32(a) for g, a in zip(grids, a3, strict=True))  # from the centre
    normal_dist = p3 + np.float32(np.dot(dc, a3))  # mm inward of the dural plane
    shape_noise = _waves(rng, grids, (1.5 * radius, 4 * radius), 5)
    r1, r2 = radius * rng.uniform(0.9, 1.25), radius * rng.uniform(0.9, 1.25)
    r3 = radius * rng.uniform(0.7, 1.0)
    rho = np.sqrt((p1 / r1) ** 2 + (p2 / r2) ** 2 + (p3 / r3) ** 2)
    rho = rho / (1 + 0.08 * np.clip(shape_noise, -2, 2))
    half_space = np.float32(1) if bilateral else np.clip(normal_dist / 1.0 + 0.5, 0, 1)
    w_mass = _inside(rho, radius, 1.0) * half_space
    brain = anat.brain[box].astype(np.float32)
    seg = canvas.seg[box]
    if oedema:
        side = 1.0 if centre[0] >= mid else -1.0
        hemi = _hemisphere(canvas, box, side) if not bilateral else np.float32(1)
        w_o = _inside(rho, radius + oedema, 3.0 + oedema / 3) * brain * hemi * (1 - w_mass)
        w_o *= 0.5 + 0.5 * anat.wm[box].astype(np.float32) / 255
        canvas.paint(box, w_o, _jitter(rng, _MEN_OEDEMA), 0.0)
        seg[w_o > 0.4] = 2
    if cleft:
        shell = _inside(rho, radius + cleft, 0.8) * (1 - w_mass) * brain
        shell = shell * (np.float32(1) if bilateral else np.clip(normal_dist - 0.5, 0, 1))
        canvas.paint(box, shell * 0.9, _jitter(rng, _CSF, 0.05))
        seg[(shell > 0.5) & (seg == 2)] = 0
    values = _jitter(rng, _MENINGIOMA, 0.1)
    texture = _waves(rng, grids, (4, 12), 6)
    canvas.paint(box, w_mass, values, texture, 0.03)
    seg[w_mass > 0.5] = 4
    canvas.head[box] |= w_mass > 0.05
    if tail:
        radial = np.sqrt(
            (p1 + np.float32(np.dot(dc, a1))) ** 2 + (p2 + np.float32(np.dot(dc, a2))) ** 2
        )
        base = radius * np.sqrt(max(1 - (h / r3) ** 2, 0.2))
        along = np.clip(1 - (radial - base) / tail, 0, 1) * (radial > base * 0.8)
        sheet = np.clip(1.5 - np.abs(normal_dist + 0.5), 0, 1) * along * (1 - w_mass)
        enhance = {**values, "t1ce": values["t1ce"] * 0.85}
        canvas.paint(box, sheet, enhance)
        canvas.head[box] |= sheet > 0.3
    return {
        "site": site,
        "bilateral": bool(bilateral),
        "centre_voxel": np.round(centre, 1).tolist(),
        "radius_mm": round(radius, 1),
        "dural_tail_mm": round(tail, 1),
        "oedema_mm": round(oedema, 1),
        "csf_cleft_mm": round(cleft, 1),
    }


# --------------------------------------------------------------------------- pituitary


def _pituitary(canvas: _Canvas, rng: np.random.Generator) -> dict:
    """Paint a sellar / suprasellar midline mass; return its parameters."""
    anat = canvas.anat
    vox = anat.voxel_mm
    lo, hi = _brain_bounds(anat)
    mid = (anat.shape[0] - 1) / 2
    sella = np.array(
        [
            mid + rng.uniform(-1.5, 1.5) / vox,
            lo[1] + rng.uniform(*_SELLA_Y) * (hi[1] - lo[1]),
            lo[2] + rng.uniform(*_SELLA_Z) * (hi[2] - lo[2]),
        ],
        dtype=np.float32,
    )
    r_sella = (rng.uniform(6, 10), rng.uniform(5, 9), rng.uniform(5, 8))
    lobe = rng.random() < 0.8
    r_lobe = (rng.uniform(5, 12), rng.uniform(5, 11), rng.uniform(5, 14)) if lobe else (0, 0, 0)
    lift = (r_sella[2] + 0.7 * r_lobe[2]) / vox
    lobe_centre = sella + np.array(
        [rng.uniform(-3, 3) / vox, rng.uniform(-3, 3) / vox, lift], dtype=np.float32
    )
    box_centre = sella + np.array([0, 0, lift / 2], dtype=np.float32)
    box, grids = canvas.box_grids(box_centre, 34.0)

    def around(point: np.ndarray) -> tuple[np.ndarray, ...]:
        off = (point - box_centre) * vox
        return tuple(g - np.float32(o) for g, o in zip(grids, off, strict=True))

    g_sella, g_lobe = around(sella), around(lobe_centre)
    theta = float(rng.uniform(-0.3, 0.3))
    rho_s = _ellipsoid_r(g_sella, r_sella, theta)
    w = _inside(rho_s, min(r_sella), 1.0)
    rho_l = _ellipsoid_r(g_lobe, r_lobe, theta) if lobe else None
    if lobe:
        w = np.maximum(w, _inside(rho_l, min(r_lobe), 1.0))
    texture = _waves(rng, grids, (4, 12), 6)
    canvas.paint(box, w, _jitter(rng, _PITUITARY, 0.1), texture, 0.04)
    seg = canvas.seg[box]
    seg[w > 0.5] = 4
    cyst = rng.random() < 0.25
    if cyst:
        rho_c = (rho_l if lobe else rho_s) / rng.uniform(0.4, 0.65)
        w_c = _inside(rho_c, 4.0, 1.0) * w
        canvas.paint(box, w_c, _jitter(rng, _CYST, 0.1))
        seg[w_c > 0.5] = 1
    canvas.head[box] |= w > 0.05
    height = (2 * r_sella[2] + (2 * r_lobe[2] * 0.85 if lobe else 0))
    return {
        "centre_voxel": np.round(sella, 1).tolist(),
        "suprasellar": bool(lobe),
        "cyst": bool(cyst),
        "height_mm": round(float(height), 1),
    }


# --------------------------------------------------------------------------- metastasis


def _metastases(canvas: _Canvas, rng: np.random.Generator) -> dict:
    """Paint one to six round enhancing lesions at the grey-white junction with oedema."""
    anat = canvas.anat
    vox = anat.voxel_mm
    mid = (anat.shape[0] - 1) / 2
    u = rng.random()
    count = 1 if u < 0.45 else (int(rng.integers(2, 4)) if u < 0.8 else int(rng.integers(4, 7)))
    i, j, k = anat.centres.T
    depth = anat.depth[i, j, k].astype(np.float32)
    wm = anat.wm[i, j, k].astype(np.float32) / 255
    gm = anat.gm[i, j, k].astype(np.float32) / 255
    junction = (wm > 0.25) & (wm < 0.8) & (gm > 0.2) & (np.abs(i - mid) * vox > 6)
    placed: list[np.ndarray] = []
    radii = []
    for n in range(count):
        radius = float(rng.uniform(5, 13) if count == 1 else rng.uniform(3, 10))
        ok = junction & (depth >= radius + 3)
        for p in placed:
            ok &= np.linalg.norm((anat.centres - p) * vox, axis=1) > 2 * radius + 12
        if not ok.any():
            break
        centre = anat.centres[rng.choice(np.flatnonzero(ok))].astype(np.float32)
        centre += rng.uniform(-0.5, 0.5, size=3).astype(np.float32)
        placed.append(centre)
        radii.append(round(radius, 1))
        oedema = radius + float(rng.uniform(10, 28)) * (1.0 if n == 0 else rng.uniform(0.5, 1.0))
        box, grids = canvas.box_grids(centre, oedema * 1.4 + 4)
        r = np.sqrt(grids[0] ** 2 + grids[1] ** 2 + grids[2] ** 2)
        rho = r / (radius * (1 + 0.06 * np.clip(_waves(rng, grids, (2 * radius, 5 * radius), 4),
                                                -2, 2)))
        rho_o = r / (oedema * (1 + 0.3 * np.clip(_waves(rng, grids, (0.6 * oedema, 2 * oedema), 6),
                                                 -2, 2)))
        brain = anat.brain[box].astype(np.float32)
        w_t = _inside(rho, radius, 1.0) * brain
        side = 1.0 if centre[0] >= mid else -1.0
        wm_box = anat.wm[box].astype(np.float32) / 255
        # Vasogenic oedema spreads along the white matter (finger-like), sparing the cortex.
        w_o = _inside(rho_o, oedema, 3.0) * brain * _hemisphere(canvas, box, side) * (1 - w_t)
        w_o *= np.clip(0.15 + 0.95 * wm_box, 0, 1)
        seg = canvas.seg[box]
        canvas.paint(box, w_o, _jitter(rng, _MET_OEDEMA), 0.0)
        seg[(w_o > 0.4) & (seg == 0)] = 2
        texture = _waves(rng, grids, (4, 10), 6)
        ring = radius >= 5 and rng.random() < 0.75
        rim_vals = _jitter(rng, _MET_RIM, 0.1)
        if ring:
            core_frac = float(rng.uniform(0.35, 0.65))
            w_core = _inside(rho / core_frac, radius * core_frac, 1.0) * w_t
            canvas.paint(box, w_t - w_core, rim_vals, texture, 0.05)
            canvas.paint(box, w_core, _jitter(rng, _MET_CORE), texture, 0.05)
            seg[w_t > 0.5] = 4
            seg[w_core > 0.5] = 1
        else:
            canvas.paint(box, w_t, rim_vals, texture, 0.05)
            seg[w_t > 0.5] = 4
    return {
        "count": len(placed),
        "radii_mm": radii,
        "centres_voxel": [np.round(c, 1).tolist() for c in placed],
    }


# --------------------------------------------------------------------------- incidental spots


def _spots(canvas: _Canvas, rng: np.random.Generator, count: int) -> int:
    """Paint ``count`` small FLAIR-bright deep white-matter spots (not labelled); return count."""
    anat = canvas.anat
    i, j, k = anat.centres.T
    ok = (anat.wm[i, j, k] > 0.7 * 255) & (anat.depth[i, j, k] > 10)
    if count == 0 or not ok.any():
        return 0
    for idx in rng.choice(np.flatnonzero(ok), size=count):
        centre = anat.centres[idx].astype(np.float32)
        radius = float(rng.uniform(1.0, 3.5))
        box, grids = canvas.box_grids(centre, radius + 3)
        r = np.sqrt(grids[0] ** 2 + grids[1] ** 2 + grids[2] ** 2)
        weight = _inside(r / radius, radius, 1.0) * anat.brain[box]
        canvas.paint(box, weight, _jitter(rng, _SPOT, 0.1))
    return count


# --------------------------------------------------------------------------- assembly


def _glioma(
    canvas: _Canvas,
    rng: np.random.Generator,
    tissue_values: dict[str, tuple[float, float, float]],
    glioma_class: str,
) -> dict:
    """Paint one of the A/O/G glioma phantoms (phantoms._insert_tumour) onto the canvas."""
    anat = canvas.anat
    index = np.flatnonzero(anat.brain.ravel())
    vectors = {seq: canvas.signal[seq].ravel()[index] for seq in SEQUENCES}
    seg_box, box, params = _insert_tumour(glioma_class, anat, rng, tissue_values, vectors)
    for seq in SEQUENCES:
        canvas.signal[seq].ravel()[index] = vectors[seq]
    canvas.seg[box] = np.maximum(canvas.seg[box], seg_box)
    return {"glioma_class": glioma_class, **params}


_PAINTERS: dict[str, Callable[[_Canvas, np.random.Generator], dict]] = {
    "meningioma": _meningioma,
    "pituitary": _pituitary,
    "metastasis": _metastases,
}


def generate_tumour_case(
    tumour_type: str,
    rng: np.random.Generator | int | None = None,
    *,
    voxel_mm: float = 1.0,
    glioma_class: str | None = None,
) -> PhantomCase:
    """Return one synthetic case of ``tumour_type`` (one of TUMOUR_TYPES) as a PhantomCase.

    ``case.cls`` is the tumour type; ``case.params`` records the type's parameters (for a glioma
    its A/O/G class under "glioma_class", drawn at random unless ``glioma_class`` is given).
    ``rng`` is a numpy Generator or a seed (same seed, same case); ``voxel_mm`` 1.0 gives BraTS
    geometry 240x240x155, 2.0 a 120x120x78 grid. ``max_slice`` is the axial index with the
    largest labelled area (for a normal brain, the slice with most brain). ValueError for an
    unknown type or glioma class.
    """
    if tumour_type not in TUMOUR_TYPES:
        raise ValueError(f"unknown tumour type {tumour_type!r}; expected one of {TUMOUR_TYPES}")
    if glioma_class is not None and glioma_class not in CLASSES:
        raise ValueError(f"unknown glioma class {glioma_class!r}; expected one of {CLASSES}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    anat = _anatomy(float(voxel_mm))
    tissue_values = {
        seq: tuple(v * float(rng.uniform(0.93, 1.07)) for v in _TISSUE[seq]) for seq in SEQUENCES
    }
    signal = {}
    for seq in SEQUENCES:
        dense = np.zeros(anat.shape, dtype=np.float32)
        dense.ravel()[np.flatnonzero(anat.brain.ravel())] = (
            np.asarray(tissue_values[seq], dtype=np.float32) @ anat.tissue
        )
        signal[seq] = dense
    canvas = _Canvas(anat, signal, anat.brain.copy(), np.zeros(anat.shape, dtype=np.uint8))
    if tumour_type == "no_tumour":
        n_spots = int(rng.integers(1, 11)) if rng.random() < 0.7 else 0
        params: dict = {}
    else:
        n_spots = int(rng.integers(1, 6)) if rng.random() < 0.3 else 0
        if tumour_type == "glioma":
            cls = glioma_class or CLASSES[int(rng.integers(len(CLASSES)))]
            params = _glioma(canvas, rng, tissue_values, cls)
        else:
            params = _PAINTERS[tumour_type](canvas, rng)
    params["incidental_spots"] = _spots(canvas, rng, n_spots)
    volumes, seg, extra = _assemble(canvas, rng)
    params.update(extra)
    areas = np.count_nonzero(seg, axis=(0, 1))
    if not areas.any():
        areas = np.count_nonzero(volumes["flair"], axis=(0, 1))
    return PhantomCase(
        cls=tumour_type,
        volumes=volumes,
        affine=anat.affine.copy(),
        seg=seg,
        max_slice=int(np.argmax(areas)),
        params=params,
    )


def _assemble(
    canvas: _Canvas, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], np.ndarray, dict]:
    """Bias field, Rician noise, intensity factor and head shift: return int16 volumes + seg."""
    anat = canvas.anat
    voxel_mm = anat.voxel_mm
    factor = float(np.exp(rng.uniform(np.log(0.5), np.log(3.0))))
    sigma = float(rng.uniform(0.015, 0.04))
    index = np.flatnonzero(canvas.head.ravel())
    ijk = np.unravel_index(index, anat.shape)
    lo = np.array([a.min() for a in ijk])
    hi = np.array([a.max() for a in ijk])
    wanted = np.array([rng.integers(-8, 9), rng.integers(-8, 9), rng.integers(-3, 4)]) / voxel_mm
    shift = np.clip(np.rint(wanted).astype(int), -lo, np.asarray(anat.shape) - 1 - hi)
    target = np.ravel_multi_index(tuple(a + d for a, d in zip(ijk, shift, strict=True)), anat.shape)
    axes = [np.linspace(-1, 1, size, dtype=np.float32) for size in anat.shape]
    n = index.size
    volumes = {}
    for seq in SEQUENCES:
        c = rng.normal(0, 0.06, size=(3, 2))
        bx, by, bz = (
            np.exp(c[a, 0] * t + c[a, 1] * t * t).astype(np.float32) for a, t in enumerate(axes)
        )
        values = canvas.signal[seq].ravel()[index] * (bx[ijk[0]] * by[ijk[1]] * bz[ijk[2]])
        noise_a = rng.standard_normal(n, dtype=np.float32) * np.float32(sigma)
        noise_b = rng.standard_normal(n, dtype=np.float32) * np.float32(sigma)
        values = np.sqrt((values + noise_a) ** 2 + noise_b**2)
        values *= np.float32(_UNIT[seq] * factor * rng.uniform(0.9, 1.1))
        vol = np.zeros(anat.shape, dtype=np.int16)
        vol.ravel()[target] = np.clip(np.rint(values), 1, 32767).astype(np.int16)
        volumes[seq] = vol
    seg = np.zeros(anat.shape, dtype=np.uint8)
    seg.ravel()[target] = canvas.seg.ravel()[index]
    extra = {
        "intensity_factor": round(factor, 3),
        "noise_sigma": round(sigma, 4),
        "shift_voxels": shift.tolist(),
    }
    return volumes, seg, extra
