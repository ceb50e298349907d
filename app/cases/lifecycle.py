"""Re-running and deleting cases (used by the web pages and the API)."""

from __future__ import annotations

from app import storage
from app.audit import audit
from app.extensions import db
from app.models import Case
from app.models.case import FailureKind
from app.worker.state import Requeue, requeue

STILL_RUNNING = "This case is still being analysed."
INPUT_REFUSED = ("This case's files were refused, and running them again gives the same answer: "
                 "upload the scans again.")


def rerun_case(case: Case, user_id: int) -> str | None:
    """Queue a finished case again and commit; return None, or why it was not queued.

    Refuses (changing nothing) a case that is still running, and a case whose input was refused
    (FailureKind.REFUSED: the same files give the same answer; the page offers "Upload again").
    """
    if not case.is_finished:
        return STILL_RUNNING
    if case.failure_kind == FailureKind.REFUSED.value:
        return INPUT_REFUSED
    audit("case_rerun", user_id=user_id, case_id=case.id)
    return None if requeue(case.id, fresh_start=True) is Requeue.QUEUED else STILL_RUNNING


def delete_case(case: Case, user_id: int) -> None:
    """Delete the case's row (scans and prediction cascade), then its files; commits.

    The row goes first: a crash between the two leaves orphaned files (harmless, removable),
    never a case whose files are missing.
    """
    case_id = case.id
    audit("case_delete", user_id=user_id, case_id=case_id)
    db.session.delete(case)
    db.session.commit()
    storage.delete_case_files(case_id)
