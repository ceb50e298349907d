"""The four MRI sequences of a case and the file-name conventions that name them (one source).

``SEQUENCES`` is the channel order used everywhere. :data:`NAMING_TABLE` lists, per sequence, the
name tokens that identify it in a file name, after a separator (``_ - .`` or a space) or at the
start of the name, directly before ``.nii`` / ``.nii.gz``, case-insensitive:

- BraTS 2018-21: ``CASE_flair``, ``CASE_t1``, ``CASE_t1ce``, ``CASE_t2``
- BraTS 2023: ``CASE-t2f``, ``CASE-t1n``, ``CASE-t1c``, ``CASE-t2w``
- common exports: ``flair``, ``T2_FLAIR``, ``T1``, ``T1Gd``, ``T1C``, ``T1post``, ``T1_contrast``,
  ``T2w`` ...

``CASE_seg`` / ``CASE-seg`` are segmentations (:func:`is_segmentation_file`), never a sequence.
Pure Python: the web tier imports this module (and renders :func:`naming_table` for upload.js).
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

SEQUENCES: tuple[str, ...] = ("flair", "t1", "t1ce", "t2")
SEQUENCE_LABELS: dict[str, str] = {"flair": "FLAIR", "t1": "T1", "t1ce": "T1ce", "t2": "T2"}

NAMING_TABLE: dict[str, tuple[str, ...]] = {
    "flair": ("flair", "t2_flair", "t2-flair", "t2flair", "t2f"),
    "t1": ("t1", "t1n", "t1w", "t1_native", "t1-native", "t1pre", "t1_pre", "t1-pre"),
    "t1ce": (
        "t1ce", "t1c", "t1gd", "t1post", "t1_post", "t1-post", "t1_contrast", "t1-contrast",
        "t1_gd", "t1-gd", "t1_ce", "t1-ce",
    ),
    "t2": ("t2", "t2w"),
}
"""Per sequence, the name tokens (lower case) that identify it; ``_`` and ``-`` are equivalent."""

SEGMENTATION_TOKENS: tuple[str, ...] = ("seg",)
"""Tokens that mark a segmentation file (``CASE_seg.nii.gz``): recognised and ignored."""

SEPARATORS = "_-. "
EXTENSIONS: tuple[str, ...] = (".nii", ".nii.gz")


def _token_pattern(token: str) -> str:
    # "_" and "-" inside a token are interchangeable (T2_FLAIR, T2-FLAIR, T1_contrast ...).
    return "".join("[_-]" if ch in "_-" else re.escape(ch) for ch in token)


def _compile(tokens: tuple[str, ...]) -> re.Pattern[str]:
    # Longest tokens first so "t1ce" is tried before "t1".
    ordered = sorted(tokens, key=len, reverse=True)
    alternatives = "|".join(_token_pattern(t) for t in ordered)
    return re.compile(rf"(?:^|[{re.escape(SEPARATORS)}])(?:{alternatives})\.nii(?:\.gz)?$",
                      re.IGNORECASE)


_PATTERNS: dict[str, re.Pattern[str]] = {seq: _compile(NAMING_TABLE[seq]) for seq in SEQUENCES}
_SEGMENTATION = _compile(SEGMENTATION_TOKENS)
_ANY = _compile(tuple(t for seq in SEQUENCES for t in NAMING_TABLE[seq]) + SEGMENTATION_TOKENS)


def sequence_from_filename(name: str | PurePath) -> str | None:
    """Return the sequence ("flair", "t1", "t1ce", "t2") a file name names, or None.

    Directories in ``name`` are ignored. ``CASE_flair.nii.gz``, ``CASE-t2f.nii.gz``,
    ``T1Gd.nii`` and ``T2_FLAIR.nii.gz`` are recognised (see the module docstring); a
    segmentation (``CASE_seg.nii.gz``), another extension or an unknown token gives None. Never
    raises.
    """
    base = PurePath(str(name)).name
    if _SEGMENTATION.search(base):
        return None
    matches = [(m.start(), seq) for seq, pat in _PATTERNS.items() if (m := pat.search(base))]
    if not matches:
        return None
    # The match that starts earliest covers the longest token ("T2_FLAIR" is FLAIR, not T2).
    return min(matches)[1]


def is_segmentation_file(name: str | PurePath) -> bool:
    """Return True when a file name marks a segmentation (``CASE_seg.nii.gz``, ``x-seg.nii``)."""
    return bool(_SEGMENTATION.search(PurePath(str(name)).name))


def case_stem(name: str | PurePath) -> str:
    """Return a file name without its sequence / segmentation token and extension.

    ``BraTS_001_flair.nii.gz`` gives "BraTS_001"; a bare ``flair.nii.gz`` gives "". A name that no
    convention recognises is returned without its extension.
    """
    base = PurePath(str(name)).name
    match = _ANY.search(base)
    if match:
        return base[: match.start()]
    for ext in sorted(EXTENSIONS, key=len, reverse=True):
        if base.lower().endswith(ext):
            return base[: -len(ext)]
    return base


def naming_table() -> dict[str, Any]:
    """Return the naming conventions as a JSON-able dict (for the upload page's script).

    Keys: ``sequences`` (order), ``labels`` {sequence: label}, ``tokens`` {sequence: [token]},
    ``segmentation_tokens``, ``separators``, ``extensions``. Tokens are lower case; matching is
    case-insensitive, ``_`` and ``-`` inside a token are interchangeable, and a token must follow a
    separator (or start the name) and precede the extension.
    """
    return {
        "sequences": list(SEQUENCES),
        "labels": dict(SEQUENCE_LABELS),
        "tokens": {seq: list(NAMING_TABLE[seq]) for seq in SEQUENCES},
        "segmentation_tokens": list(SEGMENTATION_TOKENS),
        "separators": SEPARATORS,
        "extensions": list(EXTENSIONS),
    }
