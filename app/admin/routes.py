"""Administration: accounts, worker health and the audit log."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.accounts import AccountError, create_user
from app.admin import bp
from app.admin.audit import build_audit_page, csv_lines, filters_from, set_filter_choices
from app.admin.forms import (
    ActionForm,
    AuditFilterForm,
    CreateUserForm,
    ResetPasswordForm,
    RoleForm,
)
from app.audit import audit
from app.auth.sessions import end_all_sessions
from app.extensions import db
from app.models import AuditEvent, User
from app.models.base import utcnow
from app.models.token import revoke_all_tokens
from app.routing import page_number


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a view so only logged-in admins reach it; others get 404 (no existence leak)."""

    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_admin:
            abort(404)
        return view(*args, **kwargs)

    return wrapped


def _user_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/users", methods=["GET", "POST"])
@admin_required
def users() -> str | tuple[str, int] | Response:
    """List accounts; a POST creates one."""
    form = CreateUserForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = create_user(
                form.email.data, form.password.data,
                role=form.role.data, display_name=form.display_name.data or "",
                must_change_password=True,
            )
        except AccountError as exc:
            form.email.errors = [*form.email.errors, str(exc)]
            status = 400
        else:
            db.session.flush()
            audit("admin_create_user", user_id=current_user.id, detail=f"{user.email} {user.role}")
            db.session.commit()
            flash(f"User {user.email} created.", "info")
            return redirect(url_for("admin.users"))
    elif form.is_submitted():
        status = 400
    accounts = db.session.scalars(select(User).order_by(User.email)).all()
    events = db.session.scalars(
        select(AuditEvent).order_by(AuditEvent.created_at.desc()).limit(50)
    ).all()
    return (
        render_template(
            "admin/users.html", form=form, users=accounts, events=events,
            action=ActionForm(), reset=ResetPasswordForm(), role_form=RoleForm(),
        ),
        status,
    )


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@admin_required
def toggle_active(user_id: int) -> Response:
    """Deactivate an active account or reactivate an inactive one (not your own)."""
    user = _user_or_404(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    if user.id == current_user.id:
        flash("You cannot deactivate your own account.", "error")
        return redirect(url_for("admin.users"))
    user.active = not user.active
    # Both ways: a reactivated account starts with no session, and no old cookie comes back.
    end_all_sessions(user)
    action = "admin_activate_user" if user.active else "admin_deactivate_user"
    audit(action, user_id=current_user.id, detail=user.email)
    db.session.commit()
    flash(f"User {user.email} {'activated' if user.active else 'deactivated'}.", "info")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@admin_required
def reset_password(user_id: int) -> Response:
    """Set a new password for an account."""
    user = _user_or_404(user_id)
    form = ResetPasswordForm()
    if not form.validate_on_submit():
        flash("; ".join(e for errs in form.errors.values() for e in errs), "error")
        return redirect(url_for("admin.users"))
    try:
        user.set_password(form.password.data)  # rotates the token: every session of it ends
    except ValueError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.users"))
    user.failed_logins = 0
    user.must_change_password = True  # the admin knows it: the user picks their own next
    # A reset usually means the account may be in other hands: its API tokens end too.
    revoked = revoke_all_tokens(user.id)
    audit("admin_reset_password", user_id=current_user.id,
          detail=f"{user.email}; {revoked} API token(s) revoked")
    db.session.commit()
    tokens = f" {revoked} API token{'s' if revoked != 1 else ''} revoked." if revoked else ""
    flash(f"Password of {user.email} reset.{tokens}", "info")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/role", methods=["POST"])
@admin_required
def set_role(user_id: int) -> Response:
    """Make an account a clinician or an administrator (not your own)."""
    user = _user_or_404(user_id)
    form = RoleForm()
    if not form.validate_on_submit():
        abort(400)
    if user.id == current_user.id:
        flash("You cannot change your own role.", "error")
        return redirect(url_for("admin.users"))
    user.role = form.role.data
    audit("admin_set_role", user_id=current_user.id, detail=f"{user.email} {user.role}")
    db.session.commit()
    flash(f"{user.email} is now {user.role}.", "info")
    return redirect(url_for("admin.users"))


@bp.route("/workers")
@admin_required
def workers() -> str:
    """Show the workers seen recently: device, model served, cases done, queue depth."""
    from sqlalchemy import func

    from app.models import Case, CaseStatus
    from app.worker.registry import online_workers

    counts = dict(db.session.execute(
        select(Case.status, func.count()).group_by(Case.status)
    ).all())
    return render_template(
        "admin/workers.html", workers=online_workers(),
        queued=counts.get(CaseStatus.QUEUED.value, 0),
        running=counts.get(CaseStatus.RUNNING.value, 0),
    )


def _audit_filter_form() -> AuditFilterForm:
    form = AuditFilterForm(formdata=request.args)
    set_filter_choices(form)
    return form


@bp.route("/audit")
@admin_required
def audit_log() -> tuple[str, int]:
    """Show the audit log filtered by user, action, case and date range, one page at a time.

    Refuses (400, with the form's messages) an unknown user or action, a malformed case id or
    date, a range that ends before it starts, and a page number out of range.
    """
    form = _audit_filter_form()
    if not form.validate():
        return render_template("admin/audit.html", form=form, log=None), 400
    page = build_audit_page(filters_from(form), page_number(request.args.get("page")))
    return render_template("admin/audit.html", form=form, log=page), 200


@bp.route("/audit.csv")
@admin_required
def audit_csv() -> Response:
    """Stream the audit log as CSV, with the same filters as the page (refused the same way)."""
    form = _audit_filter_form()
    if not form.validate():
        problems = "; ".join(f"{form[name].label.text}: {' '.join(errors)}"
                             for name, errors in form.errors.items())
        abort(400, f"The filters are not valid: {problems}")
    filename = f"audit-{utcnow():%Y%m%d-%H%M%S}.csv"
    return Response(
        stream_with_context(csv_lines(filters_from(form))), mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={filename}"},
    )
