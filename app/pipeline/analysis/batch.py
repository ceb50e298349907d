"""Batch use of the analysis: case folders in, one result dict per case out (``flask model
predict``)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from app.pipeline.analysis.runner import analyse_case
from app.pipeline.errors import InvalidInputError
from app.pipeline.io.naming import SEQUENCE_LABELS, SEQUENCES, sequence_from_filename
from app.pipeline.models.registry import ModelSet


def case_paths(case_dir: str | os.PathLike) -> dict[str, Path]:
    """Return {sequence: path} of the NIfTI files in a case folder (by ``io.naming`` rules).

    Segmentations and unrecognised files are ignored. InvalidInputError (naming the sequence)
    when a sequence is missing or appears twice.
    """
    found: dict[str, Path] = {}
    for path in sorted(Path(case_dir).iterdir()):
        seq = sequence_from_filename(path.name)
        if seq is None:
            continue
        if seq in found:
            raise InvalidInputError(
                f"two {SEQUENCE_LABELS[seq]} files in {case_dir}: {found[seq].name}, {path.name}",
                seq,
            )
        found[seq] = path
    for seq in SEQUENCES:
        if seq not in found:
            raise InvalidInputError(
                f"no {SEQUENCE_LABELS[seq]} file (e.g. …_{seq}.nii.gz) in {case_dir}", seq
            )
    return found


def predict_dirs(
    dirs: Iterable[str | os.PathLike],
    models: ModelSet,
    out_root: str | os.PathLike | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield one result dict per case folder: {"case": dir, ...summary} or {"case", "error"}.

    Artefacts go to ``out_root``/<folder name>/ when given, else to a temporary folder that is
    removed. Refused cases yield an ``error`` message instead of raising.
    """
    for case_dir in dirs:
        name = Path(case_dir).name
        try:
            paths = case_paths(case_dir)
            if out_root is not None:
                summary = analyse_case(paths, Path(out_root) / name, models)
            else:
                with tempfile.TemporaryDirectory() as scratch:
                    summary = analyse_case(paths, Path(scratch) / name, models)
            yield {"case": str(case_dir), **summary}
        except (InvalidInputError, FileNotFoundError, NotADirectoryError) as exc:
            yield {"case": str(case_dir), "error": str(exc)}


def json_default(value: Any) -> Any:
    """Return a numpy scalar as a Python number (for ``json.dumps``); TypeError otherwise."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
