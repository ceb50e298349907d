"""Case artefacts written next to the case files (see docs/architecture.md).

``ARTEFACTS`` is the single list of file names. Writers here produce the montage PNGs (the four
sequences at the chosen slice with the candidate contour, in each display convention), the
candidate-mask NIfTI (uint8, gzip level 1) and the summary JSON; the
Grad-CAM PNG and heatmap NIfTI writers live in ``saliency``.
Importable without TensorFlow (the web app imports ARTEFACTS and ``summary_keys``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

MONTAGE_PNG = "montage.png"
GRADCAM_PNG = "gradcam.png"
MONTAGE_NEURO_PNG = "montage_neurological.png"
GRADCAM_NEURO_PNG = "gradcam_neurological.png"
MASK_NIFTI = "candidate_mask.nii.gz"
SEGMENTATION_NIFTI = "segmentation.nii.gz"
MEASUREMENTS_JSON = "measurements.json"
MEASUREMENTS_CSV = "measurements.csv"
HEATMAP_NIFTI = "heatmap.nii.gz"
SUMMARY_JSON = "summary.json"

ARTEFACTS: tuple[str, ...] = (
    MONTAGE_PNG, GRADCAM_PNG, MONTAGE_NEURO_PNG, GRADCAM_NEURO_PNG, MASK_NIFTI,
    SEGMENTATION_NIFTI, MEASUREMENTS_JSON, MEASUREMENTS_CSV, HEATMAP_NIFTI, SUMMARY_JSON,
)

SEGMENTATION_ARTEFACTS: tuple[str, ...] = (SEGMENTATION_NIFTI, MEASUREMENTS_JSON, MEASUREMENTS_CSV)
"""Written only when a segmentation model is configured."""

FIGURES: dict[str, dict[str, str]] = {
    "radiological": {"montage": MONTAGE_PNG, "gradcam": GRADCAM_PNG},
    "neurological": {"montage": MONTAGE_NEURO_PNG, "gradcam": GRADCAM_NEURO_PNG},
}
"""The 2D figures in each display convention (saliency.CONVENTIONS): convention -> key -> file."""

ARTEFACT_KEYS: dict[str, str] = {
    "montage": MONTAGE_PNG,
    "gradcam": GRADCAM_PNG,
    "montage_neurological": MONTAGE_NEURO_PNG,
    "gradcam_neurological": GRADCAM_NEURO_PNG,
    "candidate_mask": MASK_NIFTI,
    "segmentation": SEGMENTATION_NIFTI,
    "measurements": MEASUREMENTS_JSON,
    "measurements_csv": MEASUREMENTS_CSV,
    "heatmap": HEATMAP_NIFTI,
    "summary": SUMMARY_JSON,
}
"""The summary's ``artefacts`` block: key -> file name."""

SUMMARY_KEYS: tuple[str, ...] = (
    "outcome", "class", "class_name", "grade_group", "probabilities", "uncertainty",
    "low_confidence", "no_lesion_found", "message", "slice_index", "slice_method",
    "candidate_volume_ml", "model", "models", "decided_by", "timings", "artefacts",
)
"""Keys every summary.json has (docs/architecture.md); values may be None after an early end."""

PANEL_GAP = 16
"""Black pixels between montage panels, so one panel's L marker is not read with the next's R."""

CONTOUR_RGB = (230, 159, 0)
"""Candidate contour colour: Okabe-Ito orange, distinct for all common colour-vision types."""


def contour(mask2d: np.ndarray) -> np.ndarray:
    """Return the one-voxel boundary of a 2D boolean mask (mask minus its 4-connected erosion)."""
    from scipy import ndimage

    mask2d = np.asarray(mask2d, dtype=bool)
    if not mask2d.any():
        return mask2d
    return mask2d & ~ndimage.binary_erosion(mask2d)


