"""Bearer-token authentication for the REST API (personal tokens, stored hashed).

Flask-HTTPAuth's `HTTPTokenAuth` reads the `Authorization: Bearer` header; `verify_token` below
decides, and `refuse` answers 401 with the RFC 6750 challenge. `authenticated` wraps a view and
documents the 401 in the OpenAPI document.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar, cast

from flask import g, jsonify
from flask_httpauth import HTTPTokenAuth
from sqlalchemy import select, update
from werkzeug.wrappers import Response

from app.api.schemas import ErrorSchema
from app.audit import audit
from app.extensions import db
from app.models import ApiToken, User
from app.models.base import utcnow
from app.models.token import hash_token

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

REALM = "GliomaLens API"
SECURITY_SCHEME = "bearerAuth"
# Writing last_used_at on every request would turn each poll into a database write; once a
# minute is precise enough to see which tokens are still in use.
LAST_USED_RESOLUTION = timedelta(minutes=1)

MISSING = "Authentication required: send the header 'Authorization: Bearer <token>'."
INVALID = "The token is not valid: it is unknown or was revoked."
DISABLED = "The account that owns this token is disabled."

token_auth = HTTPTokenAuth(scheme="Bearer", realm=REALM)


def _touch(token: ApiToken) -> None:
    now = utcnow()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    db.session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
    db.session.commit()


def _refused(token: ApiToken, message: str, detail: str) -> None:
    log.info("refused API token %s (user %s): %s", token.prefix, token.user_id, detail)
    audit("api_token_refused", user_id=token.user_id, detail=f"{detail} {token.prefix}")
    db.session.commit()
    g.api_refusal = message


@token_auth.verify_token
def verify_token(plain: str) -> User | None:
    """Return the user owning the bearer token `plain`, or None to refuse it (then 401).

    Refuses an unknown token, a revoked token and a token whose user is inactive; the last two
    are audited. Flask-HTTPAuth calls this only when a Bearer token was sent; a session cookie
    is never looked at.
    """
    g.api_refusal = INVALID
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(plain)))
    if token is None:
        return None
    if not token.is_active:
        _refused(token, INVALID, "revoked token")
        return None
    user = token.user
    if user is None or not user.is_active:
        _refused(token, DISABLED, "inactive user")
        return None
    _touch(token)
    g.api_token = token
    return user


@token_auth.error_handler
def refuse(status: int) -> Response:
    """Return the 401 JSON answer with a `WWW-Authenticate: Bearer` challenge (RFC 6750).

    The challenge carries `error="invalid_token"` when a token was sent but refused.
    """
    message = g.get("api_refusal", MISSING)
    challenge = f'Bearer realm="{REALM}"'
    if message != MISSING:
        challenge += ', error="invalid_token"'
    response = jsonify(error=message, status=status)
    response.status_code = status
    response.headers["WWW-Authenticate"] = challenge
    return response


def authenticated(view: F) -> F:
    """Wrap an API view so it runs only for a valid bearer token, and document its 401.

    The wrapped view answers 401 for a missing, unknown or revoked token and for an inactive
    user; `api_user()` is the token's user inside it.
    """
    from app.api import bp

    documented = bp.alt_response(
        401, schema=ErrorSchema,
        description="No token, an unknown or revoked token, or a disabled account.",
        headers={"WWW-Authenticate": {"description": "The Bearer challenge (RFC 6750).",
                                      "schema": {"type": "string"}}},
    )
    return cast(F, documented(token_auth.login_required(view)))


def api_user() -> User:
    """Return the user authenticated by `authenticated` for this request.

    Refuses (RuntimeError) to be called from a view that is not wrapped in `authenticated`.
    """
    user = token_auth.current_user()
    if user is None:
        raise RuntimeError("api_user() used outside an authenticated view")
    return cast(User, user)
