"""Factories for users and cases (small functions; they commit)."""

from __future__ import annotations

import itertools

from app.extensions import db
from app.models import Case, Prediction, Role, User
from app.pipeline.classes import CLASS_NAMES, GRADE_GROUPS

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


def make_summary(cls: str = "G", **overrides) -> dict:
    """Return a complete analysis summary (the keys of docs/architecture.md) for class `cls`."""
    summary = {
        "class": cls,
        "class_name": CLASS_NAMES[cls],
        "grade_group": GRADE_GROUPS[cls],
        "probabilities": {"A": 0.1, "O": 0.1, "G": 0.8},
        "uncertainty": {"std": {"A": 0.02, "O": 0.01, "G": 0.03}, "entropy": 0.64,
                        "slices": [6, 7, 8], "agreement": 1.0},
        "low_confidence": False,
        "no_lesion_found": False,
        "slice_index": 7,
        "slice_method": "robust",
        "candidate_volume_ml": 12.5,
        "model": {"name": "test-model", "version": "0", "weights_sha256": "0" * 64,
                  "demo": True, "training_data": "synthetic phantoms"},
        "timings": {"loading": 0.4, "classifying": 0.5, "total": 1.0},
    }
    summary.update(overrides)
    return summary
