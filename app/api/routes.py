"""REST API v1 routes: upload, poll, list, delete cases and fetch their artefacts.

Every route but the OpenAPI document needs a bearer token (app/api/auth.py); a case that is not
the caller's answers 404, as on the web pages. Errors are JSON: {"error", "status"} and, for
refused input, "field" (app/errors/handlers.py). The docstrings' first line and paragraphs up
to `---` are the operation's summary and description in the OpenAPI document.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Response, jsonify, send_file, url_for
from flask_smorest import abort

from app.api import bp
from app.api.auth import api_user, authenticated
from app.api.document import EXAMPLE_CASE_ID, openapi_document
from app.api.schemas import (
    CaseCreatedSchema,
    CasePageSchema,
    ErrorSchema,
    PageQuerySchema,
    SequenceActionSchema,
    UploadSchema,
)
from app.audit import audit
from app.cases.access import case_or_404, visible_cases
from app.cases.lifecycle import delete_case
from app.cases.results import artefact_path
from app.cases.schemas import CaseSchema, has_result
from app.cases.sequences import (
    CONFIRM,
    SequenceActionError,
    confirm_sequences,
    reassign_sequences,
)
from app.cases.uploads import UploadError, store_upload
from app.extensions import db
from app.models import Case
from app.pipeline.io.naming import SEQUENCES
from app.pipeline.render.artefacts import ARTEFACTS
from app.worker.queueing import enqueue_case

CASE_ID = {
    "in": "path", "name": "case_id", "description": "The case id returned by the upload.",
    "example": EXAMPLE_CASE_ID,
}
FILE_NAME = {"in": "path", "name": "name", "description": "The artefact's file name."}
NAMES = ",".join(f"'{name}'" for name in ARTEFACTS)
NOT_FOUND = "No such case, or not yours to see (the same answer for both)."
FILE_TYPES = {
    "image/png": "montage.png, gradcam.png",
    "application/gzip": "candidate_mask.nii.gz, segmentation.nii.gz (BraTS labels 0, 1, 2, "
                        "4), heatmap.nii.gz (NIfTI-1, gzip)",
    "application/json": "summary.json (the pipeline's whole summary), measurements.json",
    "text/csv": "measurements.csv (one row; the RANO measurement in rano_* columns)",
}


@bp.after_request
def no_store(response: Response) -> Response:
    """Return `response` marked uncacheable: API answers carry patient-derived results."""
    response.headers["Cache-Control"] = "no-store"  # also over send_file's "no-cache"
    return response


@bp.route("/openapi.json", tags=["meta"])
@bp.doc(operationId="getOpenApi", security=[],
        responses={"200": {"description": "The OpenAPI 3.1 document.",
                           "content": {"application/json": {"schema": {"type": "object"}}}}})
def openapi() -> Response:
    """This OpenAPI document (no token needed)."""
    # The API's own mount point (with any proxy prefix), taken from where this route answers.
    return jsonify(openapi_document(url_for("api.openapi").rsplit("/", 1)[0]))


@bp.route("/cases", methods=["POST"], tags=["cases"])
@authenticated
@bp.arguments(UploadSchema, location="multipart", unknown=None)
@bp.response(201, CaseCreatedSchema, description="The case is stored and queued.", headers={
    "Location": {"description": "The URL of the new case.", "schema": {"type": "string"}},
})
@bp.alt_response(413, schema=ErrorSchema,
                 description="The request is larger than the server's upload limit.")
@bp.doc(operationId="createCase", responses={"201": {"links": {
    "GetCase": {"operationId": "getCase", "parameters": {"case_id": "$response.body#/id"}},
    "DeleteCase": {"operationId": "deleteCase",
                   "parameters": {"case_id": "$response.body#/id"}},
}}})
def create_case(upload: dict[str, Any]) -> tuple[dict[str, str], int, dict[str, str]]:
    """Upload one patient's four sequences and queue the analysis

    The files are checked as on the upload page (NIfTI content, 3D, at most 512 voxels per side,
    one shared voxel grid). A refused upload keeps nothing; `field` names the field at fault.
    ---
    Refuses (400) what `store_upload` refuses; 413 past MAX_CONTENT_LENGTH.
    """
    user = api_user()
    files = {sequence: upload[sequence] for sequence in SEQUENCES}
    try:
        case = store_upload(files, user.id, upload.get("pseudonym"))
    except UploadError as exc:
        abort(400, message=str(exc), field=exc.field)
    audit("upload", user_id=user.id, case_id=case.id, detail="api")
    enqueue_case(case)
    db.session.commit()
    url = url_for("api.get_case", case_id=case.id)
    return {"id": case.id, "status": case.status, "url": url}, 201, {"Location": url}


@bp.route("/cases", tags=["cases"])
@authenticated
@bp.arguments(PageQuerySchema, location="query", unknown=None)
@bp.response(200, CasePageSchema, description="One page of cases.")
@bp.doc(operationId="listCases")
def list_cases(query: dict[str, int]) -> dict[str, Any]:
    """List the caller's cases (all cases for an admin), newest first

    Other query parameters, and values out of range, answer 400 with `field` set.
    """
    page, per_page = query["page"], query["per_page"]
    result = db.paginate(visible_cases(api_user()), page=page, per_page=per_page,
                         error_out=False, count=True)
    return {"items": result.items, "page": page, "per_page": per_page,
            "total": result.total or 0, "pages": result.pages}


@bp.route("/cases/<case_id:case_id>", tags=["cases"], parameters=[CASE_ID])
@authenticated
@bp.response(200, CaseSchema, description="The case.")
@bp.alt_response(404, schema=ErrorSchema, description=NOT_FOUND)
@bp.doc(operationId="getCase")
def get_case(case_id: str) -> Case:
    """Progress of a case; its result once done, its error once failed

    Poll until `status` is `done`, `needs_review` or `failed`. `result` is null until then;
    `files` lists the artefacts that exist. `needs_review`: the files look swapped
    (`result.sequences`, `result.message`); answer with `POST /cases/{case_id}/sequences`.
    """
    user = api_user()
    case = case_or_404(case_id, user)
    if has_result(case):
        # Polls of a queued or running case show no result and are not worth an audit row.
        audit("case_view", user_id=user.id, case_id=case.id, detail="api")
        db.session.commit()
    return case


@bp.route("/cases/<case_id:case_id>/sequences", methods=["POST"], tags=["cases"],
          parameters=[CASE_ID])
@authenticated
@bp.arguments(SequenceActionSchema, location="json",
              example={"action": "reassign"})
@bp.response(202, CaseSchema, description="The answer is applied and the case is queued again.")
@bp.alt_response(404, schema=ErrorSchema, description=NOT_FOUND)
@bp.alt_response(409, schema=ErrorSchema,
                 description="The case is not waiting for a sequence review (`needs_review`).")
@bp.doc(operationId="answerSequenceReview")
def answer_sequence_review(answer: dict[str, Any], case_id: str) -> tuple[Case, int]:
    """Answer a sequence review: reassign the files, or keep the slots and continue

    Only for a case whose `status` is `needs_review`. `{"action": "reassign"}` moves each file to
    the sequence the model suggests (`result.sequences.assignment`); with `"assignment"`
    (`{"flair": "t2", "t1": "t1", "t1ce": "t1ce", "t2": "flair"}`: the file in the FLAIR slot is
    T2, ...) to the sequences given. `{"action": "confirm"}` keeps the slots as uploaded; the
    analysis then goes on and `result.sequences.confirmed_by_user` records it. Either way the case
    is queued again: poll it as after an upload.
    ---
    Refuses (400) an assignment that is not a permutation of the four sequences, one that moves
    nothing, and one sent with `confirm`; 409 when the case is not in `needs_review`.
    """
    user = api_user()
    case = case_or_404(case_id, user)
    try:
        if answer["action"] == CONFIRM:
            confirm_sequences(case, user.id, via="api")
        else:
            reassign_sequences(case, user.id, answer.get("assignment"), via="api")
    except SequenceActionError as exc:
        abort(exc.status, message=str(exc), field=exc.field)
    db.session.refresh(case)
    return case, 202


@bp.route("/cases/<case_id:case_id>", methods=["DELETE"], tags=["cases"], parameters=[CASE_ID])
@authenticated
@bp.response(204, description="Deleted.")
@bp.alt_response(404, schema=ErrorSchema, description=NOT_FOUND)
@bp.doc(operationId="deleteCase")
def remove_case(case_id: str) -> None:
    """Delete a case with its uploaded files and artefacts"""
    user = api_user()
    delete_case(case_or_404(case_id, user), user.id)


@bp.route(f"/cases/<case_id:case_id>/files/<any({NAMES}):name>", tags=["cases"],
          parameters=[CASE_ID, FILE_NAME])
@authenticated
@bp.alt_response(404, schema=ErrorSchema, description=NOT_FOUND + " Also for an artefact not "
                 "written yet.")
@bp.doc(operationId="getCaseFile", responses={"200": {
    "description": "The file: " + "; ".join(f"{kind} for {names}"
                                            for kind, names in FILE_TYPES.items()),
    "content": {kind: {"schema": {"type": "object"} if kind == "application/json"
                       else {"type": "string", "format": "binary"}} for kind in FILE_TYPES},
}})
def case_file(case_id: str, name: str) -> Response:
    """Download an artefact of a finished case

    404 for an unknown name, and before the worker has written it.
    """
    user = api_user()
    case = case_or_404(case_id, user)
    path, mimetype = artefact_path(case, name)
    audit("case_file", user_id=user.id, case_id=case.id, detail=f"api {name}")
    db.session.commit()
    return send_file(path, mimetype=mimetype, max_age=0)


@bp.route("/cases/<case_id:case_id>/files/report.pdf", tags=["cases"], parameters=[CASE_ID])
@authenticated
@bp.alt_response(404, schema=ErrorSchema, description=NOT_FOUND + " Also before the case has a "
                 "result.")
@bp.doc(operationId="getCaseReport", responses={"200": {
    "description": "The printable report (PDF), made now from the stored result.",
    "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
}})
def case_report(case_id: str) -> Response:
    """Download the printable PDF report of a finished case

    Made on request from the stored result: the case, the outcome (class, probabilities and
    uncertainty only for a glioma subtype; otherwise the reason), tumour type and
    in-distribution score, measurements, the montage and Grad-CAM figures, the models, and the
    demo-model disclaimer on every page. 404 until the case has a result.
    """
    from app.cases.report import render_report, report_name

    user = api_user()
    case = case_or_404(case_id, user)
    if not has_result(case):
        abort(404, message="The case has no result yet.")
    pdf = render_report(case)
    audit("case_file", user_id=user.id, case_id=case.id, detail="api report.pdf")
    db.session.commit()
    return send_file(io.BytesIO(pdf), mimetype="application/pdf", download_name=report_name(case))
