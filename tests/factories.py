"""Factories for users and cases (small functions; they commit)."""

from __future__ import annotations

import itertools

from app.extensions import db
from app.models import Case, Prediction, Role, User

DEFAULT_PASSWORD = "correct-horse-battery"
_counter = itertools.count(1)


def make_user(
    email: str | None = None,
    role: str = Role.CLINICIAN.value,
    password: str = DEFAULT_PASSWORD,
    active: bool = True,
) -> User:
    """Create and commit a user."""
    user = User(
        email=email or f"user{next(_counter)}@example.org",
        display_name="Test User",
        role=role,
        active=active,
    )
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def make_case(owner: User, status: str = "queued", pseudonym: str | None = None, **fields) -> Case:
    """Create and commit a case row (no files) for `owner`."""
    case = Case(owner_id=owner.id, status=status, pseudonym=pseudonym, **fields)
    db.session.add(case)
    db.session.commit()
    return case


def make_prediction(case: Case, cls: str = "G", **extra) -> Prediction:
    """Attach and commit a finished prediction to `case` (marks it done)."""
    probabilities = {"A": 0.1, "O": 0.1, "G": 0.8}
    prediction = Prediction(
        case_id=case.id,
        model_name="test-model",
        model_version="0",
        weights_sha256="0" * 64,
        predicted_class=cls,
        probabilities=probabilities,
        slice_index=7,
        candidate_volume_ml=12.5,
        extra={"class": cls, "probabilities": probabilities, "model": {"demo": True}, **extra},
        timings={"total": 1.0},
    )
    case.status = "done"
    case.stage = "done"
    case.percent = 100
    db.session.add(prediction)
    db.session.commit()
    return prediction
