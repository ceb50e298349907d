"""The case state machine: claim, progress, finish, fail, requeue, and the one attempt cap.

    queued ──claim──▶ running ──finish──▶ done | needs_review (the user must act)
      ▲                  │  └───fail────▶ failed
      └────requeue───────┘                  │
      └────requeue(fresh_start) ◀───────────┘ (a user's re-run, also from done)

Each write is one short transaction with a conditional UPDATE, so two workers (or a worker and
the recovery sweep) can never both own a case, and a re-run leaves exactly one current
prediction. `attempts` counts claims; `may_try_again` is the only place the cap is compared.
"""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import and_, delete, or_, select, update

from app.extensions import db
from app.models import Case, CaseStatus, Prediction
from app.models.base import utcnow
from app.models.case import FINISHED_STATUSES, FailureKind
from app.pipeline.outcomes import Outcome
from app.worker.queueing import enqueue_case

MAX_ATTEMPTS = 3


def may_try_again(attempts: int) -> bool:
    """Return whether a case already claimed `attempts` times may be claimed once more."""
    return attempts < MAX_ATTEMPTS


def gave_up_message(attempts: int) -> str:
    """Return the message shown on a case failed because its attempts are spent."""
    return (f"The analysis was attempted {attempts} times without finishing (the worker stopped, "
            "ran out of time or memory, or the database was unavailable) and was given up. "
            "Re-run the case; if it happens again, contact your administrator.")


class Claim(enum.Enum):
    """What `claim_case` did."""

    WON = "won"
    SKIPPED = "skipped"  # done, failed, running on another worker, or deleted
    GAVE_UP = "gave up"  # its attempts were spent: the case is now failed


def claim_case(case_id: str, worker: str) -> Claim:
    """Mark a queued case as running on `worker` and commit; return what happened.

    A case already `running` on the same worker node is claimed again: that worker's pool child
    died and the broker redelivered the message. A case whose attempts are spent is failed with
    `gave_up_message` instead of being claimed.
    """
    claimable = or_(
        Case.status == CaseStatus.QUEUED.value,
        and_(Case.status == CaseStatus.RUNNING.value, Case.worker == worker),
    )
    attempts = db.session.scalar(select(Case.attempts).where(Case.id == case_id, claimable))
    if attempts is None:
        db.session.rollback()
        return Claim.SKIPPED
    if not may_try_again(attempts):
        fail_case(case_id, gave_up_message(attempts), FailureKind.INTERNAL)
        return Claim.GAVE_UP
    now = utcnow()
    result = db.session.execute(
        update(Case)
        .where(Case.id == case_id, claimable, Case.attempts == attempts)
        .values(
            status=CaseStatus.RUNNING.value, worker=worker, started_at=now, heartbeat_at=now,
            stage="loading", percent=1, attempts=attempts + 1, error_message=None,
        )
    )
    db.session.commit()
    return Claim.WON if result.rowcount == 1 else Claim.SKIPPED


def report_progress(case_id: str, stage: str, percent: int) -> None:
    """Record the stage and percent of a running case (and refresh its heartbeat); commits."""
    db.session.execute(
        update(Case)
        .where(Case.id == case_id, Case.status == CaseStatus.RUNNING.value)
        .values(stage=stage, percent=max(0, min(99, int(percent))), heartbeat_at=utcnow())
    )
    db.session.commit()


def finish_case(case_id: str, summary: dict[str, Any]) -> None:
    """Replace the case's prediction with `summary` and mark it finished, in one transaction.

    The case becomes `needs_review` when the analysis stopped for the user to act (its outcome
    says so), `done` otherwise; class, probabilities and slice are empty without a subtype.
    """
    model = summary.get("model") or {}
    outcome = str(summary.get("outcome") or Outcome.SUBTYPE)
    status = CaseStatus.NEEDS_REVIEW if outcome == Outcome.NEEDS_REVIEW else CaseStatus.DONE
    slice_index = summary.get("slice_index")
    probabilities = summary.get("probabilities")
    db.session.execute(delete(Prediction).where(Prediction.case_id == case_id))
    db.session.add(
        Prediction(
            case_id=case_id,
            model_name=str(model.get("name", "")),
            model_version=str(model.get("version", "")),
            weights_sha256=str(model.get("weights_sha256", "")),
            outcome=outcome,
            predicted_class=summary.get("class"),
            probabilities=probabilities,
            top_probability=max(probabilities.values()) if probabilities else None,
            low_confidence=bool(summary.get("low_confidence", False)),
            slice_index=None if slice_index is None else int(slice_index),
            candidate_volume_ml=summary.get("candidate_volume_ml"),
            extra=summary,
            timings=summary.get("timings", {}),
        )
    )
    db.session.execute(
        update(Case)
        .where(Case.id == case_id)
        .values(status=status.value, stage=status.value, percent=100, finished_at=utcnow(),
                error_message=None, failure_kind=None)
    )
    db.session.commit()


