"""URL converters shared by the blueprints, so that a URL's shape is checked where it is routed."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import BaseConverter

from app.models.case import CASE_ID_PATTERN


class CaseIdConverter(BaseConverter):
    """`<case_id:...>`: a case id (CASE_ID_PATTERN); anything else does not match (a 404)."""

    regex = CASE_ID_PATTERN


def case_id_parameter_schema(_converter: Any = None) -> dict[str, str]:
    """Return the OpenAPI schema of a case id path parameter."""
    return {"type": "string", "pattern": f"^{CASE_ID_PATTERN}$"}
