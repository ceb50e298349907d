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
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from app.pipeline.classes import CLASSES
from app.pipeline.io.naming import SEQUENCES

CARD_FILE = "card.json"
"""File name of the card inside a model directory."""

CARD_SCHEMA = 2
"""Version of the card format (2 added ``task``)."""

TASKS: tuple[str, ...] = ("sequence", "segmentation", "tumour-type", "subtype")
"""What a model can do; a card names one (its ``task``); the configuration maps tasks to models."""

NORMALISATION_METHODS: tuple[str, ...] = ("robust-z", "minmax", "none")

DEMO_NOTICE = (
    "Trained on synthetic phantoms only, for demonstration; not for clinical use. "
    "Train on real labelled data (e.g. CPM-RadPath) with `flask model train` before any "
    "research use."
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
    """A model card is missing, unreadable or inconsistent (a deployment problem, not user data).

    ``problems`` is the message without the card's location (for re-raising with a path).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.problems = message


def _card_error(exc: ValidationError, where: str = "model card", kind: str = "model") -> CardError:
    """Return a CardError listing each problem of a pydantic ValidationError on one line.

    Unknown keys (top level or nested, as dotted paths) are named together in one problem.
    """
    problems = []
    unknown = []
    for err in exc.errors():
        field_path = ".".join(str(p) for p in err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            unknown.append(field_path)
        elif err["type"] == "missing":
            problems.append(f"{field_path}: required but missing")
        else:
            problems.append(f"{field_path}: {message}" if field_path else message)
    if unknown:
        problems.insert(0, f"unknown {kind} card keys: {sorted(unknown)}")
    error = CardError(f"{where}: " + "; ".join(problems))
    error.problems = "; ".join(problems)
    return error


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


class BaseCard(BaseModel):
    """What every model card shares: identity, weights, provenance, and reading / writing card.json.

    Each task's card (``ModelCard`` for the subtype classifier, ``SequenceCard``,
    ``TumourTypeCard``, ``SegmentationCard``) extends it with its own validated fields and
    defaults. Validated by pydantic when built or loaded; unknown keys are refused, so a typo in a
    hand-edited card shows up at load time; any problem raises CardError. ``KIND`` names the card
    in those messages; ``SUMMARY_KEYS`` are the fields of :meth:`summary_block`, in order.
    ``training_data`` is a phrase describing the data; ``demo`` marks a demonstration model.
    """

    model_config = ConfigDict(extra="forbid")

    KIND: ClassVar[str] = "model"
    SUMMARY_KEYS: ClassVar[tuple[str, ...]] = (
        "name", "version", "weights_sha256", "demo", "training_data"
    )

    task: str
    name: str = Field(min_length=1)
    version: str = "1.0"
    weights_file: str = "weights.npz"
    weights_format: str = ""
    weights_sha256: str = ""
    training_data: str = ""
    training: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    demo: bool = True
    intended_use: str = ""
    date: str = Field(default_factory=_today)

    def __init__(self, **data: Any) -> None:
        """Build and validate a card; CardError (listing every problem) when it is inconsistent."""
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _card_error(exc, kind=self.KIND) from None

    def __setattr__(self, name: str, value: Any) -> None:
        """Assign a field (validated where the card validates assignments); CardError if refused."""
        try:
            super().__setattr__(name, value)
        except ValidationError as exc:
            raise _card_error(exc, kind=self.KIND) from None

    def summary_block(self) -> dict[str, Any]:
        """Return the ``model`` block of a case summary (name, version, sha256, demo, data)."""
        return {key: getattr(self, key) for key in self.SUMMARY_KEYS}

    # ------------------------------------------------------------------ IO
    def to_dict(self) -> dict[str, Any]:
        """Return the card as a JSON-ready dict (the keys of card.json)."""
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "model card") -> Self:
        """Return a validated card from a dict; CardError naming every problem (unknown keys)."""
        try:
            return cls(**data)
        except CardError as exc:
            raise CardError(f"{where}: {exc.problems}") from None

    def validate(self) -> None:  # type: ignore[override]
        """Check the card again (nested dicts can be edited in place); CardError, else None."""
        type(self).from_dict(self.to_dict())

    @classmethod
    def load(cls, model_dir: str | os.PathLike) -> Self:
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
        return cls.from_dict(data, where=str(path))

    def save(self, model_dir: str | os.PathLike) -> Path:
        """Write card.json into ``model_dir`` atomically (temp file + rename); return its path.

        The card is validated again first (CardError), since nested dicts can be edited in place.
        """
        data = self.to_dict()
        type(self).from_dict(data)
        out = Path(model_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / CARD_FILE
        tmp = path.with_name(f".{CARD_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
        os.replace(tmp, path)
        return path

    def weights_path(self, model_dir: str | os.PathLike) -> Path:
        """Return the path of the weights file named by the card."""
        return Path(model_dir) / self.weights_file

    def verify_weights(self, model_dir: str | os.PathLike) -> None:
        """Raise CardError when the weights file is missing or its sha256 differs from the card."""
        verify_file(self.weights_path(model_dir), self.weights_sha256, "weights file")


class Calibration(BaseModel):
    """The subtype card's ``calibration`` block: temperature scaling fitted on validation data.

    ``temperature`` T > 0 divides the logits before the softmax at inference. ``fitted_on``
    records the data it was fitted on ({seed, n, data}); ``ece_before`` / ``ece_after`` are that
    set's expected calibration error (case level) with T = 1 and with T.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    temperature: float = Field(gt=0)
    fitted_on: dict[str, Any] = Field(default_factory=dict)
    ece_before: float | None = Field(default=None, ge=0, le=1)
    ece_after: float | None = Field(default=None, ge=0, le=1)


