"""The case summary (summary.json): one function builds it, for the worker and for tests.

Keys (docs/architecture.md): class, class_name, grade_group, probabilities, uncertainty,
low_confidence, no_lesion_found, message, slice_index, slice_method, candidate_volume_ml, model,
models, outcome, timings, artefacts, plus any keys later stages add. When the analysis ended
early, class, class_name, grade_group, probabilities and uncertainty are None and ``message`` is
the reason. Light imports only (no TensorFlow, no imaging libraries): the web tier's tests build
their fixtures with :func:`build_summary`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.pipeline.outcomes import EARLY_OUTCOMES, Outcome
from app.pipeline.render.artefacts import ARTEFACT_KEYS


def build_summary(
    *,
    cards: Mapping[str, Any],
    timings: Mapping[str, float],
    subtype: Any = None,
    lesion: Mapping[str, Any] | None = None,
    outcome: str = Outcome.SUBTYPE,
    message: str | None = None,
    artefacts: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the summary dict of one analysis.

    ``cards`` {task: ModelCard}; ``timings`` seconds per stage plus "total"; ``subtype`` a
    SubtypeResult (required when ``outcome`` is "subtype", ignored otherwise); ``lesion`` the
    lesion stage's keys (slice_method, slice_index, candidate_volume_ml, no_lesion_found);
    ``message`` the early end's reason; ``artefacts`` {key: file name} (default: all of
    ARTEFACT_KEYS); ``extra`` keys added by other stages. ValueError for an unknown outcome, a
    subtype outcome without a result, or ``extra`` keys that clash with the fixed ones.
    """
    lesion = dict(lesion or {})
    subtype_card = cards.get("subtype")
    summary: dict[str, Any] = {
        "outcome": str(outcome),
        "class": None,
        "class_name": None,
        "grade_group": None,
        "probabilities": None,
        "uncertainty": None,
        "low_confidence": None,
        "no_lesion_found": lesion.get("no_lesion_found"),
        "message": message,
        "slice_index": lesion.get("slice_index"),
        "slice_method": lesion.get("slice_method"),
        "candidate_volume_ml": lesion.get("candidate_volume_ml"),
        "model": subtype_card.summary_block() if subtype_card is not None else None,
        "models": {task: card.summary_block() for task, card in cards.items()},
        "timings": {k: round(float(v), 4) for k, v in timings.items()},
        "artefacts": dict(ARTEFACT_KEYS if artefacts is None else artefacts),
    }
    if outcome == Outcome.SUBTYPE:
        if subtype is None:
            raise ValueError("a subtype outcome needs the subtype result")
        summary.update(
            {
                "class": subtype.label,
                "class_name": subtype.class_name,
                "grade_group": subtype.grade_group,
                "probabilities": dict(subtype.probabilities),
                "uncertainty": subtype.uncertainty(),
                "low_confidence": subtype.low_confidence,
                "no_lesion_found": subtype.no_lesion_found,
                "message": subtype.message,
                "slice_index": subtype.slice_index,
            }
        )
    elif outcome not in EARLY_OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    clash = sorted(set(extra or {}) & set(summary))
    if clash:
        raise ValueError(f"stage summary keys {clash} clash with the fixed summary keys")
    summary.update(extra or {})
    return summary
