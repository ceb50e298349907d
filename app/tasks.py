"""Celery tasks. TensorFlow is imported only inside the task body, in the worker's child process."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from flask import current_app
from sqlalchemy.exc import OperationalError

from app import storage
from app.cases.progress import (
    MAX_ATTEMPTS,
    claim_case,
    fail_case,
    finish_case,
    release_case,
    report_progress,
)
from app.celery_app import ANALYSE_TASK
from app.extensions import db
from app.models import Case
from app.pipeline.errors import InvalidInputError
from app.workers_registry import count_case

log = logging.getLogger("app.tasks")

RETRY_BACKOFF_SECONDS = (5, 15, 45, 120)


class CaseLog(logging.LoggerAdapter):
    """Prefix every log line with the case id and the task id."""

    def process(self, msg: str, kwargs: Any) -> tuple[str, Any]:  # noqa: D102
        return f"[case {self.extra['case_id']} task {self.extra['task_id']}] {msg}", kwargs


def scan_paths(case: Case) -> dict[str, Path]:
    """Return {sequence: absolute path} of a case's stored scans."""
    return {scan.sequence: storage.absolute_path(scan.stored_path) for scan in case.scans}


def load_classifier() -> Any:
    """Return this process's subtype classifier, loading and warming it up on first use."""
    from app.pipeline.models.registry import load_models  # TensorFlow: worker processes only

    return load_models({"subtype": Path(current_app.config["MODEL_DIR"])})["subtype"]


@shared_task(name=ANALYSE_TASK, bind=True, max_retries=len(RETRY_BACKOFF_SECONDS))
def analyse_case(self: Task, case_id: str) -> str:
    """Analyse one case by id and record the result; returns the case's final status.

    Bad input ends the case as failed with the pipeline's message (no retry); a soft time limit
    ends it as failed; transient database errors re-queue it with backoff. Running a case twice
    leaves one current prediction.
    """
    clog = CaseLog(log, {"case_id": case_id, "task_id": self.request.id})
    worker = self.request.hostname or "unknown"
    if not claim_case(case_id, worker):
        clog.info("not claimed (already done, running elsewhere, or deleted); skipping")
        return "skipped"
    case = db.session.get(Case, case_id)
    if case is None:  # deleted between claim and load
        return "skipped"
    if case.attempts > MAX_ATTEMPTS:
        fail_case(case_id, f"The analysis was attempted {case.attempts - 1} times without "
                           "finishing and was given up. Re-run the case, or contact your "
                           "administrator if it happens again.")
        return "failed"
    clog.info("started (attempt %d)", case.attempts)
    paths = scan_paths(case)
    out_dir = storage.results_dir(case_id)
    try:
        from app.pipeline.analysis.runner import analyse_case as run_analysis
        from app.pipeline.models.registry import ModelSet

        models = ModelSet({"subtype": load_classifier()})
        summary = run_analysis(
            paths, out_dir, models,
            progress=lambda stage, percent: report_progress(case_id, stage, percent),
        )
    except InvalidInputError as exc:
        clog.info("refused by the pipeline: %s", exc)
        db.session.rollback()
        fail_case(case_id, str(exc))
        return "failed"
    except SoftTimeLimitExceeded:
        limit = current_app.config["TASK_SOFT_TIME_LIMIT"]
        clog.error("soft time limit of %ss exceeded", limit)
        db.session.rollback()
        fail_case(case_id, f"The analysis took longer than the {limit} s limit and was stopped. "
                           "Re-run the case when the system is less busy, or contact your "
                           "administrator.")
        return "failed"
    except OperationalError as exc:  # database locked / connection dropped: transient
        clog.warning("transient database error, will retry: %s", exc)
        db.session.rollback()
        release_case(case_id)
        retries = self.request.retries
        raise self.retry(exc=exc, countdown=RETRY_BACKOFF_SECONDS[min(retries, 3)]) from exc
    except Exception:
        clog.exception("analysis crashed")
        db.session.rollback()
        fail_case(case_id, "An internal error stopped the analysis. It has been logged "
                           f"(reference {self.request.id}); re-run the case or contact your "
                           "administrator.")
        return "failed"
    finish_case(case_id, summary)
    count_case(worker)
    clog.info("done: class %s in %.2fs", summary["class"],
              float(summary.get("timings", {}).get("total", 0.0)))
    return "done"
