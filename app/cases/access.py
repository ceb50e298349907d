"""Who may see which case."""

from __future__ import annotations

from flask import abort
from sqlalchemy import Select, select

from app.extensions import db
from app.models import Case, User
from app.models.case import is_case_id


def visible_cases(user: User) -> Select[tuple[Case]]:
    """Return a query of the cases `user` may see (their own; all for an admin), newest first."""
    query = select(Case).order_by(Case.created_at.desc())
    if not user.is_admin:
        query = query.where(Case.owner_id == user.id)
    return query


def case_or_404(case_id: str, user: User) -> Case:
    """Return the case if `user` may see it; aborts with 404 otherwise (no existence leak).

    Refuses (404) an id that is not of the case id form (`is_case_id`) without a query.
    """
    case = db.session.get(Case, case_id) if is_case_id(case_id) else None
    if case is None or (case.owner_id != user.id and not user.is_admin):
        abort(404)
    return case
