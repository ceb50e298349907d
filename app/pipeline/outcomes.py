"""How an analysis ended: the one set of outcomes (pure Python; the web tier imports it).

Only a confident glioma gets a subtype (``Outcome.SUBTYPE``). Every other outcome ends the
analysis early with a message the user can act on; its class and probabilities are None.
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
