"""REST API v1 routes: upload, poll, list, delete cases and fetch their artefacts.

Every route but the OpenAPI document needs a bearer token (app/api/auth.py); a case that is not
the caller's answers 404, as on the web pages. Errors are JSON: {"error", "status"} and, for
refused input, "field".
"""

from __future__ import annotations

import re

from flask import Response, jsonify, request, send_file, url_for

from app.api import bp
from app.api.auth import api_user, token_required
from app.api.openapi import openapi_document
from app.api.schemas import (
    DEFAULT_PER_PAGE,
    MAX_PAGE,
    MAX_PER_PAGE,
    PSEUDONYM_MAX_LENGTH,
    PSEUDONYM_PATTERN,
    case_json,
)
from app.audit import audit
from app.cases.access import case_or_404, visible_cases
from app.cases.lifecycle import delete_case
from app.cases.results import artefact_path
from app.cases.uploads import UploadedFile, UploadError, store_upload
from app.extensions import db
from app.pipeline.io.naming import SEQUENCE_LABELS, SEQUENCES
from app.queueing import enqueue_case

_PSEUDONYM = re.compile(PSEUDONYM_PATTERN)


class BadRequest(ValueError):
    """Input the API refuses; `field` names the request field at fault (or None)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@bp.errorhandler(BadRequest)
def bad_request(error: BadRequest) -> tuple[Response, int]:
    """Answer refused input with 400 and {"error", "field", "status"}."""
    return jsonify(error=str(error), field=error.field, status=400), 400


@bp.errorhandler(UploadError)
def bad_upload(error: UploadError) -> tuple[Response, int]:
    """Answer a refused upload (nothing was kept) with 400 and {"error", "field", "status"}."""
    return jsonify(error=str(error), field=error.field, status=400), 400


@bp.after_request
def no_store(response: Response) -> Response:
    """Return `response` marked uncacheable: API answers carry patient-derived results."""
    response.headers["Cache-Control"] = "no-store"  # also over send_file's "no-cache"
    return response


def _refuse_unknown_query(known: set[str]) -> None:
    for name in request.args:
        if name not in known:
            raise BadRequest(f"Unknown query parameter '{name}'; this route takes: "
                             f"{', '.join(sorted(known))}.", name)


def _bounded_int(name: str, default: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    # Bounded before int(): huge numbers would overflow the database's OFFSET (a 500).
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(maximum)) \
            or not 1 <= int(raw) <= maximum:
        raise BadRequest(f"{name} must be a whole number from 1 to {maximum}.", name)
    return int(raw)


def _pseudonym() -> str | None:
    value = (request.form.get("pseudonym") or "").strip()
    if len(value) > PSEUDONYM_MAX_LENGTH:
        raise BadRequest(f"The pseudonym is longer than {PSEUDONYM_MAX_LENGTH} characters.",
                         "pseudonym")
    if not _PSEUDONYM.fullmatch(value):
        raise BadRequest("The pseudonym may hold only letters, digits, underscores, spaces, "
                         "dots and dashes.", "pseudonym")
    return value or None


def _uploaded_files() -> dict[str, UploadedFile]:
    files = {}
    for sequence in SEQUENCES:
        upload = request.files.get(sequence)
        if upload is None or not upload.filename:
            # Also when the part was sent as a plain text field rather than as a file.
            raise BadRequest(f"Send the {SEQUENCE_LABELS[sequence]} image as the file field "
                             f"'{sequence}'.", sequence)
        files[sequence] = UploadedFile(upload.filename, upload.stream)
    return files


@bp.get("/openapi.json")
def openapi() -> Response:
    """Return the OpenAPI 3.1 description of this API (public: no token needed)."""
    # The API's own mount point (with any proxy prefix), taken from where this route answers.
    base = url_for("api.openapi").rsplit("/", 1)[0]
    return jsonify(openapi_document(base))


@bp.post("/cases")
@token_required
def create_case() -> tuple[Response, int, dict[str, str]]:
    """Store an upload of four sequences as a queued case; returns 201 {"id", "status", "url"}.

    Refuses (400, nothing kept) a missing file, content that is not a NIfTI image within
    limits, images on different grids and a bad pseudonym; 413 past MAX_CONTENT_LENGTH.
    """
    user = api_user()
    pseudonym = _pseudonym()
    files = _uploaded_files()
    case = store_upload(files, user.id, pseudonym)
    audit("upload", user_id=user.id, case_id=case.id, detail="api")
    enqueue_case(case)
    db.session.commit()
    url = url_for("api.get_case", case_id=case.id)
    return jsonify(id=case.id, status=case.status, url=url), 201, {"Location": url}


@bp.get("/cases")
@token_required
def list_cases() -> Response:
    """Return a page of the caller's cases (all cases for an admin), newest first.

    Refuses (400) a `page` that is not a whole number from 1 to MAX_PAGE, a `per_page` not
    from 1 to 100, and unknown query parameters (a misspelt `perpage` would otherwise be
    silently ignored).
    """
    _refuse_unknown_query({"page", "per_page"})
    page = _bounded_int("page", 1, MAX_PAGE)
    per_page = _bounded_int("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)
    result = db.paginate(visible_cases(api_user()), page=page, per_page=per_page,
                         error_out=False, count=True)
    return jsonify(
        items=[case_json(case) for case in result.items],
        page=page,
        per_page=per_page,
        total=result.total or 0,
        pages=result.pages,
    )


@bp.get("/cases/<case_id>")
@token_required
def get_case(case_id: str) -> Response:
    """Return one case: progress, the result once done, the error once failed; 404 if not ours."""
    user = api_user()
    case = case_or_404(case_id, user)
    body = case_json(case)
    if body["result"] is not None:
        # Polls of a queued or running case show no result and are not worth an audit row.
        audit("case_view", user_id=user.id, case_id=case.id, detail="api")
        db.session.commit()
    return jsonify(body)


@bp.delete("/cases/<case_id>")
@token_required
def remove_case(case_id: str) -> Response:
    """Delete a case with its files and artefacts; returns 204, or 404 if it is not ours."""
    user = api_user()
    case = case_or_404(case_id, user)
    delete_case(case, user.id)
    return Response(status=204)


@bp.get("/cases/<case_id>/files/<name>")
@token_required
def case_file(case_id: str, name: str) -> Response:
    """Send one artefact of a case; 404 for a case not ours, an unknown name or a missing file."""
    user = api_user()
    case = case_or_404(case_id, user)
    path, mimetype = artefact_path(case, name)
    audit("case_file", user_id=user.id, case_id=case.id, detail=f"api {name}")
    db.session.commit()
    return send_file(path, mimetype=mimetype, max_age=0)
