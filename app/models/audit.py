"""Audit trail: who did what, to which case, from where."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow


class AuditEvent(db.Model):
    """One security-relevant action; case ids are plain text so a deleted case keeps its trail."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    action: Mapped[str] = mapped_column(String(64), index=True)
    case_id: Mapped[str | None] = mapped_column(String(32), index=True)
    detail: Mapped[str | None] = mapped_column(String(500))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    # How many occurrences this row stands for (failed logins of unknown emails are aggregated).
    count: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user = relationship("User", lazy="joined")


def record_event(
    action: str,
    *,
    user_id: int | None = None,
    case_id: str | None = None,
    detail: str | None = None,
    remote_addr: str | None = None,
) -> AuditEvent:
    """Add an audit event to the current session and return it; the caller commits."""
    event = AuditEvent(
        action=action,
        user_id=user_id,
        case_id=case_id,
        detail=(detail or None) and detail[:500],
        remote_addr=remote_addr,
    )
    db.session.add(event)
    return event
