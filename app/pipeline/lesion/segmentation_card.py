"""The segmentation model's card: labels, input layout, normalisation, provenance and metrics.

Inference (``app.pipeline.lesion.segmentation``) takes every preprocessing setting from this card
and nowhere else. Importable without TensorFlow, so the web tier can show which model segmented a
case. Unknown keys are refused so a typo in a hand-edited card shows up at load time.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from app.pipeline.io.naming import SEQUENCES
from app.pipeline.models.card import BaseCard

SEGMENTATION_TASK = "segmentation"

BRATS_LABELS: dict[str, str] = {
    "0": "background",
    "1": "necrotic / non-enhancing tumour core",
    "2": "peritumoural oedema",
    "4": "enhancing tumour",
}
"""BraTS label values of the output map and their meanings."""

BRATS_REGIONS: dict[str, list[int]] = {"WT": [1, 2, 4], "TC": [1, 4], "ET": [4]}
"""Whole tumour, tumour core and enhancing tumour: the labels each region unites."""


class SegmentationCard(BaseCard):
    """Everything segmentation inference needs to know about a model, plus provenance.

    ``input`` holds the layout: ``target_voxel_mm`` (the in-plane and through-plane resolution the
    network runs at; the case is block-averaged by an integer factor per axis to get close to it),
    ``context_slices`` (axial neighbours on each side fed as extra channels), ``pad_multiple``
    (the brain's bounding box at the network resolution is padded to a multiple of this).
    ``output_labels`` maps the network's softmax channels to BraTS label values. Its summary block
    also names the task.
    """

    KIND: ClassVar[str] = "segmentation"
    SUMMARY_KEYS: ClassVar[tuple[str, ...]] = (
        "name", "task", "version", "weights_sha256", "demo", "training_data"
    )

    task: Literal["segmentation"] = SEGMENTATION_TASK
    changelog: dict[str, str] = Field(default_factory=dict)
    sequences: list[str] = Field(default_factory=lambda: list(SEQUENCES))
    labels: dict[str, str] = Field(default_factory=lambda: dict(BRATS_LABELS))
    regions: dict[str, list[int]] = Field(default_factory=lambda: dict(BRATS_REGIONS))
    output_labels: list[int] = Field(default_factory=lambda: [0, 1, 2, 4])
    input: dict[str, Any] = Field(
        default_factory=lambda: {
            "layout": "axial-2.5d",
            "target_voxel_mm": 2.0,
            "context_slices": 1,
            "pad_multiple": 8,
            "crop": "brain bounding box",
        }
    )
    normalisation: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {s: {"method": "robust-z", "clip": 5.0} for s in SEQUENCES}
    )
    architecture: dict[str, Any] = Field(
        default_factory=lambda: {"type": "unet2d", "base_filters": 12, "levels": 4}
    )
    postprocessing: dict[str, Any] = Field(
        default_factory=lambda: {
            "upsample": "linear probabilities", "min_component_voxels": 0, "min_enhancing_ml": 0.0
        }
    )
    weights_file: str = "weights.f16.npz"
    weights_format: str = "npz written by classifier.save_weights_f16 (float32 prefixes listed)"
    float32_prefixes: list[str] = Field(default_factory=list)
    frameworks: dict[str, str] = Field(default_factory=dict)
    seeds: dict[str, int] = Field(default_factory=dict)
    justification: str = ""
    schema_version: int = Field(default=1, alias="schema")

    # ------------------------------------------------------------------ derived values
    @property
    def in_channels(self) -> int:
        """Return the network's input channels: sequences × (2 · context_slices + 1)."""
        return len(self.sequences) * (2 * int(self.input["context_slices"]) + 1)

    # ------------------------------------------------------------------ validation
    @model_validator(mode="after")
    def _consistent(self) -> SegmentationCard:
        if self.sequences != list(SEQUENCES):
            raise ValueError(f"sequences must be {list(SEQUENCES)}, got {self.sequences}")
        if sorted(self.output_labels) != [0, 1, 2, 4]:
            raise ValueError(f"output_labels must be BraTS 0, 1, 2, 4, got {self.output_labels}")
        if self.input.get("layout") != "axial-2.5d":
            raise ValueError(f"unknown input layout {self.input.get('layout')!r}")
        target = float(self.input.get("target_voxel_mm", 0))
        if not 0.5 <= target <= 4.0:
            raise ValueError(f"target_voxel_mm {target} out of range 0.5..4")
        if not 0 <= int(self.input.get("context_slices", -1)) <= 3:
            raise ValueError("context_slices must be within 0..3")
        if int(self.input.get("pad_multiple", 0)) < 1:
            raise ValueError("pad_multiple must be at least 1")
        for seq in SEQUENCES:
            method = self.normalisation.get(seq, {}).get("method")
            if method not in ("robust-z", "minmax", "none"):
                raise ValueError(f"normalisation of {seq}: unknown method {method!r}")
        if self.architecture.get("type") != "unet2d":
            raise ValueError(f"unknown architecture {self.architecture.get('type')!r}")
        levels = int(self.architecture.get("levels", 0))
        if not 2 <= levels <= 6:
            raise ValueError("architecture levels must be within 2..6")
        if int(self.input["pad_multiple"]) % 2 ** (levels - 1):
            raise ValueError(f"pad_multiple must be a multiple of {2 ** (levels - 1)}")
        return self
