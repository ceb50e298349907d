"""How a waiting case is described to its owner: the stage in words and the place in the queue."""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import Case, CaseStatus

_STAGE_WORDS: dict[str, str] = {
    CaseStatus.QUEUED.value: "Waiting for a free worker",
    "loading": "Starting the analysis",
    CaseStatus.DONE.value: "Finished",
    CaseStatus.NEEDS_REVIEW.value: "Waiting for your review",
    CaseStatus.FAILED.value: "Failed",
}
"""Words for the stages the case state machine writes; the pipeline's stages are already words
(each stage's `label`, reported by the worker)."""


def stage_words(case: Case) -> str:
    """Return the case's current stage as a phrase for a person (never a bare code)."""
    stage = case.stage or case.status
    return _STAGE_WORDS.get(stage, stage)


def queue_position(case: Case) -> int | None:
    """Return the case's place in the queue (1: next to be analysed), or None when not queued.

    Cases are taken in the order they were sent to the queue (`enqueued_at`, else upload time),
    over every user's cases: the workers are shared.
    """
    if case.status != CaseStatus.QUEUED.value:
        return None
    sent = func.coalesce(Case.enqueued_at, Case.created_at)
    mine = case.enqueued_at or case.created_at
    ahead = db.session.scalar(
        select(func.count()).select_from(Case)
        .where(Case.status == CaseStatus.QUEUED.value, Case.id != case.id, sent < mine)
    )
    return int(ahead or 0) + 1