def fail_case(case_id: str, message: str, kind: FailureKind) -> None:
    """Mark the case failed with a message for the user and the kind of failure; commits.

    `kind` decides what the page offers: REFUSED input is uploaded again, an INTERNAL failure
    is re-run.
    """
    db.session.execute(
        update(Case)
        .where(Case.id == case_id)
        .values(status=CaseStatus.FAILED.value, stage="failed", error_message=message[:2000],
                failure_kind=FailureKind(kind).value, finished_at=utcnow())
    )
    db.session.commit()


def fail_running_case(case_id: str, message: str) -> bool:
    """Mark the case failed with `message` if it is still running; commits.

    Returns whether it did: a case that finished, was re-queued or deleted meanwhile is left as
    it is (a conditional UPDATE, like every other transition here).
    """
    result = db.session.execute(
        update(Case)
        .where(Case.id == case_id, Case.status == CaseStatus.RUNNING.value)
        .values(status=CaseStatus.FAILED.value, stage="failed", error_message=message[:2000],
                finished_at=utcnow())
    )
    db.session.commit()
    return result.rowcount == 1


def hard_limit_message(limit_s: int) -> str:
    """Return the message shown on a case whose worker child was killed at the hard limit."""
    return (f"The analysis exceeded the hard time limit of {limit_s} s and was stopped. "
            "Re-run the case when the system is less busy, or contact your administrator.")


class Requeue(enum.Enum):
    """What `requeue` did."""

    QUEUED = "queued"
    GAVE_UP = "gave up"  # its attempts were spent: the case is now failed
    UNCHANGED = "unchanged"  # not in a state this requeue applies to (or gone)


def requeue(case_id: str, *, fresh_start: bool = False, from_worker: str | None = None,
            send: bool = True) -> Requeue:
    """Put a case back in the queue, the one way to do it; commits and returns what it did.

    - `fresh_start=True` (a user's re-run, or the answer to a sequence review): only a finished
      case (done, needs review or failed); its attempts start again from zero.
    - otherwise (a transient error, a lost worker): only a running case, held by `from_worker`
      when given; a case whose attempts are spent is failed with `gave_up_message` instead.
    With `send`, the case id is sent to the broker (`enqueue_case`; when the broker is down the
    recovery sweep sends it later). Without, the caller's own message stands (Celery's retry).
    """
    if fresh_start:
        condition = Case.status.in_(FINISHED_STATUSES)
    else:
        condition = Case.status == CaseStatus.RUNNING.value
        if from_worker is not None:
            condition = and_(condition, Case.worker == from_worker)
    case = db.session.scalars(select(Case).where(Case.id == case_id, condition)).one_or_none()
    if case is None:
        db.session.rollback()
        return Requeue.UNCHANGED
    if not fresh_start and not may_try_again(case.attempts):
        fail_case(case_id, gave_up_message(case.attempts), FailureKind.INTERNAL)
        return Requeue.GAVE_UP
    values: dict[str, Any] = {
        "status": CaseStatus.QUEUED.value, "stage": "queued", "percent": 0, "worker": None,
        "error_message": None, "failure_kind": None, "enqueued_at": None if send else utcnow(),
    }
    if fresh_start:
        values["attempts"] = 0
    result = db.session.execute(
        update(Case)
        .where(Case.id == case_id, condition, Case.attempts == case.attempts)
        .values(**values)
    )
    if result.rowcount != 1:  # claimed, finished or re-queued by someone else meanwhile
        db.session.rollback()
        return Requeue.UNCHANGED
    if send:
        db.session.refresh(case)
        enqueue_case(case)
    db.session.commit()
    return Requeue.QUEUED
