"""Case artefacts written next to the case files (see docs/architecture.md)."""

from __future__ import annotations

MONTAGE_PNG = "montage.png"
GRADCAM_PNG = "gradcam.png"
MASK_NIFTI = "candidate_mask.nii.gz"
HEATMAP_NIFTI = "heatmap.nii.gz"
SUMMARY_JSON = "summary.json"

ARTEFACTS: tuple[str, ...] = (MONTAGE_PNG, GRADCAM_PNG, MASK_NIFTI, HEATMAP_NIFTI, SUMMARY_JSON)
