"""Personal API tokens, stored hashed."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow

TOKEN_PREFIX = "gl_"


def hash_token(token: str) -> str:
    """Return the hex sha256 of `token` (tokens are long random strings, so a fast hash is fine)."""
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(db.Model):
    """A bearer token for the REST API; only its hash is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user = relationship("User", lazy="joined")

    @classmethod
    def issue(cls, user_id: int, name: str) -> tuple[ApiToken, str]:
        """Return a new (unsaved) token row and the plain token, which is shown once only."""
        plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = cls(user_id=user_id, name=name, token_hash=hash_token(plain), prefix=plain[:10])
        return row, plain

    @property
    def is_active(self) -> bool:
        """Return whether the token has not been revoked."""
        return self.revoked_at is None


def revoke_all_tokens(user_id: int) -> int:
    """Revoke every active API token of the user (the caller commits); return how many."""
    result = db.session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return int(result.rowcount or 0)
