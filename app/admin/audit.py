"""The audit log for administrators: its filters, one page as a view model, the CSV export.

The page and the export read the same query (`audit_query`) with the same filters, newest first.
Times are UTC. The export is streamed in batches, so its size is bounded by nothing but the log.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import url_for
from sqlalchemy import Select, select

from app.admin.forms import ANY, NO_ACCOUNT, AuditFilterForm
from app.extensions import db
from app.models import AuditEvent, Case, User

PER_PAGE = 50
CSV_BATCH = 500
CSV_COLUMNS = ("time_utc", "user", "action", "count", "case_id", "detail", "remote_addr")
NO_ACCOUNT_LABEL = "(no account)"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# A spreadsheet runs a cell starting with one of these as a formula; audit details hold
# attacker-chosen text (attempted emails), so such cells are exported with a leading quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AuditFilters:
    """What the log is filtered by; empty values filter nothing."""

    user: str = ANY  # ANY, NO_ACCOUNT or a user id
    action: str = ANY
    case: str = ""  # a case id or its start (hex)
    date_from: date | None = None
    date_to: date | None = None  # inclusive

    def query_args(self) -> dict[str, str]:
        """Return the filters as query-string arguments (only those set), for links."""
        args = {"user": self.user, "action": self.action, "case": self.case,
                "date_from": self.date_from.isoformat() if self.date_from else "",
                "date_to": self.date_to.isoformat() if self.date_to else ""}
        return {key: value for key, value in args.items() if value}


def set_filter_choices(form: AuditFilterForm) -> None:
    """Fill the user and action choices of `form` from the database (users by email)."""
    users = db.session.execute(select(User.id, User.email).order_by(User.email)).all()
    form.user.choices = [(ANY, "Anyone"), (NO_ACCOUNT, NO_ACCOUNT_LABEL)] + [
        (str(user_id), email) for user_id, email in users
    ]
    actions = db.session.scalars(
        select(AuditEvent.action).distinct().order_by(AuditEvent.action)
    ).all()
    form.action.choices = [(ANY, "Any action")] + [(action, action) for action in actions]


def filters_from(form: AuditFilterForm) -> AuditFilters:
    """Return the filters of a validated `form`."""
    return AuditFilters(user=form.user.data or ANY, action=form.action.data or ANY,
                        case=form.case.data or "", date_from=form.date_from.data,
                        date_to=form.date_to.data)


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def audit_query(filters: AuditFilters) -> Select[Any]:
    """Return the query of the events `filters` keep, newest first (their users loaded along)."""
    query = select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    if filters.user == NO_ACCOUNT:
        query = query.where(AuditEvent.user_id.is_(None))
    elif filters.user != ANY:
        query = query.where(AuditEvent.user_id == int(filters.user))
    if filters.action != ANY:
        query = query.where(AuditEvent.action == filters.action)
    if filters.case:
        # Hex only (the form's rule), so the prefix holds no LIKE wildcard.
        query = query.where(AuditEvent.case_id.startswith(filters.case))
    if filters.date_from:
        query = query.where(AuditEvent.created_at >= _start_of(filters.date_from))
    if filters.date_to:
        query = query.where(AuditEvent.created_at < _start_of(filters.date_to + timedelta(days=1)))
    return query


@dataclass(frozen=True)
class AuditRow:
    """One event as the page shows it (every value ready to print)."""

    when: str
    who: str
    action: str
    count: str  # "×3" for an aggregated row, "" otherwise
    case_id: str
    case_url: str | None  # None when there is no case, or it was deleted
    detail: str
    remote_addr: str


@dataclass(frozen=True)
class AuditPage:
    """One page of the filtered log, with the links the template needs."""

    rows: list[AuditRow]
    total: int
    page: int
    pages: int
    prev_url: str | None
    next_url: str | None
    csv_url: str
    clear_url: str | None  # set when a filter is on


def _who(event: AuditEvent) -> str:
    return event.user.email if event.user else NO_ACCOUNT_LABEL


def audit_rows(events: list[AuditEvent]) -> list[AuditRow]:
    """Return view rows for `events`; only cases that still exist are linked."""
    case_ids = {event.case_id for event in events if event.case_id}
    existing = set(db.session.scalars(select(Case.id).where(Case.id.in_(case_ids)))) \
        if case_ids else set()
    return [
        AuditRow(
            when=event.created_at.strftime(TIME_FORMAT),
            who=_who(event),
            action=event.action,
            count=f"×{event.count}" if (event.count or 1) > 1 else "",
            case_id=event.case_id or "",
            case_url=url_for("cases.result", case_id=event.case_id)
            if event.case_id in existing else None,
            detail=event.detail or "",
            remote_addr=event.remote_addr or "",
        )
        for event in events
    ]


def build_audit_page(filters: AuditFilters, page: int) -> AuditPage:
    """Return page `page` of the log as `filters` keep it (an empty page past the end)."""
    result = db.paginate(audit_query(filters), page=page, per_page=PER_PAGE, error_out=False,
                         count=True)
    args = filters.query_args()
    pages = result.pages or 1
    return AuditPage(
        rows=audit_rows(list(result.items)),
        total=result.total or 0,
        page=page,
        pages=pages,
        prev_url=url_for("admin.audit_log", **args, page=page - 1) if page > 1 else None,
        next_url=url_for("admin.audit_log", **args, page=page + 1) if page < pages else None,
        csv_url=url_for("admin.audit_csv", **args),
        clear_url=url_for("admin.audit_log") if args else None,
    )


def csv_cell(value: object) -> str:
    """Return `value` as a CSV cell that no spreadsheet runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(filters: AuditFilters) -> Iterator[str]:
    """Yield the CSV export of the events `filters` keep: a header line, then one per event.

    Rows are read from the database CSV_BATCH at a time, never all at once.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(cells: tuple[object, ...]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([csv_cell(cell) for cell in cells])
        return buffer.getvalue()

    yield line(CSV_COLUMNS)
    events = db.session.scalars(audit_query(filters).execution_options(yield_per=CSV_BATCH))
    for event in events:
        yield line((event.created_at.strftime(TIME_FORMAT), _who(event),
                    event.action, event.count or 1, event.case_id, event.detail,
                    event.remote_addr))
