"""The cases list as a worklist: its query parameters, its SQL and its view model.

`parse_filters` is the one place where the list's query parameters are read and validated;
`worklist_query` turns them into SQL (filters and sorting happen in the database, on indexed
columns); `worklist_rows` prepares what the template shows, so the template only loops.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import abort, url_for
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import contains_eager

from app.models import Case, CaseStatus, Prediction, User
from app.pipeline.classes import CLASS_NAMES, CLASSES
from app.pipeline.outcomes import OUTCOME_LABELS, Outcome
from app.routing import page_number

CASES_PER_PAGE = 25
MAX_SEARCH_LENGTH = 64

STATUS_LABELS: dict[str, str] = {
    CaseStatus.QUEUED.value: "Queued",
    CaseStatus.RUNNING.value: "Running",
    CaseStatus.DONE.value: "Done",
    CaseStatus.NEEDS_REVIEW.value: "Needs review",
    CaseStatus.FAILED.value: "Failed",
}
"""Words for each case state (every CaseStatus has one)."""

CLASS_FILTERS: dict[str, str] = {
    **{letter: f"{letter}: {name}" for letter, name in CLASS_NAMES.items()},
    **{outcome: label for outcome, label in OUTCOME_LABELS.items()
       if outcome != Outcome.SUBTYPE.value},
}
"""The class filter's choices: a class letter, or an outcome without a subtype."""

SORTS: dict[str, Any] = {
    "uploaded": Case.created_at,
    "pseudonym": Case.pseudonym,
    "status": Case.status,
    "probability": Prediction.top_probability,
}
"""Sortable columns by their query-parameter name."""


@dataclass(frozen=True)
class WorklistFilters:
    """The validated query of the cases list."""

    q: str = ""
    status: str = ""
    cls: str = ""
    low_confidence: bool = False
    date_from: date | None = None
    date_to: date | None = None
    sort: str = "uploaded"
    order: str = "desc"
    page: int = 1

    def args(self, **changes: Any) -> dict[str, Any]:
        """Return these filters (with `changes`) as query parameters, leaving out defaults."""
        values = asdict(replace(self, **changes))
        defaults = asdict(WorklistFilters())
        out = {}
        for key, value in values.items():
            if value == defaults[key]:
                continue
            name = {"cls": "class", "date_from": "from", "date_to": "to"}.get(key, key)
            out[name] = "1" if value is True else str(value)
        return out


def _day(raw: str, name: str) -> date | None:
    if not raw:
        return None
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        abort(400, f"The {name} date must look like 2026-01-31.")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        abort(400, f"The {name} date {raw} does not exist.")


def _choice(raw: str, allowed: tuple[str, ...] | dict[str, Any], what: str) -> str:
    if raw and raw not in allowed:
        abort(400, f"Unknown {what} {raw[:40]!r}: use one of {', '.join(allowed)}.")
    return raw


def parse_filters(args: Any) -> WorklistFilters:
    """Return the validated filters of the query parameters `args` (a MultiDict).

    Refuses (400, with a message saying what is allowed): an unknown status, class, sort or
    order; a search longer than MAX_SEARCH_LENGTH; a date that is not YYYY-MM-DD or does not
    exist; a "to" date before the "from" date; a bad page number (`page_number`); a
    low-confidence flag other than 1.
    """
    q = (args.get("q") or "").strip()
    if len(q) > MAX_SEARCH_LENGTH:
        abort(400, f"The search is longer than {MAX_SEARCH_LENGTH} characters.")
    low = args.get("low_confidence") or ""
    if low not in ("", "1"):
        abort(400, "low_confidence must be 1 (or left out).")
    date_from = _day(args.get("from") or "", "from")
    date_to = _day(args.get("to") or "", "to")
    if date_from and date_to and date_to < date_from:
        abort(400, "The 'to' date is before the 'from' date.")
    return WorklistFilters(
        q=q,
        status=_choice(args.get("status") or "", STATUS_LABELS, "status"),
        cls=_choice(args.get("class") or "", CLASS_FILTERS, "class"),
        low_confidence=low == "1",
        date_from=date_from,
        date_to=date_to,
        sort=_choice(args.get("sort") or "uploaded", SORTS, "sort"),
        order=_choice(args.get("order") or "desc", ("asc", "desc"), "order"),
        page=page_number(args.get("page")),
    )


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def worklist_query(user: User, filters: WorklistFilters) -> Select[tuple[Case]]:
    """Return the SQL of the cases `user` may see (their own; all for an admin), filtered and
    sorted as `filters` say; ties are broken by upload time, newest first."""
    query = (select(Case).outerjoin(Case.prediction)
             .options(contains_eager(Case.prediction)))
    if not user.is_admin:
        query = query.where(Case.owner_id == user.id)
    if filters.q:
        search = _like(filters.q)
        query = query.where(or_(Case.pseudonym.ilike(search, escape="\\"),
                                Case.id.like(_like(filters.q.lower()), escape="\\")))
    if filters.status:
        query = query.where(Case.status == filters.status)
    if filters.cls in CLASSES:
        query = query.where(Prediction.outcome == Outcome.SUBTYPE.value,
                            Prediction.predicted_class == filters.cls)
    elif filters.cls:
        query = query.where(Prediction.outcome == filters.cls)
    if filters.low_confidence:
        query = query.where(Prediction.low_confidence.is_(True))
    if filters.date_from:
        query = query.where(Case.created_at >= _start_of(filters.date_from))
    if filters.date_to:
        query = query.where(Case.created_at < _start_of(filters.date_to + timedelta(days=1)))
    column = SORTS[filters.sort]
    ordered = column.asc() if filters.order == "asc" else column.desc()
    return query.order_by(ordered.nulls_last(), Case.created_at.desc(), Case.id)


