"""User accounts: clinicians and administrators."""

from __future__ import annotations

import enum
import hmac
import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db
from app.models.base import UTCDateTime, utcnow
from app.passwords import MIN_PASSWORD_LENGTH, password_problem

__all__ = ["MIN_PASSWORD_LENGTH", "Role", "User", "check_dummy_password", "new_session_token"]

# scrypt is Werkzeug's memory-hard default; spelled out so a Werkzeug change cannot weaken it.
PASSWORD_METHOD = "scrypt"
def new_session_token() -> str:
    """Return a fresh random per-user session token (128 bits as 32 hex characters)."""
    return secrets.token_hex(16)


class Role(enum.StrEnum):
    """What a user may do: clinicians see their own cases, admins see all and manage users."""

    CLINICIAN = "clinician"
    ADMIN = "admin"


class User(UserMixin, db.Model):
    """A person who can log in."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, index=True)
    display_name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default=Role.CLINICIAN.value)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    # Part of every session and remember cookie (via get_id); rotating it logs out everywhere.
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)
    # Set for one-time passwords (first admin, admin resets): change it before anything else.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)

    def get_id(self) -> str:
        """Return "<id>:<session token>", what Flask-Login keeps in the session and cookie."""
        if not self.session_token:
            self.session_token = new_session_token()
        return f"{self.id}:{self.session_token}"

    def matches_session_token(self, token: str) -> bool:
        """Return whether `token` is this user's current session token (constant time)."""
        return bool(self.session_token) and hmac.compare_digest(
            self.session_token.encode(), token.encode()
        )

    def rotate_session_token(self) -> None:
        """Invalidate every session and remember cookie of this user (the caller commits)."""
        self.session_token = new_session_token()

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users at login and per request
        """Return whether the account may log in."""
        return bool(self.active)

    @property
    def is_admin(self) -> bool:
        """Return whether the user has the admin role."""
        return self.role == Role.ADMIN.value

    def set_password(self, password: str) -> None:
        """Hash and store `password` and end every session of the user (rotates the token).

        Refuses (ValueError with the reason) a password that `password_problem` objects to:
        shorter than MIN_PASSWORD_LENGTH, blank-padded, or common / easy to guess.
        """
        problem = password_problem(password, user_inputs=[self.email or ""])
        if problem:
            raise ValueError(problem)
        self.password_hash = generate_password_hash(password, method=PASSWORD_METHOD)
        self.rotate_session_token()

    def check_password(self, password: str) -> bool:
        """Return whether `password` matches the stored hash."""
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"


_DUMMY_HASH: list[str] = []


def check_dummy_password(password: str) -> bool:
    """Spend the time of one real password check on a dummy hash; always returns False.

    Used for unknown accounts, so a failed login takes as long whether the email exists or not.
    """
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(generate_password_hash(secrets.token_hex(16), method=PASSWORD_METHOD))
    check_password_hash(_DUMMY_HASH[0], password)
    return False
