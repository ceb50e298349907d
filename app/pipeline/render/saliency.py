"""Grad-CAM saliency in the patient's geometry: slice maps, PNG overlay, heatmap NIfTI volume.

Grad-CAM itself runs in the compiled function of :class:`classifier.Classifier` (gradient of the
predicted class's pre-softmax score with respect to ResNet50's last convolutional block,
``conv5_block3_out``). This module maps the maps back onto the slice grid, colours them with a
colour-blind-safe LUT (cividis-like, built with numpy) and writes the volume for the 3D viewer.
No TensorFlow import here.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from app.pipeline.models.inputs import InputGeometry, to_slice_geometry

# Anchor colours of matplotlib's cividis (blue → grey → yellow; readable with any colour vision).
_CIVIDIS_ANCHORS = np.array(
    [
        [0, 34, 78],
        [18, 53, 112],
        [59, 73, 108],
        [87, 92, 109],
        [112, 113, 115],
        [138, 134, 120],
        [166, 157, 117],
        [196, 181, 107],
        [227, 208, 88],
        [254, 232, 56],
    ],
    dtype=np.float32,
)


def cividis_lut() -> np.ndarray:
    """Return a (256, 3) uint8 colour table interpolated from cividis anchor colours."""
    pos = np.linspace(0, 1, len(_CIVIDIS_ANCHORS))
    t = np.linspace(0, 1, 256)
    lut = np.stack([np.interp(t, pos, _CIVIDIS_ANCHORS[:, c]) for c in range(3)], axis=1)
    return np.rint(lut).astype(np.uint8)


_LUT = cividis_lut()


def maps_to_slices(
    cams: np.ndarray, geometry: InputGeometry, brain: np.ndarray | None = None
) -> np.ndarray:
    """Return Grad-CAM maps (N, S, S) resampled onto the slice grid as (X, Y, N) float32 in [0, 1].

    Undoes the input crop and resize; values outside the cropped square are 0, and so are values
    outside ``brain`` ((X, Y, N) boolean) when it is given.
    """
    cams = np.asarray(cams, dtype=np.float32)
    if cams.ndim == 2:
        cams = cams[None]
    out = np.stack([to_slice_geometry(c, geometry) for c in cams], axis=-1)
    if brain is not None:
        out *= brain.reshape(out.shape)
    return np.clip(out, 0.0, 1.0)


def display_orientation(plane: np.ndarray) -> np.ndarray:
    """Return an (X, Y[, ...]) canonical slice as a display image (rows, cols[, ...]).

    Radiological convention: anterior at the top, the patient's right on the viewer's left.
    """
    return np.swapaxes(plane, 0, 1)[::-1, ::-1]


def window(plane: np.ndarray, brain: np.ndarray | None = None) -> np.ndarray:
    """Return a slice windowed to uint8 (1st–99th percentile of the brain voxels)."""
    plane = np.asarray(plane, dtype=np.float32)
    values = plane[brain] if brain is not None and brain.any() else plane[plane != 0]
    if values.size == 0:
        return np.zeros(plane.shape, dtype=np.uint8)
    lo, hi = np.percentile(values, [1, 99])
    if hi <= lo:
        hi = lo + 1.0
    return np.rint(np.clip((plane - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)


def overlay_rgb(plane: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Return an (X, Y, 3) uint8 overlay of a Grad-CAM map (X, Y in [0, 1]) on a slice.

    The map is blended with weight ``alpha * cam`` so weak saliency leaves the anatomy visible.
    """
    grey = window(plane, plane != 0).astype(np.float32)
    colour = _LUT[np.rint(np.clip(cam, 0, 1) * 255).astype(np.uint8)].astype(np.float32)
    w = (alpha * np.clip(cam, 0, 1))[..., None]
    rgb = grey[..., None] * (1 - w) + colour * w
    return np.rint(rgb).astype(np.uint8)


def write_overlay_png(plane: np.ndarray, cam: np.ndarray, path: str | os.PathLike) -> Path:
    """Write the Grad-CAM overlay of one slice as a PNG (display orientation); return the path."""
    from PIL import Image

    rgb = display_orientation(overlay_rgb(plane, cam))
    bar = _colour_bar(rgb.shape[0])
    image = np.concatenate([rgb, np.zeros((rgb.shape[0], 4, 3), np.uint8), bar], axis=1)
    Image.fromarray(np.ascontiguousarray(image)).save(path, format="PNG", compress_level=1)
    return Path(path)


def _colour_bar(height: int, width: int = 10) -> np.ndarray:
    """Return a vertical colour bar (high saliency at the top)."""
    ramp = _LUT[np.linspace(255, 0, height).astype(np.uint8)]
    return np.repeat(ramp[:, None, :], width, axis=1)


def heatmap_volume(
    slice_maps: np.ndarray, indices: Sequence[int], shape: Sequence[int]
) -> np.ndarray:
    """Return a uint8 (X, Y, Z) volume with ``slice_maps`` (X, Y, N) × 255 at ``indices``, else 0.

    ValueError when the maps do not fit the volume's in-plane shape or the indices.
    """
    if slice_maps.shape[:2] != tuple(shape[:2]) or slice_maps.shape[2] != len(indices):
        raise ValueError(f"maps {slice_maps.shape} do not fit {tuple(shape)} / {len(indices)}")
    vol = np.zeros(tuple(shape), dtype=np.uint8)
    vol[:, :, list(indices)] = np.rint(np.clip(slice_maps, 0, 1) * 255).astype(np.uint8)
    return vol


def write_nifti_fast(data: np.ndarray, affine: np.ndarray, path: str | os.PathLike) -> Path:
    """Write ``data`` as a .nii.gz with gzip level 1 (fast), qform/sform = ``affine``; return path.

    The data type is kept (uint8 for masks and heatmaps). The caller handles atomic renames.
    """
    import nibabel as nib

    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    with open(path, "wb") as fh:
        fh.write(gzip.compress(img.to_bytes(), compresslevel=1))
    return Path(path)
