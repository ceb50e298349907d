"""Errors the pipeline raises because of the user's data (never for our own bugs)."""

from __future__ import annotations


class InvalidInputError(ValueError):
    """The user's data cannot be analysed; ``str(exc)`` is a plain-language message for a clinician.

    ``sequence`` names the slot at fault ("flair", "t1", "t1ce", "t2") or is None when the case as a
    whole is at fault.
    """

    def __init__(self, message: str, sequence: str | None = None) -> None:
        super().__init__(message)
        self.sequence = sequence
