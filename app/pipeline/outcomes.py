"""How an analysis ended: the one set of outcomes (pure Python; the web tier imports it).

Only a confident glioma gets a subtype (``Outcome.SUBTYPE``). Every other outcome ends the
analysis early with a message the user can act on; its class and probabilities are None.

``DECIDED_BY`` says which model (by its card's ``task``) may decide each outcome; the analysis
records the one that did in the summary's ``decided_by`` and refuses any other, so the result
page, the API and the report credit the model that decided, never one that did not run.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """The ``outcome`` of a case summary (stored as its string value)."""

    SUBTYPE = "subtype"
    """A subtype (A / O / G) was given."""
    NEEDS_REVIEW = "needs_review"
    """A person must confirm something first (sequences look swapped, series assignment)."""
    NO_TUMOUR = "no_tumour"
    """No tumour was found."""
    NOT_GLIOMA = "not_glioma"
    """A tumour that does not look like a glioma (meningioma, metastasis, ...)."""
    UNCERTAIN_TYPE = "uncertain_type"
    """The tumour type is too uncertain to give a glioma subtype."""
    OUT_OF_DISTRIBUTION = "out_of_distribution"
    """The scan is unlike the data the models were trained on."""


OUTCOMES: tuple[str, ...] = tuple(o.value for o in Outcome)
"""Every outcome value, in order."""

EARLY_OUTCOMES: tuple[str, ...] = tuple(o.value for o in Outcome if o is not Outcome.SUBTYPE)
"""Outcomes that end an analysis before the subtype stage."""

OUTCOME_LABELS: dict[str, str] = {
    Outcome.SUBTYPE.value: "Glioma subtype",
    Outcome.NEEDS_REVIEW.value: "Needs review",
    Outcome.NO_TUMOUR.value: "No tumour found",
    Outcome.NOT_GLIOMA.value: "Not a glioma",
    Outcome.UNCERTAIN_TYPE.value: "Tumour type uncertain",
    Outcome.OUT_OF_DISTRIBUTION.value: "Unlike the training data",
}
"""Short user-facing words for each outcome."""

DECIDED_BY: dict[str, tuple[str, ...]] = {
    Outcome.SUBTYPE.value: ("subtype",),
    Outcome.NEEDS_REVIEW.value: ("sequence",),
    # The tumour-type model may call a scan normal; a segmented whole tumour under the minimum
    # volume is "no tumour" too (the segmentation model decides then).
    Outcome.NO_TUMOUR.value: ("tumour-type", "segmentation"),
    Outcome.NOT_GLIOMA.value: ("tumour-type",),
    Outcome.UNCERTAIN_TYPE.value: ("tumour-type",),
    Outcome.OUT_OF_DISTRIBUTION.value: ("tumour-type",),
}
"""Outcome -> the model tasks (card ``task``) whose stage may decide it, the usual one first."""

MODEL_ROLES: dict[str, str] = {
    "sequence": "sequence model",
    "tumour-type": "tumour-type model",
    "segmentation": "segmentation model",
    "subtype": "subtype model (A / O / G)",
}
"""User-facing words for the model of each task (a task not listed is shown as it is)."""


def deciding_task(outcome: str, decided_by: str | None = None) -> str | None:
    """Return the task of the model that decided ``outcome``.

    ``decided_by`` is what the summary recorded; a summary written before it was recorded gets
    the outcome's only possible decider, or None when several could have decided it. ValueError
    when ``decided_by`` cannot decide ``outcome`` (or the outcome is unknown).
    """
    tasks = DECIDED_BY.get(str(outcome))
    if tasks is None:
        raise ValueError(f"unknown outcome {outcome!r}")
    if decided_by is None:
        return tasks[0] if len(tasks) == 1 else None
    if decided_by not in tasks:
        raise ValueError(f"the {decided_by!r} model cannot decide the outcome {outcome!r}; "
                         f"expected one of {tasks}")
    return decided_by
