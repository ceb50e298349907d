"""Re-running and deleting cases (used by the web pages and the API)."""

from __future__ import annotations

from app import storage
from app.audit import audit
from app.extensions import db
from app.models import Case
from app.worker.state import Requeue, requeue


def rerun_case(case: Case, user_id: int) -> bool:
    """Queue a finished case again and commit; returns False (and changes nothing) while it runs."""
    if not case.is_finished:
        return False
    audit("case_rerun", user_id=user_id, case_id=case.id)
    return requeue(case.id, fresh_start=True) is Requeue.QUEUED


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
