"""Record audit events for the current request."""

from __future__ import annotations

from datetime import timedelta

from flask import has_request_context, request
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, record_event
from app.models.base import utcnow

UNKNOWN_LOGIN_ACTION = "login_failed_unknown"
ATTEMPTED_EMAIL_CHARS = 64
"""How much of an attempted (attacker-chosen) email an audit row keeps."""


def audit(
    action: str,
    *,
    user_id: int | None = None,
    case_id: str | None = None,
    detail: str | None = None,
) -> AuditEvent:
    """Add an audit event with the request's remote address; returns it, the caller commits."""
    remote = request.remote_addr if has_request_context() else None
    return record_event(
        action, user_id=user_id, case_id=case_id, detail=detail, remote_addr=remote
    )


def printable(text: str, limit: int) -> str:
    """Return `text` with control characters replaced by "?" and cut to `limit` characters."""
    cleaned = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return cleaned + ("…" if len(text) > limit else "")


def audit_unknown_login(email: str) -> AuditEvent:
    """Count a failed login for an email with no account; returns the row, the caller commits.

    One row per client address and minute, however many attempts: `count` grows and `detail`
    keeps the last attempted email, truncated to ATTEMPTED_EMAIL_CHARS printable characters.
    """
    remote = request.remote_addr if has_request_context() else None
    now = utcnow()
    minute = now.replace(second=0, microsecond=0)
    row = db.session.scalar(
        select(AuditEvent)
        .where(
            AuditEvent.action == UNKNOWN_LOGIN_ACTION,
            AuditEvent.remote_addr == remote,
            AuditEvent.created_at >= minute,
            AuditEvent.created_at < minute + timedelta(minutes=1),
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    detail = f"last email tried: {printable(email, ATTEMPTED_EMAIL_CHARS)}"
    if row is None:
        row = record_event(UNKNOWN_LOGIN_ACTION, detail=detail, remote_addr=remote)
        row.created_at = now
        row.count = 1
    else:
        row.count = (row.count or 1) + 1
        row.detail = detail
    return row
