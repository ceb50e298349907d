"""Login, logout and the account page (with personal API tokens)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.audit import audit
from app.auth import bp
from app.auth.forms import LoginForm, TokenForm
from app.extensions import db
from app.models import ApiToken, User
from app.models.base import utcnow

GENERIC_LOGIN_ERROR = "Invalid email or password."


def safe_next_url(target: str | None) -> str | None:
    """Return `target` if it is a relative path on this host, else None (no open redirects)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target:
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    """Show the login form; on success go to `next` (if safe) or the upload page."""
    if current_user.is_authenticated:
        return redirect(url_for("cases.upload"))
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None or not user.check_password(form.password.data) or not user.is_active:
            if user is not None:
                user.failed_logins += 1
            reason = "inactive" if user is not None and not user.is_active else "bad credentials"
            audit("login_failed", user_id=user.id if user else None, detail=f"{email}: {reason}")
            db.session.commit()
            flash(GENERIC_LOGIN_ERROR, "error")
            return render_template("auth/login.html", form=form), 401
        user.failed_logins = 0
        user.last_login_at = utcnow()
        login_user(user, remember=form.remember.data)
        audit("login", user_id=user.id)
        db.session.commit()
        return redirect(safe_next_url(request.args.get("next")) or url_for("cases.upload"))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    """Log out (POST only, with CSRF) and return to the login page."""
    audit("logout", user_id=current_user.id)
    db.session.commit()
    logout_user()
    flash("You have been logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account() -> str:
    """Show the account page; a POST creates a personal API token and shows it once."""
    form = TokenForm()
    new_token = None
    if form.validate_on_submit():
        row, new_token = ApiToken.issue(current_user.id, form.name.data.strip())
        db.session.add(row)
        audit("token_created", user_id=current_user.id, detail=row.name)
        db.session.commit()
    tokens = db.session.scalars(
        select(ApiToken)
        .where(ApiToken.user_id == current_user.id)
        .order_by(ApiToken.created_at.desc())
    ).all()
    return render_template("auth/account.html", form=form, tokens=tokens, new_token=new_token)


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
