"""Factories for users and cases (small functions; they commit)."""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path

from app import storage
from app.extensions import db
from app.models import Case, Prediction, Role, User
from app.pipeline.classes import CLASSES

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


SUMMARY_TIMINGS = {"ingest": 0.4, "lesion": 0.1, "subtype": 0.35, "saliency": 0.1,
                   "artefacts": 0.05, "total": 1.0}
"""The stages `analyse_case` times (one key per stage name), with a total that is their sum."""


def make_summary(cls: str = "G", *, probabilities: dict[str, float] | None = None,
                 std: dict[str, float] | None = None, entropy: float = 0.64,
                 agreement: float = 1.0, slices: tuple[int, ...] = (6, 7, 8),
                 low_confidence: bool = False, no_lesion_found: bool = False,
                 message: str | None = None, volume_ml: float = 12.5,
                 timings: dict[str, float] | None = None, outcome: str = "subtype",
                 extra: dict | None = None, **card_fields) -> dict:
    """Return a summary as the pipeline writes it: `build_summary` of app/pipeline/analysis.

    Its inputs are small real objects: a `SubtypeResult`, the lesion stage's keys and a
    `ModelCard` (TF-free); `card_fields` override the card (name, version, demo, ...). With
    another `outcome` the analysis ended early and `message` is its reason.
    """
    from app.pipeline.analysis.summary import build_summary
    from app.pipeline.models.card import ModelCard
    from app.pipeline.models.prediction import SubtypeResult

    probabilities = probabilities or {"A": 0.1, "O": 0.1, "G": 0.8}
    centre = slices[len(slices) // 2]
    result = SubtypeResult(
        label=cls, class_index=CLASSES.index(cls), probabilities=probabilities,
        std=std or {"A": 0.02, "O": 0.01, "G": 0.03}, entropy=entropy, agreement=agreement,
        slices=list(slices), slice_index=centre, low_confidence=low_confidence,
        no_lesion_found=no_lesion_found, message=message,
        slice_probabilities=[[probabilities[c] for c in CLASSES] for _ in slices],
    )
    lesion = {"slice_method": "robust", "slice_index": centre,
              "candidate_volume_ml": volume_ml, "no_lesion_found": no_lesion_found}
    card = ModelCard(**{"task": "subtype", "name": "test-model", "version": "0",
                        "weights_sha256": "0" * 64, "demo": True,
                        "training_data": "synthetic phantoms", **card_fields})
    return build_summary(cards={"subtype": card}, timings=dict(timings or SUMMARY_TIMINGS),
                         subtype=result, lesion=lesion, outcome=outcome,
                         message=None if outcome == "subtype" else message, extra=extra)


def make_prediction(case: Case, summary: dict | None = None, **summary_args) -> Prediction:
    """Attach and commit `summary` (default: `make_summary(**summary_args)`) as the case's
    prediction, the way the worker stores it, and mark the case done."""
    summary = summary if summary is not None else make_summary(**summary_args)
    model = summary.get("model") or {}
    prediction = Prediction(
        case_id=case.id,
        model_name=str(model.get("name", "")),
        model_version=str(model.get("version", "")),
        weights_sha256=str(model.get("weights_sha256", "")),
        predicted_class=summary.get("class") or "",
        probabilities=summary.get("probabilities") or {},
        slice_index=int(summary.get("slice_index") or 0),
        candidate_volume_ml=summary.get("candidate_volume_ml"),
        extra=summary,
        timings=summary.get("timings", {}),
    )
    case.status = "done"
    case.stage = "done"
    case.percent = 100
    db.session.add(prediction)
    db.session.commit()
    return prediction


def write_artefacts(case: Case, names: tuple[str, ...] | None = None,
                    summary: dict | None = None) -> Path:
    """Write small stand-ins for a case's artefacts into its results folder; return the folder."""
    folder = storage.results_dir(case.id)
    folder.mkdir(parents=True, exist_ok=True)
    blobs = {
        "montage.png": b"\x89PNG\r\n\x1a\n" + b"\0" * 16,
        "gradcam.png": b"\x89PNG\r\n\x1a\n" + b"\1" * 16,
        "montage_neurological.png": b"\x89PNG\r\n\x1a\n" + b"\2" * 16,
        "gradcam_neurological.png": b"\x89PNG\r\n\x1a\n" + b"\3" * 16,
        "candidate_mask.nii.gz": gzip.compress(b"\0" * 348),
        "segmentation.nii.gz": gzip.compress(b"\4" * 348),
        "measurements.json": b'{"wt_ml": 12.5}',
        "measurements.csv": b"wt_ml\n12.5\n",
        "heatmap.nii.gz": gzip.compress(b"\1" * 348),
        "summary.json": json.dumps(summary or make_summary()).encode(),
    }
    for name in names or tuple(blobs):
        (folder / name).write_bytes(blobs[name])
    return folder
