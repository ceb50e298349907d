"""Find the axial slice with the largest tumour area on a canonical (RAS+) FLAIR volume.

Two methods, both vectorised over the whole volume:

- ``"seed"`` reproduces the original notebook (absolute thresholds 450 / 250 after an in-plane
  Gaussian of sigma 1); models trained with that notebook expect it.
- ``"robust"`` (the default) does not depend on absolute intensity: it normalises within the brain,
  marks FLAIR-hyperintense voxels relative to the brain's own distribution, keeps the largest 3D
  connected component and picks the axial slice where that component is largest.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from app.pipeline.intensity import brain_mask, robust_centre_scale

log = logging.getLogger(__name__)

METHODS = ("robust", "seed")

SEED_THRESHOLD = 450.0
SEED_FALLBACK_THRESHOLD = 250.0
SEED_SIGMA = 1.0

ROBUST_K = 3.0
"""A voxel is hyperintense when its robust z-score within the brain exceeds this."""
MIN_LESION_ML = 1.0
"""A candidate smaller than this is reported as ``no_lesion_found``."""

_STRUCT6 = ndimage.generate_binary_structure(3, 1)
_INPLANE = np.zeros((3, 3, 3), dtype=bool)
_INPLANE[:, :, 1] = ndimage.generate_binary_structure(2, 1)


@dataclass(eq=False)
class SliceResult:
    """The chosen axial slice, the 3D candidate mask behind it and its per-slice areas (voxels)."""

    index: int
    mask: np.ndarray
    volume_ml: float
    no_lesion_found: bool
    areas: np.ndarray


def _voxel_ml(voxel_size: Sequence[float]) -> float:
    return float(np.prod(np.asarray(voxel_size, dtype=float))) / 1000.0


def _as_float32(flair: np.ndarray) -> np.ndarray:
    flair = np.asarray(flair)
    if flair.ndim != 3:
        raise ValueError(f"expected a 3D FLAIR volume, got shape {flair.shape}")
    return flair.astype(np.float32, copy=False)


def find_slice_seed(
    flair: np.ndarray,
    voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
    *,
    threshold: float = SEED_THRESHOLD,
    fallback: float = SEED_FALLBACK_THRESHOLD,
    sigma: float = SEED_SIGMA,
) -> SliceResult:
    """Return the slice whose smoothed FLAIR area above ``threshold`` is largest (seed method).

    Each axial slice is smoothed with a Gaussian of ``sigma`` voxels in-plane (none across slices);
    voxels above ``threshold`` count; when none pass, ``fallback`` is used instead. Ties go to the
    lowest index. When nothing passes either threshold the result has index 0, an empty mask and
    ``no_lesion_found``. Refuses nothing (ValueError only for a non-3D array).
    """
    data = _as_float32(flair)
    smooth = ndimage.gaussian_filter(data, sigma=(sigma, sigma, 0))
    mask = smooth > threshold
    if not mask.any():
        log.debug("seed: nothing above %s, falling back to %s", threshold, fallback)
        mask = smooth > fallback
    areas = mask.sum(axis=(0, 1))
    volume_ml = float(areas.sum()) * _voxel_ml(voxel_size)
    return SliceResult(
        index=int(np.argmax(areas)),
        mask=mask,
        volume_ml=volume_ml,
        no_lesion_found=not bool(areas.any()),
        areas=areas,
    )


def _bbox(mask: np.ndarray, margin: int = 0) -> tuple[slice, ...] | None:
    """Return the bounding box of ``mask`` (grown by ``margin``) as slices, or None when empty."""
    out: list[slice] = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        hits = np.flatnonzero(mask.any(axis=other))
        if hits.size == 0:
            return None
        out.append(
            slice(max(int(hits[0]) - margin, 0), min(int(hits[-1]) + 1 + margin, mask.shape[axis]))
        )
    return tuple(out)


def _block_mean(data: np.ndarray, factor: int) -> np.ndarray:
    """Mean over factor³ blocks (the volume is cropped to a multiple of ``factor``)."""
    if factor == 1:
        return data
    sx, sy, sz = (s // factor * factor for s in data.shape)
    total = np.zeros((sx // factor, sy // factor, sz // factor), dtype=np.float32)
    for i in range(factor):  # strided sums: much faster than a reshape-mean over 3 axes
        for j in range(factor):
            for k in range(factor):
                total += data[i:sx:factor, j:sy:factor, k:sz:factor]
    total *= np.float32(1.0 / factor**3)
    return total


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labels, n = ndimage.label(mask, structure=_STRUCT6)
    if n == 0:
        return np.zeros_like(mask)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def _robust_cut(values: np.ndarray, k: float) -> tuple[float, float]:
    """Return (median + k * robust sigma, median) of ``values``: a robust z-score cut, centre."""
    median, spread = robust_centre_scale(values)
    return median + k * spread, median


def find_slice_robust(
    flair: np.ndarray,
    voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
    *,
    k: float = ROBUST_K,
    min_lesion_ml: float = MIN_LESION_ML,
) -> SliceResult:
    """Return the slice where the largest FLAIR-hyperintense 3D component is largest ("robust").

    Steps: brain mask (non-zero voxels); statistics on a 2×-downsampled, slightly eroded brain:
    median and IQR give a robust z-score; voxels with z > ``k`` are candidates; a 6-connected
    opening removes speckle; the largest 3D connected component (found at half resolution) is
    refined at full resolution inside its bounding box (in-plane-smoothed FLAIR above the same
    cut). Scale-invariant: multiplying the volume by a constant gives the same result. When the
    component is smaller than ``min_lesion_ml`` (or absent) ``no_lesion_found`` is set (the index
    is still that of its largest area, or the slice with most brain when there is no candidate).
    Refuses nothing (ValueError only for a non-3D array).
    """
    data = _as_float32(flair)
    shape = data.shape
    voxel_ml = _voxel_ml(voxel_size)
    empty = np.zeros(shape, dtype=bool)
    brain = brain_mask(data)
    box = _bbox(brain)
    if box is None:
        return SliceResult(0, empty, 0.0, True, np.zeros(shape[2], dtype=np.int64))
    sub = data[box]
    sub_brain = brain[box]
    factor = 2 if min(sub.shape) >= 16 else 1
    small = _block_mean(sub, factor)
    small_brain = _block_mean(sub_brain.astype(np.float32), factor) > 0.99
    core = ndimage.binary_erosion(small_brain, structure=_STRUCT6)
    values = small[core] if np.count_nonzero(core) > 100 else small[small_brain]
    if values.size == 0:
        return SliceResult(0, empty, 0.0, True, np.zeros(shape[2], dtype=np.int64))
    cut, centre = _robust_cut(values, k)
    candidates = (small > cut) & small_brain
    if candidates.any():
        # Second pass: statistics of the brain without the (grown) first candidates, so that a
        # large lesion does not inflate its own threshold.
        grown = ndimage.binary_dilation(candidates, structure=_STRUCT6, iterations=2)
        normal = small[core & ~grown]
        if normal.size > 100:
            cut, centre = _robust_cut(normal, k)
            candidates = (small > cut) & small_brain
    candidates = ndimage.binary_opening(candidates, structure=_STRUCT6)
    component = _largest_component(candidates)
    if not component.any():
        areas = brain.sum(axis=(0, 1))
        return SliceResult(
            int(np.argmax(areas)), empty, 0.0, True, np.zeros(shape[2], dtype=np.int64)
        )

    # Refine at full resolution inside the component's (grown) bounding box.
    grown = ndimage.binary_dilation(component, structure=_STRUCT6, iterations=2)
    cbox = _bbox(grown)
    assert cbox is not None
    full_box = tuple(
        slice(b.start + c.start * factor, min(b.start + c.stop * factor, b.stop))
        for b, c in zip(box, cbox, strict=True)
    )
    coarse = grown[cbox]
    for axis in range(3):
        coarse = np.repeat(coarse, factor, axis=axis)
    region = data[full_box]
    coarse = coarse[: region.shape[0], : region.shape[1], : region.shape[2]]
    smooth = ndimage.gaussian_filter(region, sigma=(1, 1, 0))
    fine = (smooth > cut) & coarse & brain[full_box]
    # Outline at half-way between normal brain and the lesion's own median (half maximum), so that
    # blurred edges neither grow nor shrink the lesion.
    if fine.any():
        outline = max(cut, 0.5 * (centre + float(np.median(smooth[fine]))))
        fine = (smooth > outline) & coarse & brain[full_box]
    fine = _largest_component(fine)
    # Enclosed darker parts (necrosis, calcification, a FLAIR-suppressed core) belong to the lesion.
    # Closing only decides what is enclosed; the outline stays that of the thresholded lesion.
    closed = ndimage.binary_closing(fine, structure=_STRUCT6, iterations=2)
    fine |= ndimage.binary_fill_holes(closed, structure=_INPLANE) & ~closed
    mask = empty
    mask[full_box] = fine
    areas = mask.sum(axis=(0, 1))
    volume_ml = float(areas.sum()) * voxel_ml
    return SliceResult(
        index=int(np.argmax(areas)),
        mask=mask,
        volume_ml=volume_ml,
        no_lesion_found=volume_ml < min_lesion_ml,
        areas=areas,
    )


def find_slice(
    method: str, flair: np.ndarray, voxel_size: Sequence[float] = (1.0, 1.0, 1.0), **params: float
) -> SliceResult:
    """Return the SliceResult of ``method`` ("robust" or "seed") with its keyword ``params``.

    ValueError for an unknown method name (a configuration bug, not the user's data).
    """
    if method == "robust":
        return find_slice_robust(flair, voxel_size, **params)
    if method == "seed":
        return find_slice_seed(flair, voxel_size, **params)
    raise ValueError(f"unknown slice method {method!r}; expected one of {METHODS}")


def locate_lesion(case: Any, card: Any) -> SliceResult:
    """Return the max-tumour slice of a loaded case with the card's slice method and parameters.

    ``case`` is a LoadedCase (its FLAIR and voxel size are used); ``card`` a ModelCard. ValueError
    for an unknown method (a card bug); nothing else is refused.
    """
    return find_slice(card.slice_method, case.flair, case.voxel_size, **card.slice_params)
