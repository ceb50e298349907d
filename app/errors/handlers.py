"""Errors answer in kind: JSON for the API and fetch requests, an HTML page otherwise."""

from __future__ import annotations

import logging

from flask import Flask, current_app, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.extensions import db

log = logging.getLogger(__name__)

MESSAGES = {
    400: "The request could not be understood.",
    403: "You are not allowed to do that.",
    404: "There is nothing here, or it is not yours to see.",
    405: "That method is not allowed here.",
    413: "The upload is too large. The limit is {limit}.",
    429: "Too many attempts. Please wait {retry} and try again.",
    503: "The service is briefly unavailable. Please try again in a minute.",
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


FORM_FIELD_TOO_LARGE = (
    "A form field is too large: text fields may hold at most {limit} (files are sent as file "
    "fields, up to {upload_limit} in all)."
)
DATABASE_UNAVAILABLE = (
    "The database cannot be reached right now, so nothing can be shown or saved. Please try "
    "again in a minute; if it lasts, tell your administrator."
)


def _413_message() -> str:
    """Say which limit was hit: the whole request's, or one text field's (Werkzeug's form limit)."""
    upload_limit = current_app.config["MAX_CONTENT_LENGTH"]
    length = request.content_length
    if length is not None and upload_limit is not None and length <= upload_limit:
        form_limit = current_app.config.get("MAX_FORM_MEMORY_SIZE") or 500_000
        return FORM_FIELD_TOO_LARGE.format(
            limit=_human_size(form_limit), upload_limit=_human_size(upload_limit)
        )
    return MESSAGES[413].format(limit=_human_size(upload_limit))


def _retry_words() -> str:
    """Return how long until the limit that was hit resets, in words ("40 seconds")."""
    from app.ratelimit import seconds_until_reset

    seconds = seconds_until_reset()
    if seconds is None:
        return "a moment"
    return f"{seconds} seconds" if seconds < 120 else f"{round(seconds / 60)} minutes"


def _message(code: int, error: HTTPException) -> str:
    if code == 413:
        return _413_message()
    if code == 400 and isinstance(error, CSRFError):
        return "The form expired or was sent from elsewhere; reload the page and try again."
    if code == 429:
        return MESSAGES[429].format(retry=_retry_words())
    # A view's own words for a state conflict (`abort(409, message=...)`) are the clearest.
    stated = (getattr(error, "data", None) or {}).get("message")
    if code == 409 and stated:
        return str(stated)
    # A description given where the error was raised (abort(400, "...")) says more than ours.
    if error.description and error.description != type(error).description:
        return error.description
    return MESSAGES.get(code, error.description or "Error")


def _refused_field(error: HTTPException) -> tuple[str, str | None] | None:
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
    if not isinstance(by_field, dict):  # the body as a whole, e.g. webargs' "Invalid JSON body."
        problems = by_field if isinstance(by_field, list) else [by_field]
        return (str(problems[0]) if problems else _message(400, error)), None
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


def handle_database_error(error: SQLAlchemyError) -> tuple[object, int, dict[str, str]]:
    """Answer a lost database with a clear 503 (Retry-After: 30), not a bare 500.

    Errors that are not about reaching the database (a bug in a query) stay 500s.
    """
    if not _is_connection_error(error):
        return handle_unexpected(error)
    log.error("database unavailable on %s %s: %s", request.method, request.path, error)
    try:
        db.session.rollback()
    except SQLAlchemyError as exc:
        log.warning("rollback after a database error failed too: %s", exc)
    # The page must not try to load the signed-in user from the database that just failed.
    g._login_user = current_app.login_manager.anonymous_user()
    headers = {"Retry-After": "30"}
    if wants_json():
        return jsonify(error=DATABASE_UNAVAILABLE, status=503), 503, headers
    page = render_template("errors/error.html", code=503, message=DATABASE_UNAVAILABLE)
    return page, 503, headers


def _is_connection_error(error: SQLAlchemyError) -> bool:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    text = str(getattr(error, "orig", error)).lower()
    signs = ("unable to open database", "no such table", "could not connect", "connection refused",
             "server closed the connection", "connection to server", "disk i/o error",
             "database is locked", "terminating connection")
    return any(sign in text for sign in signs)


def handle_unexpected(error: Exception) -> tuple[object, int, dict[str, str]]:
    """Log an unexpected exception, roll back, and answer 500 without a stack trace."""
    log.exception("unhandled error on %s %s", request.method, request.path)
    return handle_http_error(InternalServerError())


def register(app: Flask) -> None:
    """Install the error handlers on `app`."""
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(SQLAlchemyError, handle_database_error)
    app.register_error_handler(Exception, handle_unexpected)
