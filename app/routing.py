"""URL converters shared by the blueprints, so that a URL's shape is checked where it is routed."""

from __future__ import annotations

from typing import Any

from flask import abort
from werkzeug.routing import BaseConverter

from app.models.case import CASE_ID_PATTERN


class CaseIdConverter(BaseConverter):
    """`<case_id:...>`: a case id (CASE_ID_PATTERN); anything else does not match (a 404)."""

    regex = CASE_ID_PATTERN


def case_id_parameter_schema(_converter: Any = None) -> dict[str, str]:
    """Return the OpenAPI schema of a case id path parameter."""
    return {"type": "string", "pattern": f"^{CASE_ID_PATTERN}$"}


MAX_PAGE = 1_000_000
"""The largest page number a listing accepts (a bigger one would overflow the database's OFFSET)."""


def page_number(raw: str | None) -> int:
    """Return the page asked for (1 when none); aborts 400 unless it is 1 to MAX_PAGE."""
    if raw is None:
        return 1
    # Bounded before int(): a huge number would overflow the database's OFFSET (a 500).
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(MAX_PAGE)) \
            or not 1 <= int(raw) <= MAX_PAGE:
        abort(400, f"The page must be a whole number from 1 to {MAX_PAGE:,}.")
    return int(raw)
