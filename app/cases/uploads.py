"""Store an upload of four sequences as a new case: all files or nothing."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import BinaryIO

from app import storage
from app.cases.deidentify import StoredScan, deidentify_nifti
from app.extensions import db
from app.models import Case, CaseStatus, Scan
from app.models.case import pseudonym_problem
from app.pipeline.errors import InvalidInputError
from app.pipeline.io.naming import SEQUENCE_LABELS, SEQUENCES
from app.pipeline.io.nifti import check_same_grid

log = logging.getLogger(__name__)


class UploadError(ValueError):
    """A problem with the uploaded files; `field` names the form slot at fault (or None)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field




def clean_pseudonym(raw: str | None) -> str | None:
    """Return the pseudonym stripped of outer spaces, or None when it is empty.

    The one rule for a pseudonym (upload page, API, `store_upload`) is the Case model's
    `pseudonym_problem` (length, characters, no date of birth); a refusal is an UploadError
    naming the field "pseudonym".
    """
    value = (raw or "").strip()
    problem = pseudonym_problem(value)
    if problem:
        raise UploadError(problem, "pseudonym")
    return value or None


def missing_file_message(sequence: str) -> str:
    """Return what to tell the sender when the file of `sequence` is missing."""
    return f"Send the {SEQUENCE_LABELS[sequence]} image as the file field '{sequence}'."


class UploadedFile:
    """What the upload needs from a file: its client name and a readable binary stream.

    The client's name only tells whether a file was chosen; it is never stored (it may hold the
    patient's name): the stored name is the sequence's, e.g. ``flair.nii.gz``.
    """

    def __init__(self, filename: str, stream: BinaryIO) -> None:
        self.filename = filename
        self.stream = stream


def stored_name(sequence: str) -> str:
    """Return the server-chosen file name of a stored sequence (never the client's name)."""
    return f"{sequence}.nii.gz"


def store_upload(
    files: Mapping[str, UploadedFile], owner_id: int, pseudonym: str | None = None
) -> Case:
    """Validate, de-identify and store four sequences as a new queued case; return the case.

    Refuses (UploadError naming the field) a bad pseudonym (`clean_pseudonym`: also one holding a
    date of birth), a missing or empty file, content that is not a 3D NIfTI image within limits
    (app/cases/deidentify.py: decompression bombs, all-NaN/zero/constant content...), and files
    that do not share one voxel grid. On any refusal or failure nothing is kept: no database row,
    no file on disk.
    """
    pseudonym = clean_pseudonym(pseudonym)
    for sequence in SEQUENCES:
        if sequence not in files or not files[sequence].filename:
            raise UploadError(missing_file_message(sequence), sequence)
    staging = storage.new_staging_dir()
    case_id: str | None = None
    try:
        stored: dict[str, StoredScan] = {}
        for sequence in SEQUENCES:
            target = staging / stored_name(sequence)
            try:
                stored[sequence] = deidentify_nifti(files[sequence].stream, target, sequence)
            except InvalidInputError as exc:
                raise UploadError(str(exc), sequence) from exc
        try:
            check_same_grid({sequence: scan.info for sequence, scan in stored.items()})
        except InvalidInputError as exc:
            raise UploadError(str(exc), exc.sequence) from exc

        case = Case(owner_id=owner_id, pseudonym=pseudonym, status=CaseStatus.QUEUED)
        db.session.add(case)
        db.session.flush()  # assigns the id
        case_id = case.id
        scans_dir = storage.promote_staging_dir(staging, case.id)
        root = storage.storage_root()
        for sequence in SEQUENCES:
            scan = stored[sequence]
            case.scans.append(
                Scan(
                    sequence=sequence,
                    stored_path=str((scans_dir / scan.path.name).relative_to(root)),
                    original_filename=scan.path.name,  # the server's name, never the client's
                    sha256=scan.sha256,
                    shape=list(scan.info.shape),
                    voxel_size=[float(v) for v in scan.info.voxel_size],
                    dtype=scan.info.dtype,
                    size_bytes=scan.size_bytes,
                )
            )
        db.session.commit()
        return case
    except BaseException:
        db.session.rollback()
        storage.remove_tree(staging)
        if case_id is not None:
            storage.delete_case_files(case_id)
        raise
