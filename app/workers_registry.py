"""The table of workers: each worker writes its row; the admin health page reads it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select, update

from app.extensions import db
from app.models import WorkerStatus
from app.models.base import utcnow

ONLINE_WITHIN = timedelta(seconds=90)


def register_worker(hostname: str, pid: int) -> None:
    """Create or reset the row of worker `hostname` (a node name such as celery@host); commits."""
    row = db.session.get(WorkerStatus, hostname) or WorkerStatus(hostname=hostname)
    row.pid = pid
    row.started_at = row.last_seen_at = utcnow()
    row.current_case = None
    db.session.add(row)
    db.session.commit()


def record_model(hostname: str, device: str, name: str, version: str, sha256: str) -> None:
    """Record which device and model the worker's process serves; commits."""
    db.session.execute(
        update(WorkerStatus).where(WorkerStatus.hostname == hostname)
        .values(device=device, model_name=name, model_version=version, weights_sha256=sha256,
                last_seen_at=utcnow())
    )
    db.session.commit()


def touch(hostname: str) -> None:
    """Refresh the worker's last-seen time; commits."""
    db.session.execute(
        update(WorkerStatus).where(WorkerStatus.hostname == hostname)
        .values(last_seen_at=utcnow())
    )
    db.session.commit()


def count_case(hostname: str) -> None:
    """Add one finished case to the worker's tally; commits."""
    db.session.execute(
        update(WorkerStatus).where(WorkerStatus.hostname == hostname)
        .values(cases_done=WorkerStatus.cases_done + 1, last_seen_at=utcnow())
    )
    db.session.commit()


def unregister_worker(hostname: str) -> None:
    """Remove the worker's row at a clean shutdown; commits."""
    db.session.execute(delete(WorkerStatus).where(WorkerStatus.hostname == hostname))
    db.session.commit()


def online_workers() -> list[WorkerStatus]:
    """Return the workers seen within ONLINE_WITHIN, by name."""
    since = utcnow() - ONLINE_WITHIN
    return list(db.session.scalars(
        select(WorkerStatus).where(WorkerStatus.last_seen_at >= since)
        .order_by(WorkerStatus.hostname)
    ))
