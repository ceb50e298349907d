"""Grad-CAM saliency in the patient's geometry: slice maps, PNG overlay, heatmap NIfTI volume.

Grad-CAM itself runs in the compiled function of :class:`classifier.Classifier` (gradient of the
predicted class's pre-softmax score with respect to the card's ``gradcam_layer``, by default
ResNet50's ``conv3_block4_out``: the last block is 3×3 at 96 px, too coarse to follow the
tumour). This module maps the maps back onto the slice grid, colours them with a colour-blind-safe
LUT (cividis-like, built with numpy) and writes the volume for the 3D viewer. No TensorFlow import
here.
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

HEATMAP_RANGE: tuple[float, float] = (0.0, 1.0)
"""The heatmap NIfTI's values and fixed display range: 0 = no saliency, 1 = the strongest."""


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


CONVENTIONS: tuple[str, ...] = ("radiological", "neurological")
"""Display conventions of every 2D image; the first is the default (as radiologists read)."""

MIN_PANEL_PX = 384
"""Figures are scaled up (by a whole factor, nearest neighbour) to at least this many pixels."""

MARKER_RGB = (255, 255, 255)
LABEL_RGB = (255, 255, 255)


def _check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown display convention {convention!r}; use one of {CONVENTIONS}")


def display_orientation(plane: np.ndarray, convention: str = "radiological") -> np.ndarray:
    """Return an (X, Y[, ...]) canonical (RAS+) slice as a display image (rows, cols[, ...]).

    Anterior is at the top. Radiological convention puts the patient's right (high X) on the
    viewer's left; neurological puts it on the viewer's right. ValueError for another convention.
    """
    _check_convention(convention)
    shown = np.swapaxes(plane, 0, 1)[::-1]
    return shown[:, ::-1] if convention == "radiological" else shown


def side_markers(convention: str = "radiological") -> tuple[str, str]:
    """Return the (screen-left, screen-right) side markers of an axial image: ("R", "L") or
    ("L", "R"). ValueError for an unknown convention."""
    _check_convention(convention)
    return ("R", "L") if convention == "radiological" else ("L", "R")


