"""The subtype classifier's result as a typed value, and how per-slice probabilities become one.

No TensorFlow here: tests and the web tier's fixtures build results with
:meth:`SubtypeResult.from_probabilities` from plain arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.pipeline.classes import CLASS_NAMES, CLASSES, GRADE_GROUPS

NO_LESION_MESSAGE = (
    "No lesion candidate was found on FLAIR: the class shown is the model's output for the slice "
    "with most brain and must not be relied on."
)
LOW_CONFIDENCE_MESSAGE = (
    "Low confidence: the top class is not clearly ahead of the next, or neighbouring slices "
    "disagree. Treat the class as uncertain."
)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Return softmax(logits / temperature) along the last axis (float64, rows sum to 1).

    Temperature scaling: T > 1 flattens over-confident probabilities (the card's calibrated
    temperature; 1 leaves them as the network gives them).
    """
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class SlabStatistics:
    """Mean-over-slices probabilities of one classification and how much the slices agree."""

    class_index: int
    label: str
    probabilities: dict[str, float]
    std: dict[str, float]
    entropy: float
    agreement: float
    lead: float
    low_confidence: bool


def summarise_probabilities(
    probs: np.ndarray, classes: Sequence[str], *, margin: float, agreement_min: float
) -> SlabStatistics:
    """Return the mean probabilities, their uncertainty and low_confidence from per-slice probs.

    ``probs`` is (N, K), one row per slice. Uncertainty: per-class standard deviation over the
    slices, entropy of the mean normalised to [0, 1] by log K (never -0.0), and agreement
    (fraction of slices whose own top class is the overall top class). ``low_confidence`` when the
    top mean probability leads the second by less than ``margin`` or agreement <
    ``agreement_min``. ValueError for an empty or mis-shaped array.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] == 0 or probs.shape[1] != len(classes):
        raise ValueError(f"expected (N, {len(classes)}) probabilities, got {probs.shape}")
    mean = probs.mean(axis=0)
    mean = mean / mean.sum()
    top = int(np.argmax(mean))
    ordered = np.sort(mean)[::-1]
    lead = float(ordered[0] - ordered[1]) if len(ordered) > 1 else 1.0
    nz = mean[mean > 0]
    entropy = float(-(nz * np.log(nz)).sum() / math.log(len(classes)))
    entropy = entropy if entropy > 0 else 0.0  # a one-hot mean gives -0.0
    agreement = float(np.mean(np.argmax(probs, axis=1) == top))
    return SlabStatistics(
        class_index=top,
        label=classes[top],
        probabilities={c: float(p) for c, p in zip(classes, mean, strict=True)},
        std={c: float(s) for c, s in zip(classes, probs.std(axis=0), strict=True)},
        entropy=entropy,
        agreement=agreement,
        lead=lead,
        low_confidence=bool(lead < margin or agreement < agreement_min),
    )


@dataclass(frozen=True)
class SubtypeResult:
    """One case's A/O/G classification: the class, probabilities, uncertainty and caveat.

    ``label`` is the class letter (A, O or G) and ``class_index`` its position in the model's
    output. ``probabilities`` and ``std`` have every class of CLASSES (0.0 for classes the model
    lacks). ``slices`` are the axial indices classified, ``slice_index`` the max-tumour one.
    """

    label: str
    class_index: int
    probabilities: dict[str, float]
    std: dict[str, float]
    entropy: float
    agreement: float
    slices: list[int]
    slice_index: int
    low_confidence: bool
    no_lesion_found: bool
    message: str | None
    slice_probabilities: list[list[float]]

    @property
    def class_name(self) -> str:
        """Return the class's full name ("Glioblastoma, IDH-wildtype", ...)."""
        return CLASS_NAMES[self.label]

    @property
    def grade_group(self) -> str:
        """Return the class's WHO grade group."""
        return GRADE_GROUPS[self.label]

    def uncertainty(self) -> dict[str, Any]:
        """Return the summary's ``uncertainty`` block {std, entropy, slices, agreement}."""
        return {
            "std": dict(self.std),
            "entropy": self.entropy,
            "slices": list(self.slices),
            "agreement": self.agreement,
        }

    @classmethod
    def from_probabilities(
        cls,
        probs: np.ndarray,
        classes: Sequence[str],
        slices: Sequence[int],
        slice_index: int,
        *,
        no_lesion_found: bool,
        low_confidence_limits: dict[str, float],
    ) -> SubtypeResult:
        """Return the result of per-slice probabilities (N, K) for the model's ``classes``.

        ``low_confidence_limits`` is the card's ``low_confidence`` ({margin, agreement}). When the
        slice finder found no lesion the class is still given, marked low-confidence, with a
        message not to rely on it. ValueError for mis-shaped probabilities.
        """
        stats = summarise_probabilities(
            probs, classes, margin=float(low_confidence_limits.get("margin", 0.2)),
            agreement_min=float(low_confidence_limits.get("agreement", 0.6)),
        )
        low = stats.low_confidence or no_lesion_found
        message = NO_LESION_MESSAGE if no_lesion_found else (
            LOW_CONFIDENCE_MESSAGE if low else None
        )
        return cls(
            label=stats.label,
            class_index=stats.class_index,
            probabilities={c: stats.probabilities.get(c, 0.0) for c in CLASSES},
            std={c: stats.std.get(c, 0.0) for c in CLASSES},
            entropy=stats.entropy,
            agreement=stats.agreement,
            slices=[int(i) for i in slices],
            slice_index=int(slice_index),
            low_confidence=bool(low),
            no_lesion_found=bool(no_lesion_found),
            message=message,
            slice_probabilities=np.asarray(probs, dtype=np.float64).round(6).tolist(),
        )
