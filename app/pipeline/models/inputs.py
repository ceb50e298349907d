"""Model inputs from axial slices: the two input layouts, normalisation, crop and resize.

Layouts (the card's ``layout``):

- ``"channels4"`` (our default): the four sequences as four channels of one image. Each channel is
  normalised by a robust z-score over the brain voxels of the slab of slices being classified
  (median, IQR / 1.349), clipped to ±clip and shifted by +clip so brain values lie in [0, 2·clip]
  and everything outside the brain is exactly 0 (the same value as the network's zero padding).
  The slab is cropped to the brain's bounding square (plus a margin) and resized to S×S.
- ``"seed-strip"``: the original notebook's input: the four slices side by side (FLAIR, T1, T1ce,
  T2 along the second axis), resized to S×S (224) and repeated to three channels.

Arrays keep the canonical (X, Y) orientation: image rows are X (left-right), columns are Y.
Everything is vectorised (one ``scipy.ndimage.zoom`` per batch). No TensorFlow here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy import ndimage

from app.pipeline.intensity import brain_mask, robust_centre_scale
from app.pipeline.io.naming import SEQUENCES

LAYOUTS: tuple[str, ...] = ("channels4", "seed-strip")


class _SliceSource(Protocol):
    shape: tuple[int, int, int]
    voxel_size: tuple[float, float, float]

    def axial_slices(self, sequence: str, indices: Sequence[int] | np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class InputGeometry:
    """How model-input pixels map back to the slice grid (used to undo crop/resize for saliency).

    channels4: the square ``[x0, x0 + side) × [y0, y0 + side)`` of the slice (it may extend past
    the slice edge, padded with 0) was resized to ``image_size``. seed-strip: the (X, 4·Y) strip was
    resized to ``image_size``.
    """

    layout: str
    slice_shape: tuple[int, int]
    image_size: int
    x0: int = 0
    y0: int = 0
    side: int = 0


def slab_indices(centre: int, k: int, depth: int) -> list[int]:
    """Return the distinct axial indices centre-k..centre+k clipped to 0..depth-1, in order.

    ValueError when ``centre`` is outside the volume.
    """
    if not 0 <= centre < depth:
        raise ValueError(f"slice {centre} outside 0..{depth - 1}")
    return sorted({min(max(i, 0), depth - 1) for i in range(centre - k, centre + k + 1)})


def normalise(values: np.ndarray, brain: np.ndarray, spec: Mapping[str, Any]) -> np.ndarray:
    """Return ``values`` normalised per ``spec`` as float32 (same shape); outside ``brain`` is 0.

    ``spec["method"]``: "robust-z" (statistics over all brain voxels of ``values``; clipped to
    ±clip then shifted by +clip), "minmax" (divided by the brain's 99.5th percentile, clipped to
    [0, 1]) or "none". ValueError for an unknown method. An empty brain gives all zeros.
    """
    method = spec.get("method", "robust-z")
    values = np.asarray(values, dtype=np.float32)
    out = np.zeros_like(values)
    inside = values[brain]
    if inside.size == 0:
        return out
    if method == "robust-z":
        clip = float(spec.get("clip", 5.0))
        med, scale = robust_centre_scale(inside)
        z = (inside - np.float32(med)) / np.float32(scale)
        out[brain] = np.clip(z, -clip, clip) + clip
    elif method == "minmax":
        top = float(np.percentile(inside, 99.5)) or 1.0
        out[brain] = np.clip(inside / np.float32(top), 0, 1)
    elif method == "none":
        out[brain] = inside
    else:
        raise ValueError(f"unknown normalisation method {method!r}")
    return out


def brain_square(brain: np.ndarray, margin: int) -> tuple[int, int, int]:
    """Return (x0, y0, side) of the square around the brain of a (X, Y[, N]) mask, plus margin.

    The square is centred on the brain's bounding box; it may extend past the slice. An empty mask
    gives the whole slice.
    """
    plane = brain.any(axis=2) if brain.ndim == 3 else brain
    xs = np.flatnonzero(plane.any(axis=1))
    ys = np.flatnonzero(plane.any(axis=0))
    if xs.size == 0:
        side = max(plane.shape)
        return 0, 0, side
    w, h = xs[-1] - xs[0] + 1, ys[-1] - ys[0] + 1
    side = int(max(w, h) + 2 * margin)
    x0 = int((xs[0] + xs[-1] + 1) // 2 - side // 2)
    y0 = int((ys[0] + ys[-1] + 1) // 2 - side // 2)
    return x0, y0, side


def _crop_square(stack: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    """Crop (X, Y, ...) to the square, padding with 0 where it leaves the array."""
    sx, sy = stack.shape[:2]
    pads = [(max(-x0, 0), max(x0 + side - sx, 0)), (max(-y0, 0), max(y0 + side - sy, 0))]
    pads += [(0, 0)] * (stack.ndim - 2)
    if any(p for pair in pads for p in pair):
        stack = np.pad(stack, pads)
        x0 += pads[0][0]
        y0 += pads[1][0]
    return stack[x0 : x0 + side, y0 : y0 + side]


def resize_stack(stack: np.ndarray, size: int | tuple[int, int], order: int = 1) -> np.ndarray:
    """Resize the first two axes of (H, W, ...) to ``size`` in one vectorised zoom; float32."""
    target = (size, size) if isinstance(size, int) else size
    factors = (target[0] / stack.shape[0], target[1] / stack.shape[1]) + (1.0,) * (stack.ndim - 2)
    if factors[:2] == (1.0, 1.0):
        return stack.astype(np.float32, copy=False)
    out = ndimage.zoom(stack.astype(np.float32, copy=False), factors, order=order, grid_mode=False)
    return out[: target[0], : target[1]]


def build_from_slices(
    slices: Mapping[str, np.ndarray],
    *,
    layout: str,
    image_size: int,
    normalisation: Mapping[str, Mapping[str, Any]],
    voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
    crop_margin_mm: float = 2.0,
) -> tuple[np.ndarray, InputGeometry]:
    """Return (batch (N, S, S, C) float32, geometry) from per-sequence slabs (X, Y, N).

    ``slices`` maps every name in SEQUENCES to an (X, Y, N) array of the same slices. The brain
    is FLAIR's non-zero voxels (``intensity.brain_mask``). ValueError for an unknown layout or
    missing / mismatched slabs.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown input layout {layout!r}; expected one of {LAYOUTS}")
    missing = [s for s in SEQUENCES if s not in slices]
    if missing:
        raise ValueError(f"missing slices for {missing}")
    flair = np.asarray(slices["flair"], dtype=np.float32)
    if flair.ndim == 2:
        slices = {s: np.asarray(v)[:, :, None] for s, v in slices.items()}
        flair = flair[:, :, None]
    for seq in SEQUENCES:
        if slices[seq].shape != flair.shape:
            raise ValueError(f"{seq} slab shape {slices[seq].shape} differs from {flair.shape}")
    brain = brain_mask(flair)
    n = flair.shape[2]
    if layout == "channels4":
        stack = np.stack(
            [normalise(slices[s], brain, normalisation[s]) for s in SEQUENCES], axis=-1
        )  # (X, Y, N, 4)
        margin = int(round(crop_margin_mm / max(float(voxel_size[0]), 1e-3)))
        x0, y0, side = brain_square(brain, margin)
        crop = _crop_square(stack, x0, y0, side).reshape(side, side, n * 4)
        resized = resize_stack(crop, image_size).reshape(image_size, image_size, n, 4)
        batch = np.ascontiguousarray(resized.transpose(2, 0, 1, 3))
        geometry = InputGeometry(layout, flair.shape[:2], image_size, x0, y0, side)
        return batch, geometry
    # seed-strip: per-slice normalisation, sequences side by side along Y, 3 identical channels.
    parts = []
    for seq in SEQUENCES:
        per_slice = [
            normalise(slices[seq][:, :, i], brain[:, :, i], normalisation[seq]) for i in range(n)
        ]
        parts.append(np.stack(per_slice, axis=-1))
    strip = np.concatenate(parts, axis=1)  # (X, 4Y, N)
    resized = resize_stack(strip, image_size)  # (S, S, N)
    batch = np.repeat(resized.transpose(2, 0, 1)[..., None], 3, axis=-1)
    return np.ascontiguousarray(batch), InputGeometry(layout, flair.shape[:2], image_size)


