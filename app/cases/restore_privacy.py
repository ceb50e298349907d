"""De-identify the scans already in storage (files stored before upload-time de-identification).

Each stored scan is streamed through :func:`app.cases.deidentify.deidentify_nifti` (the one
de-identification step) into a temporary file beside it. When the result differs from the stored
file, it replaces it atomically (``os.replace``) and the scan's row gets the new SHA-256 and size;
a file that was already de-identified comes out byte for byte the same and is left alone, so
running it twice changes nothing. A file that is missing or that the step refuses is reported and
left as it is; the others go on.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from app.audit import audit
from app.cases.deidentify import deidentify_nifti
from app.extensions import db
from app.models import Scan
from app.pipeline.errors import InvalidInputError
from app.storage import absolute_path


@dataclass
class PrivacyReport:
    """What :func:`deidentify_stored_scans` did: counts and one line per problem."""

    checked: int = 0
    rewritten: int = 0
    problems: list[str] = field(default_factory=list)


def deidentify_stored_scans(
    *, dry_run: bool = False, progress: Callable[[str], None] | None = None
) -> PrivacyReport:
    """De-identify every stored scan in place; return a PrivacyReport.

    With ``dry_run`` nothing is replaced: the report counts the files that would be. Commits the
    rows it changes (one commit per file, after its replacement) and records one audit event.
    """
    report = PrivacyReport()
    scans = db.session.scalars(select(Scan).order_by(Scan.case_id, Scan.sequence)).all()
    for scan in scans:
        report.checked += 1
        try:
            path = absolute_path(scan.stored_path)
        except ValueError as exc:
            report.problems.append(f"case {scan.case_id} {scan.sequence}: {exc}")
            continue
        if not path.is_file():
            report.problems.append(f"case {scan.case_id} {scan.sequence}: file missing ({path})")
            continue
        temp = path.with_name(f".{path.name}.deid")
        try:
            with path.open("rb") as source:
                stored = deidentify_nifti(source, temp, scan.sequence)
        except InvalidInputError as exc:
            report.problems.append(f"case {scan.case_id} {scan.sequence}: refused: {exc}")
            continue
        if stored.sha256 == scan.sha256 and stored.size_bytes == path.stat().st_size:
            temp.unlink(missing_ok=True)
            continue
        report.rewritten += 1
        if dry_run:
            temp.unlink(missing_ok=True)
            continue
        os.replace(temp, path)
        scan.sha256, scan.size_bytes = stored.sha256, stored.size_bytes
        db.session.commit()
        if progress:
            progress(f"case {scan.case_id} {scan.sequence}: de-identified")
    if not dry_run:
        audit("stored_scans_deidentified",
              detail=f"{report.rewritten} of {report.checked} rewritten, "
                     f"{len(report.problems)} problem(s)")
        db.session.commit()
    return report
