"""The analyse task. TensorFlow is imported only inside app/worker/inference.py, in the worker."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from flask import current_app
from sqlalchemy.exc import OperationalError

from app import storage
from app.extensions import db
from app.models import Case
from app.models.case import FailureKind
from app.pipeline.errors import InvalidInputError
from app.worker.celery_app import ANALYSE_TASK
from app.worker.inference import run_analysis
from app.worker.registry import count_case
from app.worker.state import (
    MAX_ATTEMPTS,
    Claim,
    Requeue,
    claim_case,
    fail_case,
    finish_case,
    report_progress,
    requeue,
)

log = logging.getLogger(__name__)

# Transient database errors (locked, connection dropped) are retried by Celery after
# 5, 10, 20, ... s (at most 120 s, with full jitter); every retry is one more claim, so the
# attempt cap (app/worker/state.py) ends a case that keeps failing, with a clear message,
# before Celery's own `max_retries` is reached.
RETRY_SETTINGS: dict[str, Any] = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": 5,
    "retry_backoff_max": 120,
    "retry_jitter": True,
    "max_retries": MAX_ATTEMPTS,
}


class CaseLog(logging.LoggerAdapter):
    """Prefix every log line with the case id and the task id."""

    def process(self, msg: str, kwargs: Any) -> tuple[str, Any]:
        """Return the message with its case and task prefix."""
        return f"[case {self.extra['case_id']} task {self.extra['task_id']}] {msg}", kwargs


def scan_paths(case: Case) -> dict[str, Path]:
    """Return {sequence: absolute path} of a case's stored scans."""
    return {scan.sequence: storage.absolute_path(scan.stored_path) for scan in case.scans}


@shared_task(name=ANALYSE_TASK, bind=True, **RETRY_SETTINGS)
def analyse_case(self: Task, case_id: str) -> str:
    """Analyse one case by id and record the result; returns the case's final status.

    Bad input ends the case as failed with the pipeline's message (no retry); a soft time limit
    ends it as failed; a transient database error re-queues it and re-raises, for Celery to retry
    with backoff, until the attempt cap fails it. Running a case twice leaves one current
    prediction. Returns "done", "failed" or "skipped" (not claimed).
    """
    clog = CaseLog(log, {"case_id": case_id, "task_id": self.request.id})
    worker = self.request.hostname or "unknown"
    claim = claim_case(case_id, worker)
    if claim is Claim.GAVE_UP:
        clog.warning("attempts spent; case failed")
        return "failed"
    if claim is Claim.SKIPPED:
        clog.info("not claimed (already done, running elsewhere, or deleted); skipping")
        return "skipped"
    case = db.session.get(Case, case_id)
    if case is None:  # deleted between claim and load
        return "skipped"
    clog.info("started (attempt %d)", case.attempts)
    paths = scan_paths(case)
    out_dir = storage.results_dir(case_id)
    try:
        summary = run_analysis(
            paths, out_dir, lambda stage, percent: report_progress(case_id, stage, percent),
            sequences_confirmed=bool(case.sequences_confirmed),
        )
    except InvalidInputError as exc:
        clog.info("refused by the pipeline: %s", exc)
        db.session.rollback()
        fail_case(case_id, str(exc), FailureKind.REFUSED)
        return "failed"
    except SoftTimeLimitExceeded:
        limit = current_app.config["TASK_SOFT_TIME_LIMIT"]
        clog.error("soft time limit of %ss exceeded", limit)
        db.session.rollback()
        fail_case(case_id, f"The analysis took longer than the {limit} s limit and was stopped. "
                           "Re-run the case when the system is less busy, or contact your "
                           "administrator.", FailureKind.INTERNAL)
        return "failed"
    except OperationalError as exc:
        clog.warning("transient database error: %s", exc)
        db.session.rollback()
        if requeue(case_id, from_worker=worker, send=False) is Requeue.GAVE_UP:
            return "failed"
        raise  # autoretry_for: Celery retries with backoff (RETRY_SETTINGS)
    except Exception:
        clog.exception("analysis crashed")
        db.session.rollback()
        fail_case(case_id, "An internal error stopped the analysis. It has been logged "
                           f"(reference {self.request.id}); re-run the case or contact your "
                           "administrator.", FailureKind.INTERNAL)
        return "failed"
    finish_case(case_id, summary)
    count_case(worker)
    clog.info("done: outcome %s, class %s in %.2fs", summary.get("outcome"), summary["class"],
              float(summary.get("timings", {}).get("total", 0.0)))
    return "done"