def read_slabs(case: _SliceSource, indices: Sequence[int]) -> dict[str, np.ndarray]:
    """Return {sequence: (X, Y, N) float32} axial slabs of a LoadedCase at ``indices``.

    Raises what ``case.axial_slices`` raises (InvalidInputError for unusable sequence data).
    """
    return {seq: case.axial_slices(seq, list(indices)) for seq in SEQUENCES}


def build_inputs(
    case: _SliceSource,
    indices: Sequence[int],
    card: Any,
    slabs: Mapping[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, InputGeometry]:
    """Return (batch (N, S, S, C), geometry) for axial ``indices`` of a LoadedCase, per ``card``.

    Reads layout, image size, normalisation and crop margin from the ModelCard only. ``slabs``
    (from :func:`read_slabs`) avoids reading the slices again. Raises what ``case.axial_slices``
    raises (InvalidInputError for unreadable / empty sequence data).
    """
    if slabs is None:
        slabs = read_slabs(case, indices)
    return build_from_slices(
        slabs,
        layout=card.layout,
        image_size=card.image_size,
        normalisation=card.normalisation,
        voxel_size=case.voxel_size,
        crop_margin_mm=float(card.crop.get("margin_mm", 2.0)),
    )


@dataclass(eq=False)
class PreparedInput:
    """The model input of one case: the slab batch around a slice and how to map it back.

    ``batch`` is (N, S, S, C) float32, one row per axial index of ``indices``; ``centre`` is the
    chosen (max-tumour) slice; ``slabs`` are the raw (X, Y, N) slices per sequence when kept (for
    the images shown to the user), else None.
    """

    batch: np.ndarray
    geometry: InputGeometry
    indices: list[int]
    centre: int
    slabs: dict[str, np.ndarray] | None = None

    @property
    def centre_row(self) -> int:
        """Return the batch row of the centre slice."""
        return self.indices.index(self.centre)

    def without_slabs(self) -> PreparedInput:
        """Return the same input without the raw slabs (smaller to send between processes)."""
        return PreparedInput(self.batch, self.geometry, self.indices, self.centre)


def prepare_case(case: _SliceSource, card: Any, centre: int) -> PreparedInput:
    """Return the model input of a loaded case around axial slice ``centre``, per ``card``.

    The one path from a case to model input (analysis, data sets, import check, evaluation):
    the centre slice and its ±``card.uncertainty_k`` neighbours (clipped to the volume), read
    once, normalised, cropped and resized as the card says. ValueError when ``centre`` is outside
    the volume; InvalidInputError (from the loader) when a sequence's slices are unusable.
    """
    indices = slab_indices(int(centre), card.uncertainty_k, case.shape[2])
    slabs = read_slabs(case, indices)
    batch, geometry = build_inputs(case, indices, card, slabs)
    return PreparedInput(batch, geometry, indices, int(centre), slabs)


def to_slice_geometry(image_map: np.ndarray, geometry: InputGeometry) -> np.ndarray:
    """Return a (S, S) map on model-input pixels resampled onto the slice grid (X, Y), float32.

    Undoes the crop / resize of ``build_from_slices`` (bilinear; 0 outside the crop). For the
    seed-strip layout the four strip panels are averaged.
    """
    image_map = np.asarray(image_map, dtype=np.float32)
    sx, sy = geometry.slice_shape
    s = geometry.image_size
    if geometry.layout == "seed-strip":
        strip = resize_stack(image_map, (sx, 4 * sy))
        return strip.reshape(sx, 4, sy).mean(axis=1)
    scale = (s - 1) / max(geometry.side - 1, 1)
    xs = (np.arange(sx, dtype=np.float32) - geometry.x0) * scale
    ys = (np.arange(sy, dtype=np.float32) - geometry.y0) * scale
    coords = np.meshgrid(xs, ys, indexing="ij")
    return ndimage.map_coordinates(image_map, coords, order=1, mode="constant", cval=0.0)
