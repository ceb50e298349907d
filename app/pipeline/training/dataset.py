"""Labelled CPM-RadPath-style data sets: find the cases, read the labels, extract model inputs.

A data folder holds either one subfolder per case (``CASE/CASE_flair.nii.gz``, ``CASE/T1Gd.nii``
...) or the files of every case flat (``CASE_flair.nii.gz`` ...); file names follow the
conventions of ``io.naming``. The labels CSV has the CPM-RadPath columns
``CPM_RadPath_2019_ID,class,age_in_days`` (class A, O or G). Input extraction runs the same code
as inference (load_case, locate_lesion, inputs.prepare_case) in worker processes; no
TensorFlow here.
"""

from __future__ import annotations

import csv
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.pipeline.classes import CLASSES
from app.pipeline.errors import InvalidInputError
from app.pipeline.io.naming import SEQUENCES, case_stem, sequence_from_filename
from app.pipeline.models.inputs import PreparedInput, prepare_case

log = logging.getLogger(__name__)

ID_COLUMNS = ("CPM_RadPath_2019_ID", "case_id", "id", "ID", "case")


@dataclass(eq=False)
class ExtractedCase:
    """Model input of one labelled case (``inputs.prepare_case``, without the raw slabs)."""

    case_id: str
    label: str | None
    prepared: PreparedInput
    no_lesion_found: bool

    @property
    def batch(self) -> np.ndarray:
        """Return the (N, S, S, C) float32 slab batch."""
        return self.prepared.batch


def find_cases(data_dir: str | os.PathLike) -> dict[str, dict[str, Path]]:
    """Return {case id: {sequence: path}} for every case in ``data_dir`` with all four sequences.

    Files directly in ``data_dir`` are grouped by the name before ``_flair`` / ``_t1`` ...; files
    in a subfolder belong to the case named by the subfolder. Cases missing a sequence are logged
    and left out. FileNotFoundError when ``data_dir`` is not a folder.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} not found")
    found: dict[str, dict[str, Path]] = {}
    for path in sorted(root.glob("*.nii*")) + sorted(root.glob("*/*.nii*")):
        seq = sequence_from_filename(path.name)
        if seq is None:
            continue
        cid = path.parent.name if path.parent != root else case_stem(path.name)
        found.setdefault(cid, {})[seq] = path
    complete = {}
    for cid, paths in found.items():
        if all(s in paths for s in SEQUENCES):
            complete[cid] = paths
        else:
            log.warning("case %s lacks %s; skipped", cid, [s for s in SEQUENCES if s not in paths])
    return complete


def read_labels(labels_csv: str | os.PathLike) -> dict[str, str]:
    """Return {case id: class} from a CPM-RadPath labels CSV.

    The id column is the first of ID_COLUMNS present; the class column is "class". ValueError
    when those columns are missing or a class is not one of CLASSES.
    """
    with open(labels_csv, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        id_col = next((c for c in ID_COLUMNS if c in header), None)
        if id_col is None or "class" not in header:
            raise ValueError(f"{labels_csv}: need an id column ({ID_COLUMNS[0]}) and 'class'")
        labels = {}
        for row in reader:
            cls = (row["class"] or "").strip().upper()
            if cls not in CLASSES:
                raise ValueError(f"{labels_csv}: case {row[id_col]} has unknown class {cls!r}")
            labels[row[id_col].strip()] = cls
    return labels


def labelled_cases(
    data_dir: str | os.PathLike, labels_csv: str | os.PathLike
) -> list[tuple[str, dict[str, Path], str]]:
    """Return [(case id, paths, class)] for cases that have both files and a label, sorted by id.

    ValueError when no case matches.
    """
    cases = find_cases(data_dir)
    labels = read_labels(labels_csv)
    out = [(cid, cases[cid], labels[cid]) for cid in sorted(cases) if cid in labels]
    missing = len(labels) - len(out)
    if missing:
        log.warning("%d labelled cases have no complete image set in %s", missing, data_dir)
    if not out:
        raise ValueError(f"no labelled cases found in {data_dir} for {labels_csv}")
    return out


def extract_case(
    case_id: str, paths: dict[str, Path], label: str | None, card: Any
) -> ExtractedCase:
    """Return the model inputs of one case exactly as inference builds them (per ``card``).

    Raises InvalidInputError when the case's data are refused.
    """
    from app.pipeline.io.case_loader import load_case
    from app.pipeline.lesion.slice_finder import locate_lesion

    case = load_case(paths)
    found = locate_lesion(case, card)
    prepared = prepare_case(case, card, found.index).without_slabs()
    return ExtractedCase(case_id, label, prepared, bool(found.no_lesion_found))


def _extract_job(job: tuple[str, dict[str, Path], str | None, Any]) -> ExtractedCase | str:
    cid, paths, label, card = job
    try:
        return extract_case(cid, paths, label, card)
    except InvalidInputError as exc:
        return f"{cid}: {exc}"


def extract_cases(
    items: list[tuple[str, dict[str, Path], str | None]],
    card: Any,
    *,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[ExtractedCase]:
    """Yield ExtractedCase for each (id, paths, label), in order, using ``workers`` processes.

    Cases whose data are refused are logged and skipped (never silently: a warning each).
    Worker processes are spawned (never forked) so a TensorFlow runtime in the parent is safe.
    """
    jobs = [(cid, paths, label, card) for cid, paths, label in items]
    total = len(jobs)

    def handle(i: int, res: ExtractedCase | str) -> ExtractedCase | None:
        if progress:
            progress(i + 1, total)
        if isinstance(res, str):
            log.warning("skipped %s", res)
            return None
        return res

    if workers <= 1:
        for i, job in enumerate(jobs):
            res = handle(i, _extract_job(job))
            if res is not None:
                yield res
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        for i, res in enumerate(pool.map(_extract_job, jobs, chunksize=2)):
            out = handle(i, res)
            if out is not None:
                yield out
