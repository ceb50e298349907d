"""Upload, list, result page, progress and files of cases."""

from __future__ import annotations

import io
import logging

from flask import (
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from app.audit import audit
from app.cases import bp
from app.cases.access import case_or_404
from app.cases.forms import ConfirmForm, UploadForm
from app.cases.lifecycle import delete_case, rerun_case
from app.cases.results import artefact_path, build_result_page, scan_file
from app.cases.schemas import STATUS_FIELDS, CaseSchema, has_result
from app.cases.sequences import SequenceActionError, confirm_sequences, reassign_sequences
from app.cases.uploads import UploadedFile, UploadError, store_upload
from app.cases.worklist import (
    CASES_PER_PAGE,
    CLASS_FILTERS,
    STATUS_LABELS,
    page_url,
    parse_filters,
    sort_links,
    worklist_query,
    worklist_row,
)
from app.errors.handlers import wants_json
from app.extensions import db
from app.models.case import FINISHED_STATUSES, pseudonym_warning
from app.pipeline.io.naming import SEQUENCES, naming_table
from app.worker.queueing import enqueue_case

log = logging.getLogger(__name__)


@bp.route("/cases")
@login_required
def index() -> str:
    """Show the worklist: the cases the user may see, searched, filtered, sorted and paged.

    The query parameters are validated by `parse_filters` (a 400 says what is allowed).
    """
    filters = parse_filters(request.args)
    cases = db.paginate(worklist_query(current_user, filters), page=filters.page,
                        per_page=CASES_PER_PAGE)
    return render_template(
        "cases/index.html", cases=cases, rows=[worklist_row(c) for c in cases.items],
        filters=filters, sorts=sort_links(filters), statuses=STATUS_LABELS,
        classes=CLASS_FILTERS, filtered=filters.args(page=1, sort="uploaded", order="desc") != {},
        prev_url=page_url(filters, cases.prev_num) if cases.has_prev else None,
        next_url=page_url(filters, cases.next_num) if cases.has_next else None,
    )


@bp.route("/cases/new", methods=["GET", "POST"])
@login_required
def upload() -> Response | str | tuple[Response | str, int]:
    """Show the upload form; a valid POST stores the case, queues it and opens its page.

    Script-driven uploads (Accept: application/json) get JSON: `{"redirect"}` or `{"errors"}`.
    """
    form = UploadForm()
    pseudonym = (form.pseudonym.data or "").strip()
    warning = pseudonym_warning(pseudonym) if request.method == "POST" else None
    if warning and not form.confirm_pseudonym.data:
        form.validate_on_submit()
        form.pseudonym.errors = [*form.pseudonym.errors, warning]
    elif form.validate_on_submit():
        files = {s: UploadedFile(form[s].data.filename or "", form[s].data.stream)
                 for s in SEQUENCES}
        try:
            case = store_upload(files, current_user.id, form.pseudonym.data)
        except UploadError as exc:
            target = form[exc.field] if exc.field else form.flair
            target.errors = [*target.errors, str(exc)]
        else:
            audit("upload", user_id=current_user.id, case_id=case.id)
            enqueue_case(case)
            db.session.commit()
            url = url_for("cases.result", case_id=case.id)
            if wants_json():
                return jsonify(redirect=url, id=case.id), 201
            return redirect(url)
    if request.method == "POST":
        if wants_json():
            return jsonify(errors=form.errors), 400
        return render_template("cases/upload.html", form=form, naming=naming_table()), 400
    return render_template("cases/upload.html", form=form, naming=naming_table())


@bp.route("/cases/<case_id:case_id>")
@login_required
def result(case_id: str) -> str:
    """Show a case: progress while it runs, the result when done, the message when it failed."""
    case = case_or_404(case_id, current_user)
    audit("case_view", user_id=current_user.id, case_id=case.id)
    db.session.commit()
    return render_template(
        "cases/result.html", case=case, result=build_result_page(case), confirm=ConfirmForm(),
        finished_statuses=sorted(FINISHED_STATUSES),
        status=CaseSchema(only=STATUS_FIELDS).dump(case),
    )


@bp.route("/cases/<case_id:case_id>/status")
@login_required
def status(case_id: str) -> Response:
    """Return the case's id, status, stage, percent, error and result as JSON (the page polls it).

    The same shape as the API's case (`CaseSchema`), limited to STATUS_FIELDS.
    """
    case = case_or_404(case_id, current_user)
    return jsonify(CaseSchema(only=STATUS_FIELDS).dump(case))


@bp.route("/cases/<case_id:case_id>/files/<name>")
@login_required
def artefact(case_id: str, name: str) -> Response:
    """Send one of the case's artefacts (montage, Grad-CAM, mask, heatmap, summary)."""
    case = case_or_404(case_id, current_user)
    path, mimetype = artefact_path(case, name)
    as_attachment = request.args.get("download") == "1"
    return send_file(path, mimetype=mimetype, as_attachment=as_attachment, max_age=0)


@bp.route("/cases/<case_id:case_id>/report.pdf")
@login_required
def report(case_id: str) -> Response:
    """Send the case's printable PDF report, made now from its stored result (404 before).

    `?download=1` sends it as an attachment. Never cached: it carries patient-derived results.
    """
    from app.cases.report import render_report, report_name

    case = case_or_404(case_id, current_user)
    if not has_result(case):
        abort(404)
    pdf = render_report(case)
    audit("case_report", user_id=current_user.id, case_id=case.id)
    db.session.commit()
    response = send_file(io.BytesIO(pdf), mimetype="application/pdf",
                         as_attachment=request.args.get("download") == "1",
                         download_name=report_name(case))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/cases/<case_id:case_id>/scans/<sequence>")
@login_required
def scan(case_id: str, sequence: str) -> Response:
    """Send one of the case's stored sequences (for the 3D viewer)."""
    case = case_or_404(case_id, current_user)
    path, mimetype = scan_file(case, sequence)
    return send_file(path, mimetype=mimetype, max_age=0)


@bp.route("/cases/<case_id:case_id>/rerun", methods=["POST"])
@login_required
def rerun(case_id: str) -> Response:
    """Queue a finished case again (after a failure, or with a new model)."""
    case = case_or_404(case_id, current_user)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    refusal = rerun_case(case, current_user.id)
    if refusal:
        flash(refusal, "info")
    return redirect(url_for("cases.result", case_id=case.id))


@bp.route("/cases/<case_id:case_id>/delete", methods=["POST"])
@login_required
def delete(case_id: str) -> Response:
    """Delete a case with its files and artefacts."""
    case = case_or_404(case_id, current_user)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    delete_case(case, current_user.id)
    flash("The case was deleted.", "info")
    return redirect(url_for("cases.index"))


@bp.route("/cases/<case_id:case_id>/sequences/reassign", methods=["POST"])
@login_required
def sequences_reassign(case_id: str) -> Response:
    """Move the files to the sequences the model suggests and re-run (a needs_review case)."""
    case = case_or_404(case_id, current_user)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        reassign_sequences(case, current_user.id)
    except SequenceActionError as exc:
        flash(str(exc), "error")
    else:
        flash("The files were moved to the suggested sequences; the analysis starts again.",
              "info")
    return redirect(url_for("cases.result", case_id=case_id))


@bp.route("/cases/<case_id:case_id>/sequences/confirm", methods=["POST"])
@login_required
def sequences_confirm(case_id: str) -> Response:
    """Keep the user's assignment of the files and continue the analysis (a needs_review case)."""
    case = case_or_404(case_id, current_user)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        confirm_sequences(case, current_user.id)
    except SequenceActionError as exc:
        flash(str(exc), "error")
    else:
        flash("Your assignment is kept; the analysis continues.", "info")
    return redirect(url_for("cases.result", case_id=case_id))