class ModelCard(BaseCard):
    """Everything inference needs to know about a model, plus its provenance and metrics.

    Validated by pydantic when built, loaded or assigned to (unknown keys are refused); any
    problem raises CardError. ``task`` says what the model does (one of TASKS; "subtype" for
    the A/O/G classifier). ``normalisation`` maps each sequence to ``{"method": "robust-z" |
    "minmax" | "none", ...}``; ``slice_params`` are the keyword arguments of
    ``slice_finder.find_slice``; ``uncertainty_k`` neighbours on each side of the max-tumour
    slice are classified with it (2 -> 5 slices). ``architecture`` is "resnet50" (built by
    ``subtype.build_model``) or "keras-json" (an imported model whose Keras 3 JSON lies beside
    the weights as ``model_json``). ``training_data`` is a phrase without a final full stop
    (pages add their own punctuation). ``calibration`` (a :class:`Calibration`, absent on cards
    written before it existed) holds the temperature applied to the logits at inference;
    :attr:`temperature` is 1 without it. ``low_confidence_method`` says how the
    ``low_confidence`` thresholds were chosen ("" for the old fixed defaults).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    classes: list[str] = Field(default_factory=lambda: list(CLASSES))
    sequences: list[str] = Field(default_factory=lambda: list(SEQUENCES))
    layout: str = "channels4"
    image_size: int = Field(default=96, ge=16, le=1024)
    channels: int = Field(default=4, ge=1)
    normalisation: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {s: {"method": "robust-z", "clip": 5.0} for s in SEQUENCES}
    )
    crop: dict[str, Any] = Field(
        default_factory=lambda: {"method": "brain-square", "margin_mm": 2.0}
    )
    slice_method: Literal["robust", "seed"] = "robust"
    slice_params: dict[str, float] = Field(default_factory=dict)
    uncertainty_k: int = Field(default=2, ge=0, le=10)
    low_confidence: dict[str, float] = Field(
        default_factory=lambda: {"margin": 0.2, "agreement": 0.6}
    )
    low_confidence_method: str = ""
    calibration: Calibration | None = None
    architecture: Literal["resnet50", "keras-json"] = "resnet50"
    dropout: float = Field(default=0.3, ge=0.0, lt=1.0)
    # ResNet50's last block is 3x3 at 96 px and does not follow the tumour (docs/model.md).
    gradcam_layer: str = "conv3_block4_out"
    weights_file: str = "weights.f16.npz"
    weights_format: str = "npz: float16 kernels (float32: stem, conv2_x, conv3_x, 1-D arrays)"
    model_json: str | None = None
    demo: bool = False
    layout_rationale: str = ""
    float16_max_abs_prob_diff: float | None = None
    schema_version: int = Field(default=CARD_SCHEMA, alias="schema")

    # ------------------------------------------------------------------ field rules
    @field_validator("task")
    @classmethod
    def _task_known(cls, value: str) -> str:
        if value not in TASKS:
            raise ValueError(f"unknown task {value!r}; expected one of {TASKS}")
        return value

    @field_validator("layout")
    @classmethod
    def _layout_known(cls, value: str) -> str:
        if value not in LAYOUT_RATIONALES:
            raise ValueError(f"unknown input layout {value!r}; expected one of "
                             f"{tuple(LAYOUT_RATIONALES)}")
        return value

    @field_validator("classes")
    @classmethod
    def _classes_known(cls, value: list[str]) -> list[str]:
        if len(value) < 2 or len(set(value)) != len(value):
            raise ValueError(f"classes must be distinct and at least two, got {value}")
        unknown = set(value) - set(CLASSES)
        if unknown:
            raise ValueError(f"unknown classes {sorted(unknown)}; expected a subset of {CLASSES}")
        return value

    @field_validator("sequences")
    @classmethod
    def _sequences_fixed(cls, value: list[str]) -> list[str]:
        if value != list(SEQUENCES):
            raise ValueError(f"sequences must be {list(SEQUENCES)}, got {value}")
        return value

    @field_validator("normalisation")
    @classmethod
    def _normalisation_known(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for seq in SEQUENCES:
            method = value.get(seq, {}).get("method")
            if method not in NORMALISATION_METHODS:
                raise ValueError(
                    f"normalisation of {seq}: unknown method {method!r}; "
                    f"expected one of {NORMALISATION_METHODS}"
                )
        return value

    @field_validator("training_data")
    @classmethod
    def _no_final_stop(cls, value: str) -> str:
        return value.strip().rstrip(".").rstrip()

    @model_validator(mode="after")
    def _consistent(self) -> ModelCard:
        if self.layout == "channels4" and self.channels != 4:
            raise ValueError(f"layout {self.layout} needs 4 channels, got {self.channels}")
        if self.architecture == "keras-json" and not self.model_json:
            raise ValueError("architecture keras-json needs model_json")
        return self

    # ------------------------------------------------------------------ derived values
    @property
    def n_slices(self) -> int:
        """Return how many axial slices one classification uses (2k + 1)."""
        return 2 * self.uncertainty_k + 1

    @property
    def temperature(self) -> float:
        """Return the calibration temperature applied to the logits (1.0 without calibration)."""
        return self.calibration.temperature if self.calibration else 1.0

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Return the model's input shape (S, S, C)."""
        return (self.image_size, self.image_size, self.channels)


def verify_file(path: Path, sha256: str, what: str = "file") -> None:
    """Check that ``path`` exists and, when ``sha256`` is given, matches it; returns None.

    The one check every model card uses for its weights and other files. CardError otherwise.
    """
    if not path.is_file():
        raise CardError(f"{what} {path} named by the card is missing")
    if sha256 and sha256_file(path) != sha256:
        raise CardError(f"{what} {path} does not match the card's sha256")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
