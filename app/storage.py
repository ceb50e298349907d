"""Where case files live: one storage root, paths chosen by the server, never by the client."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from flask import current_app

CASES_DIR = "cases"
STAGING_DIR = "staging"
SCANS_DIR = "scans"
RESULTS_DIR = "results"


def storage_root() -> Path:
    """Return the configured storage root (STORAGE_DIR), creating it if needed."""
    root = Path(current_app.config["STORAGE_DIR"]).resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


def case_dir(case_id: str) -> Path:
    """Return the folder of one case; refuses (ValueError) an id that is not plain hex."""
    if not case_id or not all(c in "0123456789abcdef" for c in case_id):
        raise ValueError("invalid case id")
    return storage_root() / CASES_DIR / case_id


def results_dir(case_id: str) -> Path:
    """Return the folder where the worker writes a case's artefacts."""
    return case_dir(case_id) / RESULTS_DIR


def new_staging_dir() -> Path:
    """Return a fresh, empty folder for an upload in progress (same filesystem as the cases)."""
    path = storage_root() / STAGING_DIR / uuid.uuid4().hex
    path.mkdir(parents=True)
    return path


def promote_staging_dir(staging: Path, case_id: str) -> Path:
    """Move a finished upload's staging folder into place as the case's scans folder.

    Returns the scans folder. A rename on one filesystem is atomic: a case either has all its
    files or none.
    """
    target = case_dir(case_id)
    target.mkdir(parents=True, exist_ok=False)
    scans = target / SCANS_DIR
    staging.rename(scans)
    return scans


def absolute_path(relative: str) -> Path:
    """Return the absolute path of a stored file; refuses (ValueError) paths leaving the root."""
    root = storage_root()
    path = (root / relative).resolve()
    if root not in path.parents:
        raise ValueError("path outside storage root")
    return path


def remove_tree(path: Path) -> None:
    """Delete a folder and everything in it; a folder that is already gone is fine."""
    if path.exists():
        shutil.rmtree(path)


def delete_case_files(case_id: str) -> None:
    """Delete a case's scans and artefacts from storage."""
    remove_tree(case_dir(case_id))
