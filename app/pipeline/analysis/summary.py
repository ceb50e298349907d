"""The case summary (summary.json): one function builds it, for the worker and for tests.

Keys (docs/architecture.md): class, class_name, grade_group, probabilities, uncertainty,
low_confidence, no_lesion_found, message, slice_index, slice_method, candidate_volume_ml, model,
models, decided_by, outcome, timings, artefacts, plus any keys later stages add. ``decided_by`` is
the task of the model that decided the outcome (``outcomes.DECIDED_BY``) and ``model`` that model's
block, so that every reader credits the model that decided, not the subtype model. When the analysis
ended early, class, class_name, grade_group, probabilities and uncertainty are None and ``message``
is the reason. Light imports only (no TensorFlow, no imaging libraries): the web tier's tests build
their fixtures with :func:`build_summary`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.pipeline.outcomes import EARLY_OUTCOMES, Outcome, deciding_task
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
    decided_by: str | None = None,
    models_run: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Return the summary dict of one analysis.

    ``cards`` {task: ModelCard}; ``timings`` seconds per stage plus "total"; ``subtype`` a
    SubtypeResult (required when ``outcome`` is "subtype", ignored otherwise); ``lesion`` the
    lesion stage's keys (slice_method, slice_index, candidate_volume_ml, no_lesion_found);
    ``message`` the early end's reason; ``artefacts`` {key: file name} (default: all of
    ARTEFACT_KEYS); ``extra`` keys added by other stages; ``decided_by`` the task of the model
    that decided the outcome (default: the outcome's only possible decider); ``models_run`` the
    tasks of the models whose stages ran (default: every card), the ``models`` block. ValueError
    for an unknown outcome, a model that cannot decide it, a subtype outcome without a result,
    or ``extra`` keys that clash with the fixed ones.
    """
    lesion = dict(lesion or {})
    task = deciding_task(str(outcome), decided_by)
    deciding_card = cards.get(task) if task is not None else None
    used = list(cards) if models_run is None else [t for t in models_run if t in cards]
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
        "model": deciding_card.summary_block() if deciding_card is not None else None,
        "models": {t: cards[t].summary_block() for t in used},
        "decided_by": task,
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
