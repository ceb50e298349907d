"""The user's answer to a sequence review: reassign the files as suggested, or keep them.

A case ends in `needs_review` when the sequence model is confident that the four files sit in the
wrong slots (app/pipeline/analysis/stages.py, SequenceStage). The result page and the API offer
the same two actions, both here:

- `reassign_sequences`: move each file to the sequence it looks like (the model's suggestion, or
  an assignment the user gives), renaming the stored files to their new names, then re-run from
  the start; the sequence check runs again on the new slots.
- `confirm_sequences`: keep the user's slots, mark the case `sequences_confirmed` and re-run; the
  sequence check then reports the mismatch without stopping the analysis.

Both refuse (`NotUnderReview`) a case that is not waiting for this answer, and both claim the case
first (its stage becomes `answering`; a claim older than STALE_CLAIM is taken to be left behind
and may be retaken) so that two answers sent at once cannot both act.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, update

from app import storage
from app.audit import audit
from app.extensions import db
from app.models import Case, CaseStatus
from app.models.base import utcnow
from app.pipeline.io.naming import SEQUENCE_LABELS, SEQUENCES
from app.worker.state import Requeue, requeue

log = logging.getLogger(__name__)

ANSWERING_STAGE = "answering"
"""The stage of a needs_review case while one user's answer is being carried out."""
STALE_CLAIM = timedelta(minutes=5)
"""After this long, a claim is taken to be left behind by a crashed request and may be retaken."""

REASSIGN = "reassign"
CONFIRM = "confirm"
ACTIONS = (REASSIGN, CONFIRM)
"""What a user may answer to a sequence review."""


class SequenceActionError(Exception):
    """A refused answer to a sequence review; `status` is the HTTP status that fits it."""

    status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotUnderReview(SequenceActionError):
    """The case is not waiting for the user to check its sequences (409)."""

    status = 409

    def __init__(self, case: Case) -> None:
        super().__init__(
            f"This case is not waiting for a sequence review (its status is {case.status})."
        )


class InvalidAssignment(SequenceActionError):
    """An assignment that is not a permutation of the four sequences (400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="assignment")


def _names(values: Any) -> str:
    return ", ".join(str(v) for v in values)


def validate_assignment(assignment: Any) -> dict[str, str]:
    """Return `assignment` ({slot: sequence its file is}) checked to move at least one file.

    Refuses (InvalidAssignment) anything but a mapping whose keys are exactly the four sequences
    and whose values are the four sequences, each once (lower-case keys: flair, t1, t1ce, t2),
    and the identity (it moves nothing: confirm the slots instead).
    """
    expected = _names(SEQUENCES)
    if not isinstance(assignment, Mapping):
        raise InvalidAssignment(
            f"assignment must be an object mapping each slot ({expected}) to a sequence."
        )
    keys = list(assignment)
    if sorted(map(str, keys)) != sorted(SEQUENCES):
        raise InvalidAssignment(
            f"assignment must name each slot exactly once ({expected}); "
            f"got {_names(keys) or 'none'}."
        )
    values = list(assignment.values())
    if not all(isinstance(v, str) for v in values) or sorted(values) != sorted(SEQUENCES):
        raise InvalidAssignment(
            "assignment must give each slot a different sequence, so that the four files get "
            f"the four sequences ({expected}) once each; got {_names(values)}."
        )
    if all(assignment[s] == s for s in SEQUENCES):
        raise InvalidAssignment(
            "this assignment moves no file; to keep the slots as uploaded, confirm them instead."
        )
    return {s: str(assignment[s]) for s in SEQUENCES}


def review_of(case: Case) -> dict[str, Any] | None:
    """Return the `sequences` section of the case's result, or None when it has none."""
    if case.prediction is None:
        return None
    section = (case.prediction.extra or {}).get("sequences")
    return section if isinstance(section, dict) else None


def suggested_assignment(case: Case) -> dict[str, str] | None:
    """Return the model's suggested {slot: sequence} for a case, or None when there is none."""
    section = review_of(case)
    assignment = (section or {}).get("assignment")
    return dict(assignment) if isinstance(assignment, dict) else None


def _claim(case: Case) -> None:
    """Mark the case as being answered, atomically; NotUnderReview unless it was waiting."""
    result = db.session.execute(
        update(Case)
        .where(Case.id == case.id, Case.status == CaseStatus.NEEDS_REVIEW.value,
               or_(Case.stage != ANSWERING_STAGE, Case.updated_at < utcnow() - STALE_CLAIM))
        .values(stage=ANSWERING_STAGE)
    )
    if result.rowcount != 1:
        db.session.rollback()
        db.session.refresh(case)
        raise NotUnderReview(case)
    db.session.commit()


def _release(case_id: str) -> None:
    """Give a claimed case back to its review after a failure (and commit)."""
    db.session.rollback()
    db.session.execute(
        update(Case)
        .where(Case.id == case_id, Case.stage == ANSWERING_STAGE)
        .values(stage=CaseStatus.NEEDS_REVIEW.value)
    )
    db.session.commit()


