"""Health checks for load balancers and compose: database, broker, storage, workers.

`/healthz` answers 200 when the web tier can serve (database reachable, storage writable,
broker reachable) and 503 when it cannot. A missing worker does not make the web tier unhealthy
(uploads still queue and run when a worker is back): it shows as `"status": "degraded"`.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import current_app
from kombu import Connection
from sqlalchemy import func, select, text

from app import storage
from app.extensions import db
from app.models import WorkerStatus
from app.models.base import utcnow

log = logging.getLogger(__name__)

BROKER_TIMEOUT_S = 2.0
REQUIRED = ("database", "storage", "broker")


def _check_database() -> dict[str, Any]:
    db.session.execute(text("SELECT 1"))
    return {"ok": True}


def _check_storage() -> dict[str, Any]:
    probe = storage.storage_root() / f".healthz-{uuid.uuid4().hex}"
    probe.write_bytes(b"ok")
    probe.unlink()
    return {"ok": True}


def _check_broker() -> dict[str, Any]:
    url = current_app.config["CELERY"]["broker_url"]
    with Connection(url, connect_timeout=BROKER_TIMEOUT_S) as connection:
        connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_S)
    return {"ok": True}


def _check_workers() -> dict[str, Any]:
    from app.worker.registry import ONLINE_WITHIN

    since = utcnow() - ONLINE_WITHIN
    seen = db.session.scalar(
        select(func.count()).select_from(WorkerStatus).where(WorkerStatus.last_seen_at >= since)
    ) or 0
    return {"ok": seen > 0, "online": seen, "within_s": int(ONLINE_WITHIN.total_seconds())}


CHECKS = {
    "database": _check_database,
    "storage": _check_storage,
    "broker": _check_broker,
    "workers": _check_workers,
}


def health() -> tuple[dict[str, Any], int]:
    """Run every check; return (report, HTTP status): 200 when the REQUIRED checks pass, else 503.

    Each failed check reports `{"ok": false, "error": <exception class>}` (no details that could
    leak configuration); the full error goes to the log.
    """
    results: dict[str, dict[str, Any]] = {}
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception as exc:  # noqa: BLE001 - any failure is what a health check reports
            log.warning("health check %s failed: %s", name, exc)
            if name in ("database", "workers"):
                db.session.rollback()
            results[name] = {"ok": False, "error": type(exc).__name__}
    healthy = all(results[name]["ok"] for name in REQUIRED)
    status = "ok" if healthy and results["workers"]["ok"] else ("degraded" if healthy else "fail")
    return {"status": status, "checks": results}, 200 if healthy else 503
