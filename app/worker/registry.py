"""The table of workers: each worker writes its row; the admin health page reads it.

Every write is an upsert (INSERT ... ON CONFLICT DO UPDATE, on SQLite and PostgreSQL alike):
the pool child that records its model may run before the parent has registered the worker,
and a heartbeat after the row was removed must bring it back, never update nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.models import WorkerStatus
from app.models.base import utcnow

ONLINE_WITHIN = timedelta(seconds=90)


def _upsert(hostname: str, insert: dict[str, Any], update: dict[str, Any]) -> None:
    """Insert the worker's row with `insert`, or apply `update` to the existing one; commits."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        statement: Any = postgresql.insert(WorkerStatus)
    elif dialect == "sqlite":
        statement = sqlite.insert(WorkerStatus)
    else:
        raise RuntimeError(f"The worker table needs SQLite or PostgreSQL, not {dialect}.")
    now = utcnow()
    db.session.execute(
        statement.values({"hostname": hostname, "started_at": now, "last_seen_at": now,
                          "cases_done": 0, **insert})
        .on_conflict_do_update(index_elements=[WorkerStatus.hostname],
                               set_={"last_seen_at": now, **update})
    )
    db.session.commit()


def register_worker(hostname: str, pid: int) -> None:
    """Create or reset the row of worker `hostname` (a node name such as celery@host); commits."""
    _upsert(hostname, {"pid": pid}, {"pid": pid, "started_at": utcnow()})


def record_model(hostname: str, device: str, name: str, version: str, sha256: str) -> None:
    """Record which device and model the worker's process serves, creating the row; commits."""
    values = {"device": device, "model_name": name, "model_version": version,
              "weights_sha256": sha256}
    _upsert(hostname, values, values)


def touch(hostname: str) -> None:
    """Refresh the worker's last-seen time, creating the row when it is missing; commits."""
    _upsert(hostname, {}, {})


def count_case(hostname: str) -> None:
    """Add one finished case to the worker's tally, creating the row when missing; commits."""
    _upsert(hostname, {"cases_done": 1}, {"cases_done": WorkerStatus.cases_done + 1})


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
