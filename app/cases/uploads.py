"""Store an upload of four sequences as a new case: all files or nothing."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from app import storage
from app.extensions import db
from app.models import Case, CaseStatus, Scan
from app.models.case import PSEUDONYM_MAX_LENGTH, PSEUDONYM_PATTERN
from app.pipeline.errors import InvalidInputError
from app.pipeline.io.naming import SEQUENCE_LABELS, SEQUENCES
from app.pipeline.io.nifti import VolumeInfo, check_same_grid, inspect_nifti

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"


class UploadError(ValueError):
    """A problem with the uploaded files; `field` names the form slot at fault (or None)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


_PSEUDONYM = re.compile(PSEUDONYM_PATTERN)


def clean_pseudonym(raw: str | None) -> str | None:
    """Return the pseudonym stripped of outer spaces, or None when it is empty.

    The one rule for a pseudonym (upload page, API, `store_upload`): at most
    PSEUDONYM_MAX_LENGTH letters, digits, underscores, spaces, dots and dashes. Refuses anything
    else with UploadError naming the field "pseudonym".
    """
    value = (raw or "").strip()
    if len(value) > PSEUDONYM_MAX_LENGTH:
        raise UploadError(
            f"The pseudonym is longer than {PSEUDONYM_MAX_LENGTH} characters.", "pseudonym"
        )
    if not _PSEUDONYM.fullmatch(value):
        raise UploadError("The pseudonym may hold only letters, digits, underscores, spaces, "
                          "dots and dashes.", "pseudonym")
    return value or None


def missing_file_message(sequence: str) -> str:
    """Return what to tell the sender when the file of `sequence` is missing."""
    return f"Send the {SEQUENCE_LABELS[sequence]} image as the file field '{sequence}'."


class UploadedFile:
    """What the upload needs from a file: its client name and a readable binary stream."""

    def __init__(self, filename: str, stream: BinaryIO) -> None:
        self.filename = filename
        self.stream = stream


def _stream_to_disk(source: BinaryIO, target: Path) -> tuple[str, int, bytes]:
    """Copy `source` to `target` in chunks; return (sha256 hex, size in bytes, first 2 bytes)."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    with target.open("wb") as out:
        while chunk := source.read(CHUNK):
            if size == 0:
                head = chunk[:2]
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return digest.hexdigest(), size, head


def _store_one(sequence: str, upload: UploadedFile, staging: Path) -> tuple[Path, str, int]:
    label = SEQUENCE_LABELS[sequence]
    raw = staging / f"{sequence}.upload"
    sha256, size, head = _stream_to_disk(upload.stream, raw)
    if size == 0:
        raise UploadError(f"{label}: the file is empty.", sequence)
    # The stored name is ours; the extension follows the content, not the client's name.
    final = staging / (f"{sequence}.nii.gz" if head == GZIP_MAGIC else f"{sequence}.nii")
    raw.rename(final)
    return final, sha256, size


def store_upload(
    files: Mapping[str, UploadedFile], owner_id: int, pseudonym: str | None = None
) -> Case:
    """Validate and store four sequences as a new queued case; return the committed case.

    Refuses (UploadError naming the field) a bad pseudonym (`clean_pseudonym`), a missing or
    empty file, content that is not a 3D NIfTI image within limits, and files that do not share
    one voxel grid. On any refusal or failure nothing is kept: no database row, no file on disk.
    """
    pseudonym = clean_pseudonym(pseudonym)
    for sequence in SEQUENCES:
        if sequence not in files or not files[sequence].filename:
            raise UploadError(missing_file_message(sequence), sequence)
    staging = storage.new_staging_dir()
    case_id: str | None = None
    try:
        stored: dict[str, tuple[Path, str, int]] = {}
        infos: dict[str, VolumeInfo] = {}
        for sequence in SEQUENCES:
            stored[sequence] = _store_one(sequence, files[sequence], staging)
            try:
                infos[sequence] = inspect_nifti(stored[sequence][0], sequence)
            except InvalidInputError as exc:
                raise UploadError(str(exc), sequence) from exc
        try:
            check_same_grid(infos)
        except InvalidInputError as exc:
            raise UploadError(str(exc), exc.sequence) from exc

        case = Case(owner_id=owner_id, pseudonym=pseudonym, status=CaseStatus.QUEUED)
        db.session.add(case)
        db.session.flush()  # assigns the id
        case_id = case.id
        scans_dir = storage.promote_staging_dir(staging, case.id)
        root = storage.storage_root()
        for sequence in SEQUENCES:
            path, sha256, size = stored[sequence]
            info = infos[sequence]
            case.scans.append(
                Scan(
                    sequence=sequence,
                    stored_path=str((scans_dir / path.name).relative_to(root)),
                    original_filename=Path(files[sequence].filename).name[:255],
                    sha256=sha256,
                    shape=list(info.shape),
                    voxel_size=[float(v) for v in info.voxel_size],
                    dtype=info.dtype,
                    size_bytes=size,
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
