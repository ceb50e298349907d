"""Throttling with Flask-Limiter: failed logins, failed API token checks and uploads.

Counters must be shared by every web process, so they live in Redis when RATELIMIT_STORAGE_URI
names one (the scaled-out mode), and otherwise in the application's own database through
:class:`DatabaseStorage` below: the `limits` library has no SQL storage, and the embedded mode
has no other store that all gunicorn processes share (in-process memory would give each
process its own counters, multiplying the allowance by the number of processes).

Failed logins are limited per account (the email tried) and per client address, each with
tiers that grow (e.g. 5 a minute, 10 an hour, 30 a day): after a few failures an account waits a
minute, after more an hour, then a day. Only failures count. A refused attempt answers 429 with
`Retry-After` and leaves an audit event.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time

from flask import Flask, current_app, request
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address
from limits.storage import Storage
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from werkzeug.wrappers import Response

from app.extensions import db
from app.models import RateLimitCounter

log = logging.getLogger(__name__)

DB_STORAGE_URI = "gliomalens+db://"
_PURGE_EVERY = 200  # about one call in this many also deletes expired counters


def _db_key(key: str) -> str:
    """Return `key` as stored: long keys (attacker-chosen emails) become a prefix and a hash."""
    if len(key) <= 200:
        return key
    return f"{key[:120]}#{hashlib.sha256(key.encode()).hexdigest()}"


class DatabaseStorage(Storage):
    """A `limits` storage on the application's database (fixed-window counters).

    Each call runs in its own short transaction on its own connection, never in the request's
    session, so a rate-limit hit can neither commit nor roll back the request's work.
    """

    STORAGE_SCHEME = ["gliomalens+db"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: object):
        """Create the storage; the database is the current app's (nothing is opened here)."""
        super().__init__(uri, wrap_exceptions=wrap_exceptions)

    @property
    def base_exceptions(self) -> type[Exception]:
        """Return the errors that mean "the storage failed"."""
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add `amount` to the counter `key` (a new window of `expiry` s if none); return it."""
        table = RateLimitCounter.__table__
        key = _db_key(key)
        now = time.time()
        with db.engine.begin() as conn:
            if random.randrange(_PURGE_EVERY) == 0:
                conn.execute(delete(table).where(table.c.expires_at <= now))
            for _ in range(2):
                # One statement: restart an expired window, or count in the current one.
                conn.execute(
                    update(table)
                    .where(table.c.key == key, table.c.expires_at <= now)
                    .values(count=0, expires_at=now + expiry)
                )
                done = conn.execute(
                    update(table).where(table.c.key == key).values(count=table.c.count + amount)
                )
                if done.rowcount:
                    break
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(table).values(key=key, count=amount, expires_at=now + expiry)
                        )
                    break
                except IntegrityError:
                    continue  # another process created it first: count in it
            return int(conn.execute(select(table.c.count).where(table.c.key == key)).scalar_one())

    def _row(self, key: str) -> tuple[int, float] | None:
        table = RateLimitCounter.__table__
        key = _db_key(key)
        with db.engine.connect() as conn:
            row = conn.execute(
                select(table.c.count, table.c.expires_at).where(table.c.key == key)
            ).first()
        if row is None or row.expires_at <= time.time():
            return None
        return int(row.count), float(row.expires_at)

    def get(self, key: str) -> int:
        """Return the counter `key` in its current window (0 when none)."""
        row = self._row(key)
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        """Return when the current window of `key` ends (seconds since the epoch)."""
        row = self._row(key)
        return row[1] if row else time.time()

    def check(self) -> bool:
        """Return whether the database answers."""
        try:
            with db.engine.connect() as conn:
                conn.execute(select(1))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        """Delete every counter; return how many there were."""
        with db.engine.begin() as conn:
            return conn.execute(delete(RateLimitCounter.__table__)).rowcount

    def clear(self, key: str) -> None:
        """Delete the counter `key`."""
        with db.engine.begin() as conn:
            conn.execute(delete(RateLimitCounter.__table__).where(
                RateLimitCounter.__table__.c.key == _db_key(key)))


def client_address() -> str:
    """Return the client's address (ProxyFix has applied X-Forwarded-For from trusted proxies)."""
    return get_remote_address() or "unknown"


def attempted_account() -> str:
    """Return the key of the account a login attempt names: its normalised email."""
    email = (request.form.get("email") or "").strip().lower()[:254]
    return f"account:{email}"


def _failed(response: Response) -> bool:
    return response.status_code == 401


def _audit_breach(limit: RequestLimit) -> None:
    """Leave an audit event for a refused (429) request; never fails the request."""
    from app.audit import audit, printable

    detail = f"{limit.limit} exceeded; {printable(limit.key.removeprefix('LIMITER/'), 160)}"
    try:
        audit("throttled", detail=detail)
        db.session.commit()
    except SQLAlchemyError as exc:  # the storage may be the database that failed
        db.session.rollback()
        log.warning("could not audit a throttled request: %s", exc)


# Limit providers, keys and callbacks are module-level functions, not lambdas: Flask-Limiter
# de-duplicates limits by equality, so binding a second app (tests) adds no second copy.
def _login_account_limit() -> str:
    return current_app.config["LOGIN_LIMIT_ACCOUNT"]


def _login_address_limit() -> str:
    return current_app.config["LOGIN_LIMIT_ADDRESS"]


def _api_token_limit() -> str:
    return current_app.config["API_TOKEN_LIMIT"]


def _upload_limit() -> str:
    return current_app.config["UPLOAD_LIMIT"]


def _upload_key() -> str:
    from flask_login import current_user

    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"address:{client_address()}"


limiter = Limiter(key_func=client_address, headers_enabled=True)


def login_limits(view: object) -> object:
    """Decorate the login view: failed attempts limited per account and per client address."""
    view = limiter.limit(
        _login_account_limit, key_func=attempted_account, methods=["POST"],
        deduct_when=_failed, on_breach=_audit_breach, scope="login-account",
    )(view)
    return limiter.limit(
        _login_address_limit, key_func=client_address, methods=["POST"],
        deduct_when=_failed, on_breach=_audit_breach, scope="login-address",
    )(view)


def seconds_until_reset() -> int | None:
    """Return the whole seconds until the limit this request hit resets, or None if none was."""
    current = limiter.current_limit
    if current is None or not current.breached:
        return None
    return max(1, int(current.reset_at - time.time()) + 1)


def register_limits(app: Flask) -> None:
    """Bind the limiter and limit the API's token checks and uploads (web form and API)."""
    if not app.config.get("RATELIMIT_STORAGE_URI"):
        app.config["RATELIMIT_STORAGE_URI"] = DB_STORAGE_URI
    limiter.init_app(app)
    api = app.blueprints.get("api")
    if api is not None:
        limiter.limit(
            _api_token_limit, key_func=client_address, deduct_when=_failed,
            on_breach=_audit_breach, scope="api-token",
        )(api)
    for endpoint in ("cases.upload", "api.create_case"):
        view = app.view_functions.get(endpoint)
        if view is not None:
            app.view_functions[endpoint] = limiter.limit(
                _upload_limit, key_func=_upload_key, methods=["POST"],
                on_breach=_audit_breach, scope="upload",
            )(view)
    limiter.exempt(app.view_functions["main.healthz"])
