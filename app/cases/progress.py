"""Writes of a case's state by the worker: claim, progress, success, failure, re-queue.

Each is one short transaction with a conditional UPDATE, so two workers (or a worker and the
recovery sweep) can never both own a case, and a re-run leaves exactly one current prediction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update

from app.extensions import db
from app.models import Case, CaseStatus, Prediction
from app.models.base import utcnow

MAX_ATTEMPTS = 3


def claim_case(case_id: str, worker: str) -> bool:
    """Mark a queued case as running on `worker` and commit; return whether this call won it.

    A case already `running` on the same worker node is claimed again: that worker restarted (or
    its child was killed) and the broker redelivered the message.
    """
    now = utcnow()
    result = db.session.execute(
        update(Case)
        .where(
            Case.id == case_id,
            or_(
                Case.status == CaseStatus.QUEUED.value,
                and_(Case.status == CaseStatus.RUNNING.value, Case.worker == worker),
            ),
        )
        .values(
            status=CaseStatus.RUNNING.value, worker=worker, started_at=now, heartbeat_at=now,
            stage="loading", percent=1, attempts=Case.attempts + 1, error_message=None,
        )
    )
    db.session.commit()
    return result.rowcount == 1


def report_progress(case_id: str, stage: str, percent: int) -> None:
    """Record the stage and percent of a running case (and refresh its heartbeat); commits."""
    db.session.execute(
        update(Case)
        .where(Case.id == case_id, Case.status == CaseStatus.RUNNING.value)
        .values(stage=stage, percent=max(0, min(99, int(percent))), heartbeat_at=utcnow())
    )
    db.session.commit()


def finish_case(case_id: str, summary: dict[str, Any]) -> None:
    """Replace the case's prediction with `summary` and mark it done, in one transaction."""
    model = summary.get("model", {})
    db.session.execute(delete(Prediction).where(Prediction.case_id == case_id))
    db.session.add(
        Prediction(
            case_id=case_id,
            model_name=str(model.get("name", "")),
            model_version=str(model.get("version", "")),
            weights_sha256=str(model.get("weights_sha256", "")),
            predicted_class=summary["class"],
            probabilities=summary["probabilities"],
            slice_index=int(summary["slice_index"]),
            candidate_volume_ml=summary.get("candidate_volume_ml"),
            extra=summary,
            timings=summary.get("timings", {}),
        )
    )
    db.session.execute(
        update(Case)
        .where(Case.id == case_id)
        .values(status=CaseStatus.DONE.value, stage="done", percent=100, finished_at=utcnow(),
                error_message=None)
    )
    db.session.commit()


def fail_case(case_id: str, message: str) -> None:
    """Mark the case failed with a message for the user; commits."""
    db.session.execute(
        update(Case)
        .where(Case.id == case_id)
        .values(status=CaseStatus.FAILED.value, stage="failed", error_message=message[:2000],
                finished_at=utcnow())
    )
    db.session.commit()


def release_case(case_id: str) -> None:
    """Put a running case back in the queue (after a transient error); commits."""
    db.session.execute(
        update(Case)
        .where(Case.id == case_id, Case.status == CaseStatus.RUNNING.value)
        .values(status=CaseStatus.QUEUED.value, stage="queued", percent=0, worker=None)
    )
    db.session.commit()


def stale_running_cases(now: datetime, stale_after: timedelta, worker: str | None = None
                        ) -> list[Case]:
    """Return running cases whose heartbeat is older than `stale_after` (or held by `worker`)."""
    condition = Case.heartbeat_at < now - stale_after
    if worker is not None:
        condition = or_(condition, Case.worker == worker)
    return list(db.session.scalars(
        select(Case).where(Case.status == CaseStatus.RUNNING.value, condition)
    ))
