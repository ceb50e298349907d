"""The recovery sweep: the database, not the broker, guarantees that no case is lost.

Run by every worker at start and then periodically (app/worker/signals.py). It
- re-queues cases left `running` by a worker that is gone (heartbeat older than the hard time
  limit plus a grace period, or held by this very worker node before it restarted) through
  `requeue`, which fails them once their attempts are spent, so a case that kills its worker
  cannot loop forever;
- re-sends `queued` cases that never reached the broker (it was down at upload) or whose message
  was lost (the SQLite transport has no visibility timeout: a message taken by a worker that is
  then SIGKILLed is gone);
- purges consumed rows from the SQLite broker, which keeps them forever.
Every write is a conditional UPDATE, so concurrent sweeps on several workers are harmless.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import create_engine, or_, select, text

from app.extensions import db
from app.models import Case, CaseStatus
from app.models.base import utcnow
from app.worker.queueing import enqueue_case
from app.worker.state import Requeue, requeue

log = logging.getLogger(__name__)

HEARTBEAT_GRACE = timedelta(seconds=60)
RESEND_QUEUED_AFTER = timedelta(minutes=10)


@dataclass
class SweepReport:
    """What one sweep did."""

    requeued: int = 0
    failed: int = 0
    resent: int = 0
    purged: int = 0


def requeue_lost_cases(worker: str | None = None, booted_at: datetime | None = None,
                       now: datetime | None = None) -> tuple[int, int]:
    """Re-queue (or fail, once their attempts are spent) running cases whose worker is gone.

    A case is lost when its heartbeat is older than the hard time limit plus a grace period, or
    when `worker` held it and started it before `booted_at` (that worker has since restarted).
    Returns (re-queued, failed).
    """
    now = now or utcnow()
    stale_after = timedelta(seconds=int(current_app.config["TASK_HARD_TIME_LIMIT"]))
    stale_after += HEARTBEAT_GRACE
    condition = Case.heartbeat_at < now - stale_after
    if worker is not None and booted_at is not None:
        condition = or_(condition, (Case.worker == worker) & (Case.started_at < booted_at))
    lost = db.session.execute(
        select(Case.id, Case.worker).where(Case.status == CaseStatus.RUNNING.value, condition)
    ).all()
    requeued = failed = 0
    for case_id, held_by in lost:
        outcome = requeue(case_id, from_worker=held_by)
        if outcome is Requeue.QUEUED:
            log.warning("case %s: worker %s is gone, case re-queued", case_id, held_by)
            requeued += 1
        elif outcome is Requeue.GAVE_UP:
            log.warning("case %s: worker %s is gone, attempts spent, case failed",
                        case_id, held_by)
            failed += 1
    return requeued, failed


def resend_unsent_cases(now: datetime | None = None) -> int:
    """Send queued cases that have no message on the broker (or an old one); returns how many."""
    now = now or utcnow()
    cases = db.session.scalars(
        select(Case).where(
            Case.status == CaseStatus.QUEUED.value,
            or_(Case.enqueued_at.is_(None), Case.enqueued_at < now - RESEND_QUEUED_AFTER),
        )
    ).all()
    sent = 0
    for case in cases:
        if enqueue_case(case):
            sent += 1
        db.session.commit()
    return sent


def purge_consumed_broker_rows() -> int:
    """Delete consumed messages from a SQLite/SQLAlchemy broker; returns how many (0 for Redis)."""
    broker = current_app.extensions["celery"].conf.broker_url or ""
    if not broker.startswith("sqla+"):
        return 0
    engine = create_engine(broker.removeprefix("sqla+"))
    try:
        with engine.begin() as conn:
            exists = conn.execute(text(
                "SELECT name FROM sqlite_master WHERE type='table' AND name='kombu_message'"
            )).first() if engine.dialect.name == "sqlite" else True
            if not exists:
                return 0
            return conn.execute(text("DELETE FROM kombu_message WHERE visible = :no"),
                                {"no": False}).rowcount or 0
    finally:
        engine.dispose()


def sweep(worker: str | None = None, booted_at: datetime | None = None) -> SweepReport:
    """Run every recovery step once and return what it did."""
    report = SweepReport()
    report.requeued, report.failed = requeue_lost_cases(worker, booted_at)
    report.resent = resend_unsent_cases()
    report.purged = purge_consumed_broker_rows()
    if report.requeued or report.failed or report.resent or report.purged:
        log.info("recovery sweep: %s", report)
    return report
