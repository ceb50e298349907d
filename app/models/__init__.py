"""Database models, split by domain; import them from here."""

from app.models.audit import AuditEvent, record_event
from app.models.case import Case, CaseStatus, Prediction, Scan
from app.models.ratelimit import RateLimitCounter
from app.models.token import ApiToken
from app.models.user import Role, User
from app.models.worker import WorkerStatus

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Case",
    "CaseStatus",
    "Prediction",
    "RateLimitCounter",
    "Role",
    "Scan",
    "User",
    "WorkerStatus",
    "record_event",
]
