"""The model card: a JSON file beside the weights that says how to feed and read the model.

Inference takes every preprocessing setting (input layout, image size, per-sequence normalisation,
slice method and its parameters, slices used for uncertainty) from the card and nowhere else, so a
model and its preprocessing cannot drift apart. Importable without TensorFlow (the web app reads
cards to show which model produced a result).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.pipeline.classes import CLASSES
from app.pipeline.io.naming import SEQUENCES

CARD_FILE = "card.json"
"""File name of the card inside a model directory."""

CARD_SCHEMA = 1

DEMO_NOTICE = (
    "Trained on synthetic phantoms only, for demonstration; not for clinical use. "
    "Train on real labelled data (e.g. CPM-RadPath) with `flask train` before any research use."
)

LAYOUT_RATIONALES: dict[str, str] = {
    "channels4": (
        "The four sequences stay separate channels of one image, so the network sees every voxel's "
        "FLAIR/T1/T1ce/T2 signature together (the contrast patterns that separate A, O and G: ring "
        "enhancement on T1ce, T2-FLAIR mismatch, calcification). The slice is cropped to the "
        "brain's bounding square (2 mm margin) so no pixels are spent on background, and resized "
        "to {size}x{size} (about {mm:.1f} mm per pixel for an adult brain of ~165 mm), which keeps "
        "ResNet50 training and inference affordable on two shared CPU cores (training cost grows "
        "with the square of the size). Each channel is normalised by a robust z-score within the "
        "brain mask "
        "(median and IQR), so scanner gain and whole-case intensity differences drop out."
    ),
    "seed-strip": (
        "The original notebook's input: the four max-tumour slices side by side, resized to "
        "{size}x{size} and repeated to three channels. Kept only to run models trained by that "
        "notebook."
    ),
}


def layout_rationale(layout: str, image_size: int) -> str:
    """Return the card's plain-language justification of an input layout at ``image_size``."""
    return LAYOUT_RATIONALES[layout].format(size=image_size, mm=165 / image_size)


class CardError(ValueError):
    """A model card is missing, unreadable or inconsistent (a deployment problem, not user data)."""


@dataclass
class ModelCard:
    """Everything inference needs to know about a model, plus its provenance and metrics.

    ``normalisation`` maps each sequence to ``{"method": "robust-z" | "minmax" | "none", ...}``;
    ``slice_params`` are the keyword arguments of ``slice_finder.find_slice``; ``uncertainty_k``
    neighbours on each side of the max-tumour slice are classified with it (2 -> 5 slices).
    ``architecture`` is "resnet50" (built by ``classifier.build_model``) or "keras-json" (an
    imported model whose Keras 3 JSON lies beside the weights as ``model_json``).
    """

    name: str
    version: str = "1.0"
    classes: list[str] = field(default_factory=lambda: list(CLASSES))
    sequences: list[str] = field(default_factory=lambda: list(SEQUENCES))
    layout: str = "channels4"
    image_size: int = 96
    channels: int = 4
    normalisation: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {s: {"method": "robust-z", "clip": 5.0} for s in SEQUENCES}
    )
    crop: dict[str, Any] = field(
        default_factory=lambda: {"method": "brain-square", "margin_mm": 2.0}
    )
    slice_method: str = "robust"
    slice_params: dict[str, Any] = field(default_factory=dict)
    uncertainty_k: int = 2
    low_confidence: dict[str, float] = field(
        default_factory=lambda: {"margin": 0.2, "agreement": 0.6}
    )
    architecture: str = "resnet50"
    dropout: float = 0.3
    gradcam_layer: str = "conv5_block3_out"
    weights_file: str = "weights.f16.npz"
    weights_format: str = "npz: float16 kernels (float32: stem, conv2_x, conv3_x, 1-D arrays)"
    weights_sha256: str = ""
    model_json: str | None = None
    training_data: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    demo: bool = False
    intended_use: str = ""
    layout_rationale: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    float16_max_abs_prob_diff: float | None = None
    date: str = field(default_factory=lambda: datetime.now(UTC).date().isoformat())
    schema: int = CARD_SCHEMA

    # ------------------------------------------------------------------ derived values
    @property
    def n_slices(self) -> int:
        """Return how many axial slices one classification uses (2k + 1)."""
        return 2 * self.uncertainty_k + 1

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Return the model's input shape (S, S, C)."""
        return (self.image_size, self.image_size, self.channels)

    def summary_block(self) -> dict[str, Any]:
        """Return the ``model`` block of a case summary (name, version, sha256, demo, data)."""
        return {
            "name": self.name,
            "version": self.version,
            "weights_sha256": self.weights_sha256,
            "demo": self.demo,
            "training_data": self.training_data,
        }

    # ------------------------------------------------------------------ validation / IO
    def validate(self) -> None:
        """Check internal consistency; raise CardError naming the first problem (returns None)."""
        if self.layout not in LAYOUT_RATIONALES:
            raise CardError(f"unknown input layout {self.layout!r}")
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise CardError(f"classes must be distinct and at least two, got {self.classes}")
        unknown = set(self.classes) - set(CLASSES)
        if unknown:
            raise CardError(f"unknown classes {sorted(unknown)}; expected a subset of {CLASSES}")
        if self.sequences != list(SEQUENCES):
            raise CardError(f"sequences must be {list(SEQUENCES)}, got {self.sequences}")
        if not 16 <= int(self.image_size) <= 1024:
            raise CardError(f"image_size {self.image_size} out of range 16..1024")
        want_channels = 4 if self.layout == "channels4" else None
        if want_channels and self.channels != want_channels:
            raise CardError(f"layout {self.layout} needs {want_channels} channels")
        for seq in SEQUENCES:
            method = self.normalisation.get(seq, {}).get("method")
            if method not in ("robust-z", "minmax", "none"):
                raise CardError(f"normalisation of {seq}: unknown method {method!r}")
        if self.uncertainty_k < 0 or self.uncertainty_k > 10:
            raise CardError("uncertainty_k must be within 0..10")
        if self.architecture not in ("resnet50", "keras-json"):
            raise CardError(f"unknown architecture {self.architecture!r}")
        if self.architecture == "keras-json" and not self.model_json:
            raise CardError("architecture keras-json needs model_json")

    def to_dict(self) -> dict[str, Any]:
        """Return the card as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        """Return a card from a dict; unknown keys are refused (CardError) so typos show up."""
        known = {f.name for f in fields(cls)}
        extra = set(data) - known
        if extra:
            raise CardError(f"unknown model card keys: {sorted(extra)}")
        if "name" not in data:
            raise CardError("model card has no name")
        card = cls(**data)
        card.validate()
        return card

    @classmethod
    def load(cls, model_dir: str | os.PathLike) -> ModelCard:
        """Return the card in ``model_dir`` (its card.json). CardError when missing or invalid."""
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
        path = self.weights_path(model_dir)
        if not path.is_file():
            raise CardError(f"weights file {path} named by the card is missing")
        if self.weights_sha256 and sha256_file(path) != self.weights_sha256:
            raise CardError(f"weights file {path} does not match the card's sha256")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