def _requeue(case_id: str) -> None:
    if requeue(case_id, fresh_start=True) is not Requeue.QUEUED:
        # Only a deleted case gets here (the claim keeps every other writer away).
        raise SequenceActionError("The case could not be queued again; reload the page.")


def _target_name(path: Path, sequence: str) -> str:
    """Return the stored name of a file that now holds `sequence` (its extension is kept)."""
    suffix = ".nii.gz" if path.name.endswith(".nii.gz") else ".nii"
    return sequence + suffix


def _move_files(moves: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
    """Rename each (source, target), through temporary names so that no file is overwritten.

    Returns the renames done, in order, for `_undo`. Refuses (FileExistsError) a target that
    is taken by a file not moved itself.
    """
    done: list[tuple[Path, Path]] = []
    sources = {src for src, _ in moves}
    try:
        for _, target in moves:
            if target.exists() and target not in sources:
                raise FileExistsError(f"{target.name} is in the way")
        staged = []
        for src, target in moves:
            temporary = src.with_name(f".{uuid.uuid4().hex}.moving")
            os.replace(src, temporary)
            done.append((src, temporary))
            staged.append((temporary, target))
        for temporary, target in staged:
            os.replace(temporary, target)
            done.append((temporary, target))
    except OSError:
        _undo(done)
        raise
    return done


def _undo(done: list[tuple[Path, Path]]) -> None:
    """Reverse the renames `done` (newest first)."""
    for src, target in reversed(done):
        os.replace(target, src)


def reassign_sequences(case: Case, user_id: int, assignment: Mapping[str, str] | None = None,
                       *, via: str | None = None) -> dict[str, str]:
    """Move the case's files to the sequences they look like and re-run it; commits.

    `assignment` ({slot: sequence its file is}; default: the model's suggestion) must be a
    permutation of the four sequences (`validate_assignment`). Each Scan row takes its new
    sequence and its file the matching stored name (`<sequence>.nii[.gz]`); the case is re-run
    from the start, not confirmed, so the sequence check looks again. Returns the assignment
    used. The audit event's detail lists the moves, after `via` (e.g. "api") when given.
    Refuses NotUnderReview (the case is not in needs_review, or another answer is being
    carried out) and InvalidAssignment (a bad assignment, or no suggestion to use).
    """
    if case.status != CaseStatus.NEEDS_REVIEW.value:
        raise NotUnderReview(case)
    if assignment is None:
        assignment = suggested_assignment(case)
        if assignment is None:
            raise InvalidAssignment("this case has no suggested assignment; give one.")
    chosen = validate_assignment(assignment)
    case_id = case.id
    _claim(case)
    done: list[tuple[Path, Path]] = []
    try:
        root = storage.storage_root()
        scans = {scan.sequence: scan for scan in case.scans}
        if sorted(scans) != sorted(SEQUENCES):
            raise SequenceActionError("This case does not hold the four sequences; upload it "
                                      "again.")
        moves, paths = [], {}
        for slot, sequence in chosen.items():
            source = storage.absolute_path(scans[slot].stored_path)
            target = source.with_name(_target_name(source, sequence))
            paths[slot] = str(target.relative_to(root))
            if slot != sequence:
                moves.append((source, target))
        done = _move_files(moves)
        # The unique (case_id, sequence) pair: park every moved row on a name no sequence has.
        for slot in chosen:
            if chosen[slot] != slot:
                scans[slot].sequence = f"~{slot}"
        db.session.flush()
        for slot, sequence in chosen.items():
            scans[slot].sequence = sequence
            scans[slot].stored_path = paths[slot]
        case.sequences_confirmed = False
        detail = ", ".join(f"{SEQUENCE_LABELS[s]} -> {SEQUENCE_LABELS[chosen[s]]}"
                           for s in SEQUENCES if chosen[s] != s)
        audit("case_sequences_reassign", user_id=user_id, case_id=case_id,
              detail=f"{via}: {detail}" if via else detail)
        db.session.commit()
    except BaseException:
        _undo(done)
        _release(case_id)
        raise
    log.info("case %s: files reassigned (%s)", case_id, detail)
    _requeue(case_id)
    return chosen


def confirm_sequences(case: Case, user_id: int, *, via: str | None = None) -> None:
    """Keep the user's slots: mark the case `sequences_confirmed` and re-run it; commits.

    The sequence check then records the mismatch (`confirmed_by_user`) and the analysis goes on.
    `via` (e.g. "api") is the audit event's detail.
    Refuses NotUnderReview when the case is not in needs_review (or is being answered).
    """
    if case.status != CaseStatus.NEEDS_REVIEW.value:
        raise NotUnderReview(case)
    case_id = case.id
    _claim(case)
    try:
        case.sequences_confirmed = True
        audit("case_sequences_confirm", user_id=user_id, case_id=case_id, detail=via)
        db.session.commit()
    except BaseException:
        _release(case_id)
        raise
    _requeue(case_id)
