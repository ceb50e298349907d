"""Cases (one patient's upload), their scans and their prediction."""

from __future__ import annotations

import enum
import re
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow

# What a patient pseudonym may contain: checked by the upload form and the API alike.
PSEUDONYM_MAX_LENGTH = 64
PSEUDONYM_PATTERN = r"^[\w .\-]*$"

_SEP = r"[-./_ ]"
_MONTH_NAMES = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*"
_DATE_PATTERNS = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        # 1950-01-31, 1950.01.31, 19500131
        rf"(?<!\d)(?:19|20)\d\d{_SEP}?(?:0[1-9]|1[0-2]){_SEP}?(?:0[1-9]|[12]\d|3[01])(?!\d)",
        # 31.01.1950, 01/31/1950, 31-1-50
        rf"(?<!\d)\d{{1,2}}{_SEP}\d{{1,2}}{_SEP}(?:(?:19|20)\d\d|\d\d)(?!\d)",
        # 31jan1950, 31 January 1950, Jan 31 1950
        rf"(?<!\d)\d{{1,2}}{_SEP}?{_MONTH_NAMES}{_SEP}?\d{{2,4}}(?!\d)",
        rf"(?<![a-z]){_MONTH_NAMES}{_SEP}?\d{{1,2}}{_SEP}+\d{{2,4}}(?!\d)",
    )
)


def pseudonym_problem(pseudonym: str) -> str | None:
    """Return why `pseudonym` is refused, or None: the one rule for the form and the API.

    Refuses more than PSEUDONYM_MAX_LENGTH characters, characters outside PSEUDONYM_PATTERN and
    anything that looks like a date (of birth): 1950-01-31, 31.01.1950, 19500131, 31 Jan 1950.
    """
    if len(pseudonym) > PSEUDONYM_MAX_LENGTH:
        return f"The pseudonym is longer than {PSEUDONYM_MAX_LENGTH} characters."
    if not re.fullmatch(PSEUDONYM_PATTERN, pseudonym):
        return "The pseudonym may hold only letters, digits, underscores, spaces, dots and dashes."
    if any(pattern.search(pseudonym) for pattern in _DATE_PATTERNS):
        return ("The pseudonym looks like it holds a date (of birth?). Dates identify patients: "
                "use a code such as P-0042 instead.")
    return None


def pseudonym_warning(pseudonym: str) -> str | None:
    """Return a warning when `pseudonym` looks like a person's name ("John Doe"), else None."""
    words = [w for w in re.split(r"[\s._\-]+", pseudonym) if w]
    named = [w for w in words if len(w) > 1 and w.isalpha() and w[0].isupper() and w[1:].islower()]
    if len(named) >= 2:
        return ("This looks like a person's name. Pseudonyms must not identify the patient: use "
                "a code such as P-0042, or tick the box below if it is not a name.")
    return None


class CaseStatus(enum.StrEnum):
    """The states of a case; the single source of truth for them."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    NEEDS_REVIEW = "needs_review"  # the analysis stopped for the user to act (e.g. swapped slots)
    FAILED = "failed"


class FailureKind(enum.StrEnum):
    """Why a case failed: decides whether the page offers "Re-run" or "Upload again"."""

    REFUSED = "refused"  # the input was refused: running it again gives the same answer
    INTERNAL = "internal"  # a crash, a time limit, spent attempts: running it again may succeed


FINISHED_STATUSES: frozenset[str] = frozenset(
    {CaseStatus.DONE.value, CaseStatus.NEEDS_REVIEW.value, CaseStatus.FAILED.value}
)
"""States in which no worker holds the case: a re-run may start from any of them."""


# What a case id is: the one definition (URL converter, OpenAPI parameter, new ids).
CASE_ID_PATTERN = r"[0-9a-f]{32}"
_CASE_ID = re.compile(CASE_ID_PATTERN)


def new_case_id() -> str:
    """Return a fresh opaque, non-guessable case id (a random UUID4 as 32 lowercase hex digits)."""
    return uuid.uuid4().hex


def is_case_id(value: str) -> bool:
    """Return whether `value` has the form of a case id (CASE_ID_PATTERN); never raises."""
    return isinstance(value, str) and _CASE_ID.fullmatch(value) is not None


class Case(db.Model):
    """One patient's four sequences and the state of their analysis."""

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_case_id)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    pseudonym: Mapped[str | None] = mapped_column(String(PSEUDONYM_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.QUEUED.value, index=True)
    stage: Mapped[str] = mapped_column(String(64), default="queued")
    percent: Mapped[int] = mapped_column(Integer, default=0)
    error_message: Mapped[str | None] = mapped_column(Text)
    failure_kind: Mapped[str | None] = mapped_column(String(16))  # a FailureKind when failed
    # Worker bookkeeping: which worker holds the case, since when, and how often it was tried.
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    worker: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The user confirmed the sequence slots after a sequence-check warning: do not stop again.
    sequences_confirmed: Mapped[bool] = mapped_column(Boolean, default=False,
                                                      server_default=false())

    owner = relationship("User", lazy="joined")
    scans: Mapped[list[Scan]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="Scan.id"
    )
    prediction: Mapped[Prediction | None] = relationship(
        back_populates="case", cascade="all, delete-orphan", uselist=False
    )

    @property
    def is_finished(self) -> bool:
        """Return whether no worker holds the case any more (done, needs review or failed)."""
        return self.status in FINISHED_STATUSES

    def scan_for(self, sequence: str) -> Scan | None:
        """Return this case's scan of `sequence`, or None when it has none."""
        return next((scan for scan in self.scans if scan.sequence == sequence), None)


class Scan(db.Model):
    """One stored NIfTI file of a case."""

    __tablename__ = "scans"
    __table_args__ = (UniqueConstraint("case_id", "sequence"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    sequence: Mapped[str] = mapped_column(String(8))
    stored_path: Mapped[str] = mapped_column(String(512))  # relative to STORAGE_DIR
    original_filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    shape: Mapped[list[int]] = mapped_column(JSON)
    voxel_size: Mapped[list[float]] = mapped_column(JSON)
    dtype: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)

    case: Mapped[Case] = relationship(back_populates="scans")


class Prediction(db.Model):
    """The current result of a case's analysis (one per case: a re-run replaces it)."""

    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), unique=True, index=True
    )
    model_name: Mapped[str] = mapped_column(String(120))
    model_version: Mapped[str] = mapped_column(String(40))
    weights_sha256: Mapped[str] = mapped_column(String(64))
    # The analysis outcome (app/pipeline/outcomes.py); class and probabilities only for "subtype".
    outcome: Mapped[str] = mapped_column(String(32), default="subtype", server_default="subtype")
    predicted_class: Mapped[str | None] = mapped_column(String(1), index=True)
    probabilities: Mapped[dict[str, float] | None] = mapped_column(JSON)
    # Copies of two summary keys, as columns so that the worklist filters and sorts in SQL.
    top_probability: Mapped[float | None] = mapped_column(Float, index=True)
    low_confidence: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(),
                                                 index=True)
    slice_index: Mapped[int | None] = mapped_column(Integer)
    candidate_volume_ml: Mapped[float | None] = mapped_column(Float)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    timings: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="prediction")
