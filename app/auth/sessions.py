"""Sign-in sessions: server-side revocation, idle timeout, absolute lifetime, remember-me.

What Flask-Login keeps in the session and in the remember cookie is
``"<user id>:<session token>:<login time>"``. The session token lives in the user's row; logout,
a password change or reset, and deactivation rotate it, so every earlier session cookie and
remember cookie of that user stops working at once, on every device (the cookies are signed
client-side copies; only a server-side value can revoke them).

- Idle timeout (SESSION_IDLE_MINUTES): a session unused that long ends. The status polling of an
  open result page does not count as use.
- Absolute lifetime (SESSION_LIFETIME_HOURS): a session ends that long after it began, used or not.
- Remember me (REMEMBER_ME_DAYS, at most 14, 0 turns it off): a browser may open a new session
  without the password until that many days after the password login; the login time inside the
  signed cookie is checked here, not only the cookie's expiry date.
"""

from __future__ import annotations

import time

from flask import Flask, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_user, user_loaded_from_cookie
from flask_login.config import COOKIE_NAME
from werkzeug.wrappers import Response

from app.extensions import db
from app.models import User

AUTH_AT = "_auth_at"
SEEN_AT = "_seen_at"
# Flask-Login's own keys, dropped when a session ends by timeout (the remember cookie is kept).
_LOGIN_KEYS = ("_user_id", "_fresh", "_id", AUTH_AT, SEEN_AT)
# Requests that do not count as activity for the idle timeout (background polling).
PASSIVE_ENDPOINTS = frozenset({"cases.status"})
# What a user who must change a one-time password may still reach.
PASSWORD_CHANGE_ENDPOINTS = frozenset(
    {"auth.account", "auth.change_password", "auth.logout", "static", "main.healthz"}
)


def now() -> float:
    """Return the current time in seconds since the epoch (one clock for every session check)."""
    return time.time()


def _remember_seconds() -> int:
    return int(current_app.config["REMEMBER_ME_DAYS"]) * 86400


def _lifetime_seconds() -> int:
    return int(current_app.config["SESSION_LIFETIME_HOURS"]) * 3600


def _idle_seconds() -> int:
    return int(current_app.config["SESSION_IDLE_MINUTES"]) * 60


def load_user(session_id: str) -> User | None:
    """Return the active user named by a session or remember-cookie id, or None.

    Refuses (None) a malformed id, a stale session token (the user logged out, changed or had
    their password reset, or was deactivated since), an inactive account, and a login older
    than the longest a session may live (the remember-me period, or the absolute lifetime).
    """
    parts = session_id.split(":")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[2].isdigit():
        return None
    user = db.session.get(User, int(parts[0]))
    if user is None or not user.is_active or not user.matches_session_token(parts[1]):
        return None
    longest = max(_remember_seconds(), _lifetime_seconds())
    if now() - int(parts[2]) > longest:
        return None
    return user


def start_session(user: User, remember: bool = False) -> None:
    """Log `user` in for this browser: a fresh session, and a remember cookie when asked and on."""
    remember = bool(remember) and _remember_seconds() > 0
    session.clear()  # no state from before the login survives it (session fixation)
    login_user(user, remember=remember)
    began = int(now())
    session["_user_id"] = f"{user.get_id()}:{began}"
    session[AUTH_AT] = began
    session[SEEN_AT] = began


def end_all_sessions(user: User) -> None:
    """Invalidate every session and remember cookie of `user` (the caller commits)."""
    user.rotate_session_token()


def _expire_session(message: str, *, forget: bool = False) -> None:
    """Drop the login from the session; `forget` also deletes the remember cookie."""
    for key in _LOGIN_KEYS:
        session.pop(key, None)
    if forget:
        session["_remember"] = "clear"
    cookie = current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME)
    if forget or cookie not in request.cookies:  # else the remember cookie opens a new session
        flash(message, "info")


def enforce_session_lifetime() -> None:
    """End this request's session when idle too long or past its lifetime; else mark it used.

    Runs before every request. A session without its timestamps (made by older code) ends too.
    """
    if "_user_id" not in session:
        return
    moment = now()
    began, seen = session.get(AUTH_AT), session.get(SEEN_AT)
    if not isinstance(began, int) or not isinstance(seen, int):
        # A remember cookie that no longer loads (stale token) leaves such a session: forget it.
        _expire_session("Please log in again.", forget=True)
    elif moment - began > _lifetime_seconds():
        _expire_session("Your session reached its maximum length; please log in again.")
    elif moment - seen > _idle_seconds():
        _expire_session("Your session expired after a period of inactivity; please log in again.")
    elif request.endpoint not in PASSIVE_ENDPOINTS:
        session[SEEN_AT] = int(moment)


def require_password_change() -> Response | None:
    """Send a user holding a one-time password to the account page until they change it.

    Returns the redirect, or None to let the request through. API calls (bearer tokens) are
    not affected: they do not use the session.
    """
    if request.endpoint in PASSWORD_CHANGE_ENDPOINTS or request.blueprint == "api":
        return None
    if current_user.is_authenticated and current_user.must_change_password:
        flash("Please choose a new password before you continue.", "info")
        return redirect(url_for("auth.account"))
    return None


def _restored_from_cookie(_app: Flask, user: User) -> None:
    """A remember cookie opened a new session: it starts its own idle and lifetime clocks."""
    began = int(now())
    session[AUTH_AT] = began
    session[SEEN_AT] = began


def init_sessions(app: Flask) -> None:
    """Install the session checks on `app` (user loader, lifetime hook, cookie-restore hook)."""
    from app.extensions import login_manager

    login_manager.user_loader(load_user)
    app.before_request(enforce_session_lifetime)
    app.before_request(require_password_change)
    user_loaded_from_cookie.connect(_restored_from_cookie, app)
