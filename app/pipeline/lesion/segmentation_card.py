"""The segmentation model's card: labels, input layout, normalisation, provenance and metrics.

Inference (``app.pipeline.lesion.segmentation``) takes every preprocessing setting from this card
and nowhere else. Importable without TensorFlow, so the web tier can show which model segmented a
case. Unknown keys are refused so a typo in a hand-edited card shows up at load time.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.pipeline.io.naming import SEQUENCES
from app.pipeline.models.card import CARD_FILE, CardError, verify_file

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


@dataclass
class SegmentationCard:
    """Everything segmentation inference needs to know about a model, plus provenance.

    ``input`` holds the layout: ``target_voxel_mm`` (the in-plane and through-plane resolution the
    network runs at; the case is block-averaged by an integer factor per axis to get close to it),
    ``context_slices`` (axial neighbours on each side fed as extra channels), ``pad_multiple``
    (the brain's bounding box at the network resolution is padded to a multiple of this).
    ``output_labels`` maps the network's softmax channels to BraTS label values.
    """

    name: str
    task: str = SEGMENTATION_TASK
    version: str = "1.0"
    changelog: dict[str, str] = field(default_factory=dict)
    sequences: list[str] = field(default_factory=lambda: list(SEQUENCES))
    labels: dict[str, str] = field(default_factory=lambda: dict(BRATS_LABELS))
    regions: dict[str, list[int]] = field(default_factory=lambda: dict(BRATS_REGIONS))
    output_labels: list[int] = field(default_factory=lambda: [0, 1, 2, 4])
    input: dict[str, Any] = field(
        default_factory=lambda: {
            "layout": "axial-2.5d",
            "target_voxel_mm": 2.0,
            "context_slices": 1,
            "pad_multiple": 8,
            "crop": "brain bounding box",
        }
    )
    normalisation: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {s: {"method": "robust-z", "clip": 5.0} for s in SEQUENCES}
    )
    architecture: dict[str, Any] = field(
        default_factory=lambda: {"type": "unet2d", "base_filters": 12, "levels": 4}
    )
    postprocessing: dict[str, Any] = field(
        default_factory=lambda: {
            "upsample": "linear probabilities", "min_component_voxels": 0, "min_enhancing_ml": 0.0
        }
    )
    weights_file: str = "weights.f16.npz"
    weights_format: str = "npz written by classifier.save_weights_f16 (float32 prefixes listed)"
    float32_prefixes: list[str] = field(default_factory=list)
    weights_sha256: str = ""
    frameworks: dict[str, str] = field(default_factory=dict)
    training_data: str = ""
    seeds: dict[str, int] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    justification: str = ""
    demo: bool = True
    intended_use: str = ""
    date: str = field(default_factory=lambda: datetime.now(UTC).date().isoformat())
    schema: int = 1

    # ------------------------------------------------------------------ derived values
    @property
    def in_channels(self) -> int:
        """Return the network's input channels: sequences × (2 · context_slices + 1)."""
        return len(self.sequences) * (2 * int(self.input["context_slices"]) + 1)

    def summary_block(self) -> dict[str, Any]:
        """Return the ``model`` block of a case summary (name, version, sha256, demo, data)."""
        return {
            "name": self.name,
            "task": self.task,
            "version": self.version,
            "weights_sha256": self.weights_sha256,
            "demo": self.demo,
            "training_data": self.training_data,
        }

    # ------------------------------------------------------------------ validation / IO
    def validate(self) -> None:
        """Check internal consistency; raise CardError naming the first problem (returns None)."""
        if self.task != SEGMENTATION_TASK:
            raise CardError(f"task must be {SEGMENTATION_TASK!r}, got {self.task!r}")
        if self.sequences != list(SEQUENCES):
            raise CardError(f"sequences must be {list(SEQUENCES)}, got {self.sequences}")
        if sorted(self.output_labels) != [0, 1, 2, 4]:
            raise CardError(f"output_labels must be BraTS 0, 1, 2, 4, got {self.output_labels}")
        if self.input.get("layout") != "axial-2.5d":
            raise CardError(f"unknown input layout {self.input.get('layout')!r}")
        target = float(self.input.get("target_voxel_mm", 0))
        if not 0.5 <= target <= 4.0:
            raise CardError(f"target_voxel_mm {target} out of range 0.5..4")
        if not 0 <= int(self.input.get("context_slices", -1)) <= 3:
            raise CardError("context_slices must be within 0..3")
        if int(self.input.get("pad_multiple", 0)) < 1:
            raise CardError("pad_multiple must be at least 1")
        for seq in SEQUENCES:
            method = self.normalisation.get(seq, {}).get("method")
            if method not in ("robust-z", "minmax", "none"):
                raise CardError(f"normalisation of {seq}: unknown method {method!r}")
        if self.architecture.get("type") != "unet2d":
            raise CardError(f"unknown architecture {self.architecture.get('type')!r}")
        levels = int(self.architecture.get("levels", 0))
        if not 2 <= levels <= 6:
            raise CardError("architecture levels must be within 2..6")
        if int(self.input["pad_multiple"]) % 2 ** (levels - 1):
            raise CardError(f"pad_multiple must be a multiple of {2 ** (levels - 1)}")

    def to_dict(self) -> dict[str, Any]:
        """Return the card as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmentationCard:
        """Return a validated card from a dict; CardError for unknown keys or a bad value."""
        known = {f.name for f in fields(cls)}
        extra = set(data) - known
        if extra:
            raise CardError(f"unknown segmentation card keys: {sorted(extra)}")
        if "name" not in data:
            raise CardError("segmentation card has no name")
        card = cls(**data)
        card.validate()
        return card

    @classmethod
    def load(cls, model_dir: str | os.PathLike) -> SegmentationCard:
        """Return the card in ``model_dir`` (card.json). CardError when missing or invalid."""
        path = Path(model_dir) / CARD_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise CardError(f"no model card at {path}") from exc
        except (OSError, json.JSONDecodeError) as exc:
            raise CardError(f"unreadable model card {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise CardError(f"model card {path} is not a JSON object")
        return cls.from_dict(data)

    def save(self, model_dir: str | os.PathLike) -> Path:
        """Write card.json into ``model_dir`` atomically (temp file + rename); return its path."""
        self.validate()
        out = Path(model_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / CARD_FILE
        tmp = path.with_name(f".{CARD_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", "utf-8")
        os.replace(tmp, path)
        return path

    def weights_path(self, model_dir: str | os.PathLike) -> Path:
        """Return the path of the weights file named by the card."""
        return Path(model_dir) / self.weights_file

    def verify_weights(self, model_dir: str | os.PathLike) -> None:
        """Raise CardError when the weights file is missing or its sha256 differs from the card."""
        verify_file(self.weights_path(model_dir), self.weights_sha256, "weights file")
