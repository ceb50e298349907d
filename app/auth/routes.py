"""Login, logout and the account page (with personal API tokens)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, logout_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.audit import audit, audit_unknown_login
from app.auth import bp
from app.auth.forms import ChangePasswordForm, LoginForm, TokenForm
from app.auth.sessions import end_all_sessions, start_session
from app.extensions import db
from app.models import ApiToken, User
from app.models.base import utcnow
from app.models.user import check_dummy_password
from app.ratelimit import login_limits

GENERIC_LOGIN_ERROR = "Invalid email or password."


def safe_next_url(target: str | None) -> str | None:
    """Return `target` if it is a relative path on this host, else None (no open redirects)."""
    if not target:
        return None
    # Control characters and blanks (CR/LF header injection) never belong in a local path.
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):
        return None
    try:
        parts = urlsplit(target)
    except ValueError:
        return None
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target:
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@login_limits
def login() -> Response | str | tuple[str, int]:
    """Show the login form; on success go to `next` (if safe) or the upload page.

    Unknown emails cost the same password-hash time as known ones (no enumeration by timing)
    and are audited in aggregate (one row per client address and minute).
    """
    if current_user.is_authenticated:
        return redirect(url_for("cases.upload"))
    form = LoginForm()
    remember_on = current_app.config["REMEMBER_ME_DAYS"] > 0
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            check_dummy_password(form.password.data)
            audit_unknown_login(email)
            db.session.commit()
            flash(GENERIC_LOGIN_ERROR, "error")
            return render_template("auth/login.html", form=form, remember_on=remember_on,
                                   failed=True), 401
        if not user.check_password(form.password.data) or not user.is_active:
            user.failed_logins += 1
            reason = "inactive" if not user.is_active else "bad credentials"
            audit("login_failed", user_id=user.id, detail=reason)
            db.session.commit()
            flash(GENERIC_LOGIN_ERROR, "error")
            return render_template("auth/login.html", form=form, remember_on=remember_on,
                                   failed=True), 401
        user.failed_logins = 0
        user.last_login_at = utcnow()
        start_session(user, remember=bool(form.remember.data))
        audit("login", user_id=user.id)
        db.session.commit()
        if user.must_change_password:
            flash("Please choose a new password before you continue.", "info")
            return redirect(url_for("auth.account"))
        return redirect(safe_next_url(request.args.get("next")) or url_for("cases.upload"))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form, remember_on=remember_on), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    """Log out (POST only, with CSRF) everywhere: every session and remember cookie ends."""
    user = db.session.get(User, current_user.id)
    end_all_sessions(user)
    audit("logout", user_id=user.id)
    db.session.commit()
    logout_user()
    flash("You have been logged out.", "info")
    return redirect(url_for("auth.login"))


def _account_page(
    token_form: TokenForm, password_form: ChangePasswordForm, new_token: str | None = None
) -> str:
    tokens = db.session.scalars(
        select(ApiToken)
        .where(ApiToken.user_id == current_user.id)
        .order_by(ApiToken.created_at.desc())
    ).all()
    return render_template(
        "auth/account.html", form=token_form, password_form=password_form, tokens=tokens,
        new_token=new_token,
    )


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account() -> str:
    """Show the account page; a POST creates a personal API token and shows it once."""
    form = TokenForm()
    new_token = None
    if form.is_submitted() and current_user.must_change_password:
        # A one-time password must not mint API tokens (they would outlive its replacement).
        form.name.errors = ["Choose your own password first."]
    elif form.validate_on_submit():
        row, new_token = ApiToken.issue(current_user.id, form.name.data.strip())
        db.session.add(row)
        audit("token_created", user_id=current_user.id, detail=row.name)
        db.session.commit()
        form = TokenForm(formdata=None)  # the name field starts empty for the next token
    return _account_page(form, ChangePasswordForm(formdata=None), new_token)


@bp.route("/account/password", methods=["POST"])
@login_required
def change_password() -> Response | tuple[str, int]:
    """Change the current user's password; every other session and remember cookie ends.

    Refuses (400, on the account page) a wrong current password, two different new ones, the
    same password again, and anything the password rule (app/passwords.py) refuses.
    """
    form = ChangePasswordForm()
    user = db.session.get(User, current_user.id)
    if form.validate_on_submit():
        if not user.check_password(form.current_password.data):
            form.current_password.errors = ["This is not your current password."]
        elif form.new_password.data == form.current_password.data:
            form.new_password.errors = ["Choose a password different from the current one."]
        else:
            try:
                user.set_password(form.new_password.data)  # rotates the session token
            except ValueError as exc:
                form.new_password.errors = [str(exc)]
            else:
                user.must_change_password = False
                audit("password_changed", user_id=user.id)
                db.session.commit()
                start_session(user)  # this browser stays signed in, with a fresh session
                flash("Your password was changed; other sessions were signed out.", "info")
                return redirect(url_for("auth.account"))
    return _account_page(TokenForm(formdata=None), form), 400


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int) -> Response:
    """Revoke one of the current user's tokens; others' tokens answer 404."""
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != current_user.id:
        abort(404)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit("token_revoked", user_id=current_user.id, detail=token.name)
        db.session.commit()
    flash(f"Token “{token.name}” revoked.", "info")
    return redirect(url_for("auth.account"))
