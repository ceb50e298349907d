"""Bearer-token authentication for the REST API (personal tokens, stored hashed)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from flask import g, jsonify, request
from sqlalchemy import select, update
from werkzeug.wrappers import Response

from app.audit import audit
from app.extensions import db
from app.models import ApiToken, User
from app.models.base import utcnow
from app.models.token import hash_token

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

REALM = "GliomaLens API"
# Writing last_used_at on every request would turn each poll into a database write; once a
# minute is precise enough to see which tokens are still in use.
LAST_USED_RESOLUTION = timedelta(minutes=1)

MISSING = "Authentication required: send the header 'Authorization: Bearer <token>'."
INVALID = "The token is not valid: it is unknown or was revoked."
DISABLED = "The account that owns this token is disabled."


def unauthorized(message: str, *, token_given: bool) -> Response:
    """Return a 401 JSON response with the RFC 6750 `WWW-Authenticate: Bearer` challenge."""
    challenge = f'Bearer realm="{REALM}"'
    if token_given:
        challenge += ', error="invalid_token"'
    response = jsonify(error=message, status=401)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = challenge
    return response


def bearer_token() -> str | None:
    """Return the token of the request's `Authorization: Bearer` header, or None without one.

    Refuses (returns None for) other schemes, such as Basic, and an empty token.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _touch(token: ApiToken) -> None:
    now = utcnow()
    if token.last_used_at is not None and now - _as_utc(token.last_used_at) < LAST_USED_RESOLUTION:
        return
    db.session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
    db.session.commit()


def authenticate() -> User | Response:
    """Return the user owning the request's bearer token, or the 401 response to send instead.

    Refuses a missing or malformed header, an unknown token, a revoked token and a token whose
    user is inactive. A session cookie is never looked at.
    """
    plain = bearer_token()
    if plain is None:
        return unauthorized(MISSING, token_given=False)
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(plain)))
    if token is None:
        return unauthorized(INVALID, token_given=True)
    if not token.is_active:
        log.info("refused revoked API token %s (user %s)", token.prefix, token.user_id)
        audit("api_token_refused", user_id=token.user_id, detail=f"revoked token {token.prefix}")
        db.session.commit()
        return unauthorized(INVALID, token_given=True)
    user = token.user
    if user is None or not user.is_active:
        log.info("refused API token %s of inactive user %s", token.prefix, token.user_id)
        audit("api_token_refused", user_id=token.user_id, detail=f"inactive user {token.prefix}")
        db.session.commit()
        return unauthorized(DISABLED, token_given=True)
    _touch(token)
    g.api_token = token
    return user


def token_required(view: F) -> F:
    """Wrap an API view so it runs only for a valid bearer token; `g.api_user` is its user.

    The wrapped view answers 401 (JSON, with `WWW-Authenticate: Bearer`) for a missing, unknown
    or revoked token and for an inactive user; cookies are ignored.
    """

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        outcome = authenticate()
        if isinstance(outcome, Response):
            return outcome
        g.api_user = outcome
        return view(*args, **kwargs)

    return cast(F, wrapped)


def api_user() -> User:
    """Return the user authenticated by `token_required` for this request.

    Refuses (RuntimeError) to be called from a view that is not wrapped in `token_required`.
    """
    user = g.get("api_user")
    if user is None:
        raise RuntimeError("api_user() used outside a token_required view")
    return cast(User, user)
