"""Standardised tumour measurements from a BraTS label map (pure numpy / scipy, no TensorFlow).

From a label map (1 necrotic / non-enhancing core, 2 oedema, 4 enhancing tumour) in a canonical
RAS+ grid, its affine or voxel size, and optionally the brain mask:

- volumes in mL of the whole tumour (WT = 1+2+4), tumour core (TC = 1+4), enhancing tumour
  (ET = 4), necrosis / non-enhancing core (label 1) and oedema (label 2);
- laterality relative to the brain's midline. In RAS+ world coordinates (NIfTI, nibabel) +x points
  to the patient's **right** (MNI x < 0 is the left hemisphere), so in a canonical array a larger
  first index is further to the patient's right. The midline is the sagittal plane through the
  brain mask's centre of mass (the label map's grid centre when no mask is given). Voxels within
  half a voxel of the plane count for neither side. "left" or "right" when the other side holds
  less than ``BILATERAL_FRACTION`` of the WT volume, else "bilateral"; "none" without tumour;
- ``crosses_midline``: one connected WT lesion (26-connectivity) has at least ``CROSSING_MIN_ML``
  on each side of the midline (two separate lesions, one per side, are bilateral but do not cross);
- multifocality: the number of separate lesions of at least ``FOCUS_MIN_ML``: each WT lesion
  (26-connected) counts once for every separate tumour core (TC) of that size it holds, and at
  least once, so one oedema joining two cores (a multifocal glioblastoma's foci share their FLAIR
  signal) gives 2;
- the RANO bidimensional measurement of the enhancing tumour: on the axial slice and in-plane
  lesion (8-connected ET component) with the longest diameter, that diameter and the longest
  diameter perpendicular to it, in mm between voxel centres, and their product (mm²). For a ring
  the perpendicular spans the necrotic centre, as RANO measures it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

BILATERAL_FRACTION = 0.10
"""A side holding at least this fraction of the WT volume makes the tumour bilateral."""
CROSSING_MIN_ML = 0.1
"""A lesion crosses the midline when it has at least this volume on each side."""
FOCUS_MIN_ML = 1.0
"""Lesions smaller than this are not counted as foci (multifocality)."""

_STRUCT26 = np.ones((3, 3, 3), dtype=bool)
_STRUCT8 = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class Bidimensional:
    """RANO bidimensional measurement of the enhancing tumour on one axial slice (mm, mm²)."""

    slice_index: int
    longest_mm: float
    perpendicular_mm: float
    product_mm2: float
    endpoints_voxel: tuple[tuple[float, float], tuple[float, float]]


@dataclass(frozen=True)
class Measurements:
    """Volumes (mL), laterality, midline crossing, foci and the RANO measurement of one case."""

    wt_ml: float
    tc_ml: float
    et_ml: float
    necrosis_ml: float
    oedema_ml: float
    laterality: str
    left_ml: float
    right_ml: float
    crosses_midline: bool
    lesions: int
    multifocal: bool
    bidimensional: Bidimensional | None
    midline_x_mm: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (floats rounded; ``bidimensional`` None without ET)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float):
                out[key] = round(value, 3)
        if out["bidimensional"] is not None:
            bi = out["bidimensional"]
            for key in ("longest_mm", "perpendicular_mm", "product_mm2"):
                bi[key] = round(bi[key], 2)
            bi["endpoints_voxel"] = [[round(v, 2) for v in p] for p in bi["endpoints_voxel"]]
        return out


def _geometry(
    shape: Sequence[int], voxel_size: Sequence[float] | None, affine: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Return (voxel size (3,), affine (4, 4)); refuse a non-RAS+ affine or missing geometry."""
    if affine is None:
        if voxel_size is None:
            raise ValueError("give the affine or the voxel size")
        vs = np.asarray(voxel_size, dtype=float)
        affine = np.diag([*vs, 1.0])
        affine[:3, 3] = -(np.asarray(shape) - 1) / 2 * vs
    affine = np.asarray(affine, dtype=float)
    if affine.shape != (4, 4):
        raise ValueError(f"the affine must be 4x4, got {affine.shape}")
    rot = affine[:3, :3]
    vs = np.sqrt((rot**2).sum(axis=0))
    if np.any(vs <= 0):
        raise ValueError("the affine has a zero voxel size")
    direction = rot / vs
    if np.any(np.argmax(np.abs(direction), axis=0) != np.arange(3)) or np.any(
        np.diag(direction) <= 0
    ):
        raise ValueError(
            "the label map must be in canonical RAS+ orientation "
            "(nibabel.as_closest_canonical) for laterality and axial measurements"
        )
    if voxel_size is not None and not np.allclose(vs, voxel_size, rtol=1e-3):
        raise ValueError(f"voxel_size {tuple(voxel_size)} disagrees with the affine ({vs})")
    return vs, affine