@dataclass(frozen=True)
class WorklistRow:
    """One row of the worklist, ready to show."""

    id: str
    url: str
    link_text: str
    uploaded: str
    owner: str
    status: str
    status_label: str
    result: str
    result_title: str
    probability: str
    flags: tuple[str, ...]


def _flags(case: Case) -> tuple[str, ...]:
    prediction = case.prediction
    if prediction is None or case.status != CaseStatus.DONE.value:
        return ()
    summary = prediction.extra or {}
    flags = []
    if prediction.low_confidence:
        flags.append("Low confidence")
    if summary.get("no_lesion_found"):
        flags.append("No lesion found")
    # Any demo model that took part, as the result's disclaimer (the deciding `model` may be None).
    models = [summary.get("model") or {}, *(summary.get("models") or {}).values()]
    if any(isinstance(m, dict) and m.get("demo") for m in models):
        flags.append("Demo model")
    return tuple(flags)


def worklist_row(case: Case) -> WorklistRow:
    """Return the row of `case`: the link text is its pseudonym or its short id; the result is
    the class, or the outcome's words when the analysis gave no subtype."""
    prediction = case.prediction if case.status == CaseStatus.DONE.value else None
    result, title, probability = "—", "", "—"
    if prediction is not None:
        if prediction.outcome == Outcome.SUBTYPE.value and prediction.predicted_class:
            result = prediction.predicted_class
            title = CLASS_NAMES.get(result, "")
        else:
            result = OUTCOME_LABELS.get(prediction.outcome, prediction.outcome)
        if prediction.top_probability is not None:
            probability = f"{prediction.top_probability:.0%}"
    return WorklistRow(
        id=case.id,
        url=url_for("cases.result", case_id=case.id),
        link_text=case.pseudonym or case.id[:8],
        uploaded=case.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        owner=case.owner.email if case.owner else "",
        status=case.status,
        status_label=STATUS_LABELS.get(case.status, case.status),
        result=result,
        result_title=title,
        probability=probability,
        flags=_flags(case),
    )


@dataclass(frozen=True)
class SortLink:
    """A column header that sorts: its URL and the state screen readers are told."""

    label: str
    url: str
    aria_sort: str


def sort_links(filters: WorklistFilters) -> dict[str, SortLink]:
    """Return a header link per sortable column: it sorts by that column, or flips the order
    when the list is already sorted by it; `aria_sort` says the current state."""
    labels = {"uploaded": "Uploaded", "pseudonym": "Case", "status": "Status",
              "probability": "Top probability"}
    links = {}
    for key, label in labels.items():
        current = filters.sort == key
        order = ("asc" if filters.order == "desc" else "desc") if current else \
            ("asc" if key == "pseudonym" else "desc")
        links[key] = SortLink(
            label=label,
            url=url_for("cases.index", **filters.args(sort=key, order=order, page=1)),
            aria_sort=("ascending" if filters.order == "asc" else "descending") if current
            else "none",
        )
    return links


def page_url(filters: WorklistFilters, page: int) -> str:
    """Return the URL of `page` of the list with the same filters."""
    return url_for("cases.index", **filters.args(page=page))

