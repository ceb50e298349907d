"""What the result page, the status endpoint and the file routes show of a case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import abort

from app import storage
from app.models import Case
from app.pipeline.classes import CLASS_NAMES, CLASSES
from app.pipeline.render.artefacts import ARTEFACTS

MIMETYPES = {
    ".png": "image/png",
    ".json": "application/json",
    ".gz": "application/gzip",
    ".nii": "application/octet-stream",
}


def mimetype_for(path: Path) -> str:
    """Return the content type of a case file, by its (server-chosen) extension."""
    return MIMETYPES.get(path.suffix, "application/octet-stream")


def artefact_path(case: Case, name: str) -> tuple[Path, str]:
    """Return (path, content type) of an artefact; aborts 404 for unknown or missing files."""
    if name not in ARTEFACTS:
        abort(404)
    path = storage.results_dir(case.id) / name
    if not path.is_file():
        abort(404)
    return path, mimetype_for(path)


def scan_file(case: Case, sequence: str) -> tuple[Path, str]:
    """Return (path, content type) of one stored sequence; aborts 404 when there is none."""
    scan = case.scan_for(sequence)
    if scan is None:
        abort(404)
    path = storage.absolute_path(scan.stored_path)
    if not path.is_file():
        abort(404)
    return path, mimetype_for(path)


def result_view(case: Case) -> dict[str, Any] | None:
    """Return the finished result as a template-ready dict, or None while there is none."""
    prediction = case.prediction
    if prediction is None:
        return None
    summary = dict(prediction.extra or {})
    probabilities = prediction.probabilities or {}
    summary["bars"] = [
        {"letter": c, "name": CLASS_NAMES[c], "p": float(probabilities.get(c, 0.0))}
        for c in CLASSES
    ]
    summary.setdefault("class", prediction.predicted_class)
    summary.setdefault("class_name", CLASS_NAMES.get(prediction.predicted_class, ""))
    summary.setdefault("slice_index", prediction.slice_index)
    summary.setdefault("candidate_volume_ml", prediction.candidate_volume_ml)
    return summary
