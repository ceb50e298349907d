"""The JSON shape of a case in the API: one serialiser and the JSON Schemas that describe it.

`case_json` is the only place that turns a case into API JSON; the schemas below sit beside it
so that a change to one is seen next to the other, and the OpenAPI document (app/api/openapi.py)
takes them from here. The test suite checks real responses against these schemas.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import url_for

from app import storage
from app.models import Case, CaseStatus, Prediction
from app.models.case import PSEUDONYM_MAX_LENGTH, PSEUDONYM_PATTERN  # noqa: F401 (re-exported)
from app.pipeline.classes import CLASS_NAMES, CLASSES, GRADE_GROUPS
from app.pipeline.render.artefacts import ARTEFACTS

DISCLAIMER = (
    "Demo model trained on synthetic phantoms only, not for clinical use: its suggestions show "
    "how GliomaLens works and say nothing about a real patient."
)
# The same rule as the upload page's pseudonym field (app/cases/forms.py).
DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    # SQLite returns naive datetimes; every stored time is UTC.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def artefact_urls(case: Case) -> dict[str, str]:
    """Return {artefact file name: API URL} for the artefacts of `case` that exist on disk."""
    folder = storage.results_dir(case.id)
    return {
        name: url_for("api.case_file", case_id=case.id, name=name)
        for name in ARTEFACTS
        if (folder / name).is_file()
    }


def result_json(prediction: Prediction) -> dict[str, Any]:
    """Return the API form of a finished prediction (class, probabilities, model, ...).

    The summary written by the pipeline (`prediction.extra`) supplies the details; the
    prediction's own columns win where both hold a value.
    """
    summary = dict(prediction.extra or {})
    letter = prediction.predicted_class
    probabilities = prediction.probabilities or summary.get("probabilities") or {}
    model = dict(summary.get("model") or {})
    demo = bool(model.get("demo", False))
    volume = prediction.candidate_volume_ml
    return {
        "class": letter,
        "class_name": summary.get("class_name") or CLASS_NAMES.get(letter, ""),
        "grade_group": summary.get("grade_group") or GRADE_GROUPS.get(letter, ""),
        "probabilities": {c: float(probabilities.get(c, 0.0)) for c in CLASSES},
        "uncertainty": summary.get("uncertainty"),
        "low_confidence": bool(summary.get("low_confidence", False)),
        "no_lesion_found": bool(summary.get("no_lesion_found", False)),
        "slice_index": int(prediction.slice_index),
        "slice_method": summary.get("slice_method"),
        "candidate_volume_ml": None if volume is None else float(volume),
        "model": {
            "name": prediction.model_name,
            "version": prediction.model_version,
            "weights_sha256": prediction.weights_sha256,
            "demo": demo,
            "training_data": model.get("training_data"),
        },
        "timings": {k: float(v) for k, v in (prediction.timings or {}).items()},
        "disclaimer": DISCLAIMER if demo else None,
    }


def case_json(case: Case) -> dict[str, Any]:
    """Return the API form of `case`: progress always, the result once done, the error if failed.

    This is the one serialiser of a case (GET /cases/<id>, list items); `CASE_SCHEMA` describes
    what it returns. `result` is null until the status is done; `error` is null unless failed.
    """
    done = case.status == CaseStatus.DONE.value and case.prediction is not None
    failed = case.status == CaseStatus.FAILED.value
    return {
        "id": case.id,
        "url": url_for("api.get_case", case_id=case.id),
        "pseudonym": case.pseudonym,
        "status": case.status,
        "stage": case.stage,
        "percent": int(case.percent or 0),
        "created_at": _iso(case.created_at),
        "updated_at": _iso(case.updated_at),
        "finished_at": _iso(case.finished_at),
        "error": case.error_message if failed else None,
        "result": result_json(case.prediction) if done else None,
        "files": artefact_urls(case),
    }


# --- JSON Schemas (OpenAPI 3.1 dialect: JSON Schema 2020-12) ------------------------------------

def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


_BY_CLASS = {
    "type": "object",
    "properties": {c: {"type": "number"} for c in CLASSES},
    "required": list(CLASSES),
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error answers with this body.",
    "properties": {
        "error": {"type": "string", "description": "What went wrong, in plain words."},
        "status": {"type": "integer", "description": "The HTTP status code."},
        "field": {
            "type": ["string", "null"],
            "description": "On 400: the request field at fault (e.g. `t2`, `per_page`), or "
            "null when the request as a whole is refused.",
        },
    },
    "required": ["error"],
}

MODEL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "version": {"type": "string"},
        "weights_sha256": {"type": "string", "description": "SHA-256 of the weights file."},
        "demo": {
            "type": "boolean",
            "description": "True for the shipped demo model, trained on synthetic phantoms only.",
        },
        "training_data": {"description": "What the model was trained on, from its model card."},
    },
    "required": ["name", "version", "weights_sha256", "demo"],
}

UNCERTAINTY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "How stable the prediction is over the slices around the chosen one.",
    "properties": {
        "std": {**_BY_CLASS, "description": "Standard deviation of each probability."},
        "entropy": {"type": "number", "description": "Entropy of the mean probabilities."},
        "slices": {"type": "array", "items": {"type": "integer"}},
        "agreement": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "Fraction of slices voting for the predicted class.",
        },
    },
}

RESULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The analysis of a finished case.",
    "properties": {
        "class": {"type": "string", "enum": list(CLASSES), "description": "CPM-RadPath class."},
        "class_name": {"type": "string"},
        "grade_group": {"type": "string"},
        "probabilities": {**_BY_CLASS, "description": "Probability of each class letter."},
        "uncertainty": _nullable(_ref("Uncertainty")),
        "low_confidence": {"type": "boolean"},
        "no_lesion_found": {
            "type": "boolean",
            "description": "True when no tumour-like region was found; the slice is a fallback.",
        },
        "slice_index": {"type": "integer", "description": "Axial slice (RAS+) classified."},
        "slice_method": {"type": ["string", "null"]},
        "candidate_volume_ml": {"type": ["number", "null"]},
        "model": _ref("Model"),
        "timings": {
            "type": "object",
            "additionalProperties": {"type": "number"},
            "description": "Seconds per pipeline stage.",
        },
        "disclaimer": {
            "type": ["string", "null"],
            "description": "Set whenever `model.demo` is true: the result is not for clinical use.",
        },
    },
    "required": [
        "class", "class_name", "grade_group", "probabilities", "uncertainty", "low_confidence",
        "no_lesion_found", "slice_index", "candidate_volume_ml", "model", "timings", "disclaimer",
    ],
}

CASE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
        "url": {"type": "string", "description": "This case in the API."},
        "pseudonym": {"type": ["string", "null"]},
        "status": {"type": "string", "enum": [s.value for s in CaseStatus]},
        "stage": {"type": "string", "description": "Pipeline stage while running."},
        "percent": {"type": "integer", "minimum": 0, "maximum": 100},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "finished_at": {"type": ["string", "null"], "format": "date-time"},
        "error": {"type": ["string", "null"], "description": "Why the analysis failed."},
        "result": _nullable(_ref("Result")),
        "files": {
            "type": "object",
            "description": "URL of each artefact that exists, by file name.",
            "propertyNames": {"enum": list(ARTEFACTS)},
            "additionalProperties": {"type": "string"},
        },
    },
    "required": [
        "id", "url", "pseudonym", "status", "stage", "percent", "created_at", "updated_at",
        "finished_at", "error", "result", "files",
    ],
}

CASE_CREATED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
        "status": {"type": "string", "enum": [s.value for s in CaseStatus]},
        "url": {"type": "string", "description": "Poll this URL for progress and the result."},
    },
    "required": ["id", "status", "url"],
}

CASE_PAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "items": {"type": "array", "items": _ref("Case")},
        "page": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
        "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
        "total": {"type": "integer", "minimum": 0},
        "pages": {"type": "integer", "minimum": 0},
    },
    "required": ["items", "page", "per_page", "total", "pages"],
}

COMPONENT_SCHEMAS: dict[str, dict[str, Any]] = {
    "Case": CASE_SCHEMA,
    "CaseCreated": CASE_CREATED_SCHEMA,
    "CasePage": CASE_PAGE_SCHEMA,
    "Result": RESULT_SCHEMA,
    "Model": MODEL_SCHEMA,
    "Uncertainty": UNCERTAINTY_SCHEMA,
    "Error": ERROR_SCHEMA,
}
