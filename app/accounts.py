"""Creating accounts: shared by the admin page, the CLI and the run command."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select

from app.extensions import db
from app.models import Role, User


class AccountError(ValueError):
    """An account cannot be created or changed as asked; the message says why."""


def create_user(
    email: str,
    password: str,
    *,
    role: str = Role.CLINICIAN.value,
    display_name: str = "",
    must_change_password: bool = False,
) -> User:
    """Create and add (not commit) a user; refuses a duplicate email, weak password or bad role.

    `must_change_password` marks a one-time password the user must replace at first login.
    """
    email = email.strip().lower()
    if not email or "@" not in email:
        raise AccountError("A valid email address is required.")
    if role not in {r.value for r in Role}:
        raise AccountError(f"Unknown role {role!r}.")
    if db.session.scalar(select(User).where(User.email == email)) is not None:
        raise AccountError(f"A user with email {email} already exists.")
    user = User(
        email=email,
        display_name=display_name.strip() or email.split("@")[0],
        role=role,
        must_change_password=must_change_password,
    )
    try:
        user.set_password(password)
    except ValueError as exc:
        raise AccountError(str(exc)) from exc
    db.session.add(user)
    return user


def user_count() -> int:
    """Return how many accounts exist."""
    return db.session.scalar(select(func.count()).select_from(User)) or 0


def random_password() -> str:
    """Return a new random password (about 128 bits, URL-safe characters)."""
    return secrets.token_urlsafe(16)