def montage_rgb(
    planes: dict[str, np.ndarray], mask2d: np.ndarray | None, convention: str = "radiological"
) -> np.ndarray:
    """Return the montage as (rows, cols, 3) uint8: FLAIR, T1, T1ce, T2 side by side.

    Each (X, Y) plane is windowed within the brain, shown in ``convention`` (anterior up;
    radiological: the patient's right on the left), enlarged to at least
    saliency.MIN_PANEL_PX, with the candidate contour in CONTOUR_RGB, the sequence name at the top
    left and R/L/A/P markers. ValueError when a sequence is missing or the convention is unknown.
    """
    from app.pipeline.io.naming import SEQUENCE_LABELS, SEQUENCES
    from app.pipeline.render.saliency import annotate_panel, display_orientation, window

    missing = [s for s in SEQUENCES if s not in planes]
    if missing:
        raise ValueError(f"montage needs all four sequences, missing {missing}")
    edge = contour(mask2d) if mask2d is not None else None
    panels = []
    for seq in SEQUENCES:
        grey = window(planes[seq], planes[seq] != 0)
        rgb = np.repeat(grey[..., None], 3, axis=-1)
        if edge is not None:
            rgb[edge] = CONTOUR_RGB
        panels.append(annotate_panel(display_orientation(rgb, convention), SEQUENCE_LABELS[seq],
                                     convention))
        panels.append(np.zeros((panels[-1].shape[0], PANEL_GAP, 3), np.uint8))
    return np.concatenate(panels[:-1], axis=1)


def write_figures(
    planes: dict[str, np.ndarray], mask2d: np.ndarray | None, cam2d: np.ndarray | None,
    out_dir: Path,
) -> dict[str, str]:
    """Write the montage and (when ``cam2d`` is given) the Grad-CAM figure in every display
    convention (see FIGURES) into ``out_dir``; return {artefact key: file name} of what it wrote.

    ``planes``: sequence -> (X, Y) slice; ``cam2d``: (X, Y) map in [0, 1].
    """
    from app.pipeline.render.saliency import write_overlay_png

    written: dict[str, str] = {}
    for convention, names in FIGURES.items():
        suffix = "" if convention == "radiological" else f"_{convention}"
        write_png(montage_rgb(planes, mask2d, convention), Path(out_dir) / names["montage"])
        written[f"montage{suffix}"] = names["montage"]
        if cam2d is not None:
            write_overlay_png(planes["flair"], cam2d, Path(out_dir) / names["gradcam"],
                              convention)
            written[f"gradcam{suffix}"] = names["gradcam"]
    return written


def write_png(rgb: np.ndarray, path: str | os.PathLike) -> Path:
    """Write an RGB uint8 array as PNG (fast compression); return the path."""
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(rgb)).save(path, format="PNG", compress_level=1)
    return Path(path)


def write_mask_nifti(mask: np.ndarray, affine: np.ndarray, path: str | os.PathLike) -> Path:
    """Write a boolean (X, Y, Z) mask as a uint8 NIfTI (gzip level 1, canonical affine)."""
    from app.pipeline.render.saliency import write_nifti_fast

    return write_nifti_fast(np.asarray(mask, dtype=np.uint8), affine, path)


def write_label_nifti(labels: np.ndarray, affine: np.ndarray, path: str | os.PathLike) -> Path:
    """Write a BraTS label map (values 0, 1, 2, 4) as a uint8 NIfTI; return the path."""
    from app.pipeline.render.saliency import write_nifti_fast

    return write_nifti_fast(np.asarray(labels, dtype=np.uint8), affine, path)


def write_measurements(measurements: dict[str, Any], json_path: str | os.PathLike,
                       csv_path: str | os.PathLike) -> tuple[Path, Path]:
    """Write the measurements as JSON and as a one-row CSV (flat columns); return both paths.

    The CSV flattens ``bidimensional`` into ``rano_*`` columns (empty without enhancing tumour).
    """
    import csv
    import io

    Path(json_path).write_text(json.dumps(measurements, indent=2) + "\n", "utf-8")
    flat = {k: v for k, v in measurements.items() if k != "bidimensional"}
    bi = measurements.get("bidimensional") or {}
    for key in ("slice_index", "longest_mm", "perpendicular_mm", "product_mm2"):
        flat[f"rano_{key}"] = bi.get(key, "")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(flat))
    writer.writeheader()
    writer.writerow(flat)
    Path(csv_path).write_text(buffer.getvalue(), "utf-8")
    return Path(json_path), Path(csv_path)


def write_summary(summary: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write the summary dict as JSON (UTF-8, indented); return the path.

    ValueError when a key of SUMMARY_KEYS is missing (a bug in the caller).
    """
    missing = [k for k in SUMMARY_KEYS if k not in summary]
    if missing:
        raise ValueError(f"summary lacks keys {missing}")
    Path(path).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return Path(path)