def _x_world(affine: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """World x (mm) of each first-axis index on the grid's centre line (RAS+ canonical)."""
    i = np.arange(shape[0], dtype=float)
    centre = (np.asarray(shape, dtype=float) - 1) / 2
    return affine[0, 0] * i + affine[0, 1] * centre[1] + affine[0, 2] * centre[2] + affine[0, 3]


def _feret(points: np.ndarray) -> tuple[float, int, int]:
    """Return (longest distance, index a, index b) between 2D points (via the convex hull)."""
    if len(points) == 1:
        return 0.0, 0, 0
    candidates = np.arange(len(points))
    if len(points) > 3:
        try:
            candidates = ConvexHull(points).vertices
        except QhullError:  # collinear points: every point is a candidate
            pass
    hull = points[candidates]
    d = np.sqrt(((hull[:, None, :] - hull[None, :, :]) ** 2).sum(axis=-1))
    a, b = np.unravel_index(int(np.argmax(d)), d.shape)
    return float(d[a, b]), int(candidates[a]), int(candidates[b])


def _perpendicular(points: np.ndarray, u: np.ndarray, bin_mm: float) -> float:
    """Longest extent across ``u`` (mm, centre to centre) within strips of width ``bin_mm``."""
    n = np.array([-u[1], u[0]])
    along = points @ u
    across = points @ n
    strips = np.floor((along - along.min()) / bin_mm + 0.5).astype(int)
    order = np.argsort(strips)
    strips, across = strips[order], across[order]
    starts = np.flatnonzero(np.r_[True, strips[1:] != strips[:-1]])
    hi = np.maximum.reduceat(across, starts)
    lo = np.minimum.reduceat(across, starts)
    return float((hi - lo).max())


def bidimensional(et: np.ndarray, voxel_size: Sequence[float]) -> Bidimensional | None:
    """Return the RANO measurement of a boolean ET mask (X, Y, Z), or None when it is empty.

    Every 8-connected ET component of every axial slice is measured; the one with the longest
    diameter wins, and its longest perpendicular diameter is measured on the same slice.
    """
    vx, vy = float(voxel_size[0]), float(voxel_size[1])
    best: tuple[float, int, np.ndarray, int, int] | None = None
    for k in np.flatnonzero(et.any(axis=(0, 1))):
        components, n = ndimage.label(et[:, :, k], structure=_STRUCT8)
        for c in range(1, n + 1):
            ij = np.argwhere(components == c).astype(float)
            pts = ij * np.array([vx, vy])
            length, a, b = _feret(pts)
            if best is None or length > best[0]:
                best = (length, int(k), pts, a, b)
    if best is None:
        return None
    length, k, pts, a, b = best
    if length > 0:
        u = (pts[b] - pts[a]) / length
        perp = _perpendicular(pts, u, min(vx, vy))
    else:
        perp = 0.0
    ends = tuple((float(pts[i, 0] / vx), float(pts[i, 1] / vy)) for i in (a, b))
    return Bidimensional(k, length, perp, length * perp, ends)


def count_foci(labels: np.ndarray, wt_components: np.ndarray, n_wt: int, ml: float) -> int:
    """Return the number of separate lesions of at least FOCUS_MIN_ML in a BraTS label map.

    Each WT lesion (``wt_components``, ``n_wt`` of them, 26-connected) of that size counts as
    many times as it holds separate tumour cores (labels 1 and 4, 26-connected) of that size,
    and at least once: one oedema joining two cores (a multifocal glioblastoma) gives 2. ``ml``
    is the volume of one voxel in mL.
    """
    if n_wt == 0:
        return 0
    wt_sizes = np.bincount(wt_components.ravel(), minlength=n_wt + 1) * ml
    cores, n_core = ndimage.label((labels == 1) | (labels == 4), structure=_STRUCT26)
    cores_in = np.zeros(n_wt + 1, dtype=int)
    if n_core:
        core_sizes = np.bincount(cores.ravel(), minlength=n_core + 1) * ml
        big = np.flatnonzero(core_sizes >= FOCUS_MIN_ML)
        big = big[big > 0]
        if big.size:
            # the WT lesion of each large core (a core lies inside one WT lesion)
            first = ndimage.labeled_comprehension(
                wt_components, cores, big, np.max, np.int64, 0)
            np.add.at(cores_in, first, 1)
    counted = wt_sizes >= FOCUS_MIN_ML
    counted[0] = False
    return int(np.maximum(cores_in, 1)[counted].sum())


def measure(
    labels: np.ndarray,
    voxel_size: Sequence[float] | None = None,
    *,
    affine: np.ndarray | None = None,
    brain: np.ndarray | None = None,
) -> Measurements:
    """Return the Measurements of a BraTS label map (canonical RAS+ grid, values 0, 1, 2, 4).

    Needs ``affine`` or ``voxel_size`` (with only the voxel size, the grid is taken as RAS+ and
    centred). ``brain`` (boolean, same shape) sets the midline; without it the grid centre is used.
    ValueError for a label map that is not 3D, holds values other than 0, 1, 2, 4, a brain mask
    of another shape or an empty one, or an affine that is not canonical RAS+.
    """
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"expected a 3D label map, got shape {labels.shape}")
    unexpected = np.setdiff1d(np.unique(labels), [0, 1, 2, 4])
    if unexpected.size:
        raise ValueError(f"label values {unexpected.tolist()} are not BraTS labels (0, 1, 2, 4)")
    vs, affine = _geometry(labels.shape, voxel_size, affine)
    ml = float(np.prod(vs)) / 1000.0
    counts = {v: int(np.count_nonzero(labels == v)) for v in (1, 2, 4)}
    wt = labels > 0

    x_mm = _x_world(affine, labels.shape)
    if brain is not None:
        brain = np.asarray(brain, dtype=bool)
        if brain.shape != labels.shape:
            raise ValueError(f"brain mask shape {brain.shape} differs from {labels.shape}")
        per_x = np.count_nonzero(brain, axis=(1, 2))
        if per_x.sum() == 0:
            raise ValueError("the brain mask is empty: the midline cannot be found")
        midline = float((per_x * x_mm).sum() / per_x.sum())
    else:
        midline = float(x_mm.mean())
    offset = x_mm - midline  # mm to the right of the midline, per first-axis index
    right_x = offset > vs[0] / 2
    left_x = offset < -vs[0] / 2
    per_x_wt = np.count_nonzero(wt, axis=(1, 2))
    right_ml = float(per_x_wt[right_x].sum()) * ml
    left_ml = float(per_x_wt[left_x].sum()) * ml
    total = left_ml + right_ml
    if not wt.any():
        laterality = "none"
    elif total == 0 or min(left_ml, right_ml) >= BILATERAL_FRACTION * total:
        laterality = "bilateral"
    else:
        laterality = "left" if left_ml > right_ml else "right"

    components, n = ndimage.label(wt, structure=_STRUCT26)
    lesions = count_foci(labels, components, n, ml)
    crosses = False
    if n:
        side = np.zeros(labels.shape[0], dtype=np.int8)
        side[right_x], side[left_x] = 1, -1
        where = np.nonzero(components)
        ids = components[where]
        sides = side[where[0]]
        right_each = np.bincount(ids[sides == 1], minlength=n + 1) * ml
        left_each = np.bincount(ids[sides == -1], minlength=n + 1) * ml
        both = (right_each[1:] >= CROSSING_MIN_ML) & (left_each[1:] >= CROSSING_MIN_ML)
        crosses = bool(np.any(both))

    return Measurements(
        wt_ml=float(wt.sum()) * ml,
        tc_ml=(counts[1] + counts[4]) * ml,
        et_ml=counts[4] * ml,
        necrosis_ml=counts[1] * ml,
        oedema_ml=counts[2] * ml,
        laterality=laterality,
        left_ml=left_ml,
        right_ml=right_ml,
        crosses_midline=crosses,
        lesions=lesions,
        multifocal=lesions >= 2,
        bidimensional=bidimensional(labels == 4, vs),
        midline_x_mm=midline,
    )
