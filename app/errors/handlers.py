"""Errors answer in kind: JSON for the API and fetch requests, an HTML page otherwise."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.extensions import db

log = logging.getLogger(__name__)

MESSAGES = {
    400: "The request could not be understood.",
    403: "You are not allowed to do that.",
    404: "There is nothing here, or it is not yours to see.",
    405: "That method is not allowed here.",
    413: "The upload is too large. The limit is {limit}.",
    500: "Something went wrong on our side. It has been logged; please try again.",
}


def wants_json() -> bool:
    """Return whether the client expects JSON (API paths, or a fetch preferring JSON)."""
    if request.path.startswith("/api/"):
        return True
    return request.accept_mimetypes.best == "application/json"


def _human_size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:g} {unit}" if unit == "bytes" else f"{n:.0f} {unit}"
        n /= 1024
    return str(n)


def _message(code: int, error: HTTPException) -> str:
    if code == 413:
        from flask import current_app

        return MESSAGES[413].format(limit=_human_size(current_app.config["MAX_CONTENT_LENGTH"]))
    if code == 400 and isinstance(error, CSRFError):
        return "The form expired or was sent from elsewhere; reload the page and try again."
    # A view's own words for a state conflict (`abort(409, message=...)`) are the clearest.
    stated = (getattr(error, "data", None) or {}).get("message")
    if code == 409 and stated:
        return str(stated)
    return MESSAGES.get(code, error.description or "Error")


def _refused_field(error: HTTPException) -> tuple[str, str] | None:
    """Return (message, field) of refused input, or None when the error names no field.

    Two kinds carry one: `abort(400, message=..., field=...)` from a view, and a webargs
    validation error (flask-smorest `@arguments`), whose `messages` are keyed by location, then
    field. The first field's first message is the one shown.
    """
    data = getattr(error, "data", None) or {}
    if "field" in data:
        return str(data.get("message") or _message(error.code or 400, error)), data["field"]
    messages = data.get("messages")
    if not messages:
        return None
    by_field = next(iter(messages.values()))
    field, problems = next(iter(by_field.items()))
    problem = problems[0] if isinstance(problems, list) else str(problems)
    if problem == "Unknown field.":
        problem = f"Unknown {_LOCATION_WORDS.get(next(iter(messages)), 'field')} '{field}'."
    return problem, field


_LOCATION_WORDS = {"query": "query parameter", "form": "form field", "files": "file field"}


def handle_http_error(error: HTTPException) -> tuple[object, int, dict[str, str]]:
    """Render an HTTP error as JSON or as the error page, with a plain-words message.

    JSON answers are `{"error", "status"}`, plus `field` when input was refused field by field.
    """
    code = error.code or 500
    if code >= 500:
        db.session.rollback()
    message = _message(code, error)
    refused = _refused_field(error) if code == 400 else None
    # Keep the exception's own headers (e.g. `Allow` on a 405, RFC 9110), not its content type.
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    if wants_json():
        if refused is not None:
            return jsonify(error=refused[0], field=refused[1], status=code), code, headers
        return jsonify(error=message, status=code), code, headers
    if refused is not None:
        message = refused[0]
    return render_template("errors/error.html", code=code, message=message), code, headers


def handle_unexpected(error: Exception) -> tuple[object, int, dict[str, str]]:
    """Log an unexpected exception, roll back, and answer 500 without a stack trace."""
    log.exception("unhandled error on %s %s", request.method, request.path)
    return handle_http_error(InternalServerError())


def register(app: Flask) -> None:
    """Install the error handlers on `app`."""
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)
