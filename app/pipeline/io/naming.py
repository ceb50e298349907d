"""The four MRI sequences of a case, in the channel order used everywhere."""

from __future__ import annotations

import re
from pathlib import PurePath

SEQUENCES: tuple[str, ...] = ("flair", "t1", "t1ce", "t2")
SEQUENCE_LABELS: dict[str, str] = {"flair": "FLAIR", "t1": "T1", "t1ce": "T1ce", "t2": "T2"}

_SUFFIX = re.compile(r"[_-](flair|t1ce|t1|t2)\.nii(\.gz)?$", re.IGNORECASE)


def sequence_from_filename(name: str | PurePath) -> str | None:
    """Return the sequence key ("flair", "t1", "t1ce", "t2") named by a BraTS-style file name.

    ``CASE_flair.nii.gz`` gives "flair", ``CASE_t1ce.nii`` gives "t1ce"; directories in ``name`` are
    ignored. Returns None when the name carries no recognised suffix (it never raises).
    """
    match = _SUFFIX.search(PurePath(str(name)).name)
    return match.group(1).lower() if match else None


def sequence_label(sequence: str | None) -> str:
    """Return the display label of a sequence key ("t1ce" -> "T1ce"); unknown keys unchanged."""
    if sequence is None:
        return "case"
    return SEQUENCE_LABELS.get(sequence, sequence)
