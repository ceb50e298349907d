"""Hand a case to the workers.

If the broker is down when a case is uploaded, the case is kept (status queued, `enqueued_at`
empty) and the workers' recovery sweep sends it when the broker is back: the upload never fails
because of the queue, and no case is lost (the database, not the broker, is the source of truth).
"""

from __future__ import annotations

import logging

from flask import current_app

from app.extensions import db
from app.models import Case
from app.models.base import utcnow
from app.worker.celery_app import ANALYSE_TASK, INFERENCE_QUEUE

log = logging.getLogger(__name__)


def enqueue_case(case: Case) -> bool:
    """Send `case` to the inference queue and stamp `enqueued_at`; return whether it was sent.

    Broker errors are logged, not raised: the recovery sweep re-sends unsent cases. The caller
    commits.
    """
    celery = current_app.extensions["celery"]
    try:
        celery.send_task(ANALYSE_TASK, args=[case.id], queue=INFERENCE_QUEUE, retry=True)
    except Exception as exc:  # any broker failure means "not sent yet"
        log.warning("case %s: broker unavailable, left queued for the recovery sweep: %s",
                    case.id, exc)
        case.enqueued_at = None
        return False
    case.enqueued_at = utcnow()
    db.session.add(case)
    return True
