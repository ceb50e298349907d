"""Record audit events for the current request."""

from __future__ import annotations

from flask import has_request_context, request

from app.models import AuditEvent, record_event


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
