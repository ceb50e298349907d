"""The whole per-case analysis (load → slice → classify → explain → save) and its batch CLI.

``analyse_case(paths, out_dir, classifier, progress)`` is what the worker and ``flask
predict`` run. Artefacts are written into a temporary folder beside ``out_dir`` and moved in only
when all of them exist (summary.json last), so a crash leaves no half-written result.
``python -m app.pipeline.analysis DIR... --model models/glioma-demo`` prints one JSON line per case
folder. This module does not import TensorFlow itself; the Classifier passed in does.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.pipeline import artefacts as art
from app.pipeline.errors import InvalidInputError
from app.pipeline.sequences import SEQUENCES, sequence_from_filename

log = logging.getLogger(__name__)

STAGES: tuple[str, ...] = (
    "loading", "locating tumour slice", "classifying", "explaining", "saving",
)
"""Stage names reported through ``progress``, in order (the web UI shows them)."""

_STAGE_PERCENT = {"loading": 5, "locating tumour slice": 25, "classifying": 45,
                  "explaining": 65, "saving": 85}

Progress = Callable[[str, int], None]


def analyse_case(
    paths: dict[str, Path],
    out_dir: str | os.PathLike,
    classifier: Any,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Analyse one case and return the summary dict (also written as ``out_dir``/summary.json).

    ``paths`` maps each sequence to its NIfTI file; ``classifier`` is a loaded
    ``classifier.Classifier``; ``progress(stage, percent)`` is called at the start of each of
    STAGES and with ("saving", 100) at the end. Timings per stage (seconds) are in the summary.
    Raises InvalidInputError when the data are refused; nothing is written into ``out_dir`` then,
    nor on any other failure.
    """
    from app.pipeline.case_loader import load_case
    from app.pipeline.saliency import (
        HEATMAP_RANGE,
        heatmap_volume,
        maps_to_slices,
        write_nifti_fast,
    )
    from app.pipeline.slice_finder import find_slice

    card = classifier.card
    timings: dict[str, float] = {}
    report = progress or (lambda stage, pct: None)
    t_start = time.perf_counter()

    def stage(name: str) -> float:
        report(name, _STAGE_PERCENT[name])
        return time.perf_counter()

    t = stage("loading")
    case = load_case(paths)
    timings["load"] = time.perf_counter() - t

    t = stage("locating tumour slice")
    found = find_slice(card.slice_method, case.flair, case.voxel_size, **card.slice_params)
    timings["slice"] = time.perf_counter() - t

    t = stage("classifying")
    prepared = classifier.prepare(case, found)
    t_in = time.perf_counter()
    timings["input"] = t_in - t
    result = classifier.classify_prepared(prepared, found)
    timings["predict"] = time.perf_counter() - t_in

    t = stage("explaining")
    cams = classifier.gradcam(prepared.batch, result["class_index"])
    brain = prepared.slabs["flair"] != 0 if prepared.slabs is not None else None
    slice_maps = maps_to_slices(cams, prepared.geometry, brain)  # (X, Y, N)
    timings["gradcam"] = time.perf_counter() - t

    t = stage("saving")
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        row = prepared.centre_row
        if prepared.slabs is not None:
            centre_planes = {s: prepared.slabs[s][:, :, row] for s in SEQUENCES}
        else:
            centre_planes = {s: case.axial_slices(s, [prepared.centre])[:, :, 0] for s in SEQUENCES}
        art.write_figures(centre_planes, found.mask[:, :, prepared.centre],
                          slice_maps[:, :, row], tmp)
        art.write_mask_nifti(found.mask, case.affine, tmp / art.MASK_NIFTI)
        volume = heatmap_volume(slice_maps, prepared.indices, case.shape)
        write_nifti_fast(volume, case.affine, tmp / art.HEATMAP_NIFTI, HEATMAP_RANGE)
        timings["artefacts"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t_start
        summary = build_summary(result, found, card, timings)
        art.write_summary(summary, tmp / art.SUMMARY_JSON)
        _move_into(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report("saving", 100)
    return summary


def build_summary(
    result: dict[str, Any], found: Any, card: Any, timings: dict[str, float]
) -> dict[str, Any]:
    """Return the summary dict (keys of ``artefacts.SUMMARY_KEYS`` plus ``message``)."""
    return {
        "class": result["class"],
        "class_name": result["class_name"],
        "grade_group": result["grade_group"],
        "probabilities": result["probabilities"],
        "uncertainty": result["uncertainty"],
        "low_confidence": result["low_confidence"],
        "no_lesion_found": result["no_lesion_found"],
        "message": result["message"],
        "slice_index": result["slice_index"],
        "slice_method": card.slice_method,
        "candidate_volume_ml": round(float(found.volume_ml), 2),
        "model": card.summary_block(),
        "timings": {k: round(v, 4) for k, v in timings.items()},
        "artefacts": dict(art.ARTEFACT_KEYS),
    }


def _move_into(tmp: Path, out: Path) -> None:
    """Move every artefact from ``tmp`` into ``out`` (summary.json last, each by os.replace)."""
    out.mkdir(parents=True, exist_ok=True)
    for name in art.ARTEFACTS:
        if name != art.SUMMARY_JSON:
            os.replace(tmp / name, out / name)
    os.replace(tmp / art.SUMMARY_JSON, out / art.SUMMARY_JSON)


# --------------------------------------------------------------------------- batch use


def case_paths(case_dir: str | os.PathLike) -> dict[str, Path]:
    """Return {sequence: path} of the NIfTI files in a case folder (by their name suffixes).

    InvalidInputError (naming the sequence) when a sequence is missing or appears twice.
    """
    found: dict[str, Path] = {}
    for path in sorted(Path(case_dir).iterdir()):
        seq = sequence_from_filename(path.name)
        if seq is None:
            continue
        if seq in found:
            raise InvalidInputError(f"two files for {seq} in {case_dir}", seq)
        found[seq] = path
    for seq in SEQUENCES:
        if seq not in found:
            raise InvalidInputError(f"no {seq} file (…_{seq}.nii.gz) in {case_dir}", seq)
    return found


def predict_dirs(
    dirs: Iterable[str | os.PathLike],
    classifier: Any,
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
                summary = analyse_case(paths, Path(out_root) / name, classifier)
            else:
                with tempfile.TemporaryDirectory() as scratch:
                    summary = analyse_case(paths, Path(scratch) / name, classifier)
            yield {"case": str(case_dir), **summary}
        except (InvalidInputError, FileNotFoundError, NotADirectoryError) as exc:
            yield {"case": str(case_dir), "error": str(exc)}


def build_parser() -> argparse.ArgumentParser:
    """Return the batch predict command's argument parser (shared with ``flask predict``)."""
    p = argparse.ArgumentParser(
        prog="python -m app.pipeline.analysis",
        description="Classify case folders (…_flair/_t1/_t1ce/_t2.nii.gz); one JSON line per case.",
    )
    p.add_argument("dirs", nargs="+", type=Path, help="case folders")
    p.add_argument("--model", type=Path, default=Path("models/glioma-demo"), help="model folder")
    p.add_argument("--out", type=Path, help="write artefacts to OUT/<case folder name>/")
    return p


def run_from_args(args: argparse.Namespace, stream: Any = None) -> int:
    """Run batch prediction for parsed arguments, writing JSON lines; return 0 (1 if any failed)."""
    from app.pipeline.classifier import Classifier

    stream = stream or sys.stdout
    classifier = Classifier.load(args.model)
    classifier.warm_up()
    status = 0
    for row in predict_dirs(args.dirs, classifier, args.out):
        status |= int("error" in row)
        stream.write(json.dumps(row, default=_json_default) + "\n")
        stream.flush()
    return status


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    logging.basicConfig(level=logging.WARNING)
    return run_from_args(build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