def display_scale(shape: Sequence[int]) -> int:
    """Return the whole upscaling factor (at least 2) that makes a (rows, cols) image at least
    MIN_PANEL_PX on its longer side."""
    longest = max(int(shape[0]), int(shape[1]), 1)
    return max(2, -(-MIN_PANEL_PX // longest))


def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def annotate_panel(
    rgb: np.ndarray, label: str | None, convention: str = "radiological", scale: int | None = None
) -> np.ndarray:
    """Return a display-orientation RGB panel scaled up, with its label and orientation markers.

    The panel is enlarged ``scale`` times (default :func:`display_scale`, nearest neighbour so
    voxels stay voxels); ``label`` goes at the top left, "A"/"P" at the top and bottom centre and
    the side markers of ``convention`` at the middle of the left and right edges, in white with a
    black outline so they read on any background.
    """
    from PIL import Image, ImageDraw

    scale = scale or display_scale(rgb.shape)
    image = Image.fromarray(np.ascontiguousarray(rgb)).resize(
        (rgb.shape[1] * scale, rgb.shape[0] * scale), Image.Resampling.NEAREST
    )
    draw = ImageDraw.Draw(image)
    size = max(14, image.height // 18)
    font = _font(size)
    outline = {"stroke_width": max(2, size // 8), "stroke_fill": (0, 0, 0)}
    w, h = image.size
    pad = max(4, size // 3)
    if label:
        draw.text((pad, pad), label, fill=LABEL_RGB, font=font, anchor="la", **outline)
    left, right = side_markers(convention)
    draw.text((pad, h / 2), left, fill=MARKER_RGB, font=font, anchor="lm", **outline)
    draw.text((w - pad, h / 2), right, fill=MARKER_RGB, font=font, anchor="rm", **outline)
    small = _font(max(12, size * 3 // 4))
    draw.text((w / 2, pad), "A", fill=MARKER_RGB, font=small, anchor="ma", **outline)
    draw.text((w / 2, h - pad), "P", fill=MARKER_RGB, font=small, anchor="md", **outline)
    return np.asarray(image)


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


def gradcam_rgb(plane: np.ndarray, cam: np.ndarray, convention: str = "radiological") -> np.ndarray:
    """Return the Grad-CAM figure as (rows, cols, 3) uint8: the overlay of one (X, Y) slice in
    ``convention`` (enlarged, with orientation markers) and a labelled saliency colour bar.

    ValueError for an unknown convention.
    """
    panel = annotate_panel(display_orientation(overlay_rgb(plane, cam), convention),
                           "Grad-CAM", convention)
    bar = colour_bar_rgb(panel.shape[0])
    gap = np.zeros((panel.shape[0], 6, 3), np.uint8)
    return np.concatenate([panel, gap, bar], axis=1)


def write_overlay_png(
    plane: np.ndarray, cam: np.ndarray, path: str | os.PathLike, convention: str = "radiological"
) -> Path:
    """Write :func:`gradcam_rgb` of one slice as a PNG; return the path."""
    from PIL import Image

    image = gradcam_rgb(plane, cam, convention)
    Image.fromarray(np.ascontiguousarray(image)).save(path, format="PNG", compress_level=1)
    return Path(path)


def colour_bar_rgb(height: int) -> np.ndarray:
    """Return a (height, w, 3) uint8 labelled colour bar of the saliency LUT on black.

    The ramp runs from 1 (high saliency, top) to 0 (low, bottom), titled "Saliency" and labelled
    "1 high" and "0 low", so the figure explains its own colours.
    """
    from PIL import Image, ImageDraw

    size = max(12, height // 28)
    font = _font(size)
    title_h = size * 2
    ramp_h = max(16, height - 2 * title_h)
    ramp_w = max(12, size)
    width = ramp_w + size * 5
    image = Image.new("RGB", (width, height), (0, 0, 0))
    ramp = _LUT[np.rint(np.linspace(255, 0, ramp_h)).astype(np.uint8)]
    ramp = np.repeat(ramp[:, None, :], ramp_w, axis=1)
    image.paste(Image.fromarray(np.ascontiguousarray(ramp)), (2, title_h))
    draw = ImageDraw.Draw(image)
    draw.text((2, title_h - 4), "Saliency", fill=LABEL_RGB, font=font, anchor="ld")
    x = ramp_w + 6
    draw.text((x, title_h), "1 high", fill=LABEL_RGB, font=font, anchor="la")
    draw.text((x, title_h + ramp_h), "0 low", fill=LABEL_RGB, font=font, anchor="ld")
    return np.asarray(image)


def heatmap_volume(
    slice_maps: np.ndarray, indices: Sequence[int], shape: Sequence[int]
) -> np.ndarray:
    """Return a float32 (X, Y, Z) volume in [0, 1]: ``slice_maps`` (X, Y, N) at ``indices``, else 0.

    Saliency keeps its own scale (0 = none, 1 = the strongest) so a viewer can show it with a
    fixed colour range. ValueError when the maps do not fit the volume's in-plane shape or the
    indices.
    """
    if slice_maps.shape[:2] != tuple(shape[:2]) or slice_maps.shape[2] != len(indices):
        raise ValueError(f"maps {slice_maps.shape} do not fit {tuple(shape)} / {len(indices)}")
    vol = np.zeros(tuple(shape), dtype=np.float32)
    vol[:, :, list(indices)] = np.clip(slice_maps, 0, 1)
    return vol


def write_nifti_fast(
    data: np.ndarray,
    affine: np.ndarray,
    path: str | os.PathLike,
    display_range: tuple[float, float] | None = None,
) -> Path:
    """Write ``data`` as a .nii.gz with gzip level 1 (fast), qform/sform = ``affine``; return path.

    The data type is kept (uint8 for masks, float32 for heatmaps). ``display_range`` sets the
    header's cal_min/cal_max (the heatmap's fixed (0, 1)). The caller handles atomic renames.
    """
    import nibabel as nib

    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm")
    if display_range is not None:
        img.header["cal_min"], img.header["cal_max"] = display_range
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    with open(path, "wb") as fh:
        fh.write(gzip.compress(img.to_bytes(), compresslevel=1))
    return Path(path)
