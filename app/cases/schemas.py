"""The one shape of a case and its result: marshmallow schemas shared by every reader.

`ResultSchema` turns a stored prediction into the result that the API returns, that the status
endpoint returns and that the result page's view model (app/cases/results.py) is built from, so
that all three agree. `CaseSchema` wraps it with the case's progress. The OpenAPI document is
generated from these classes (app/api).

Precedence, in one place: the summary the pipeline wrote (`Prediction.extra`) is the source of
truth; the prediction's columns only fill keys that an old summary lacks; the class tables fill
the names of an old subtype result. Sections the schema does not declare are left out of the
answer rather than refused, so a newer pipeline cannot break an older web tier.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import url_for
from marshmallow import EXCLUDE, Schema, fields, pre_dump

from app import storage
from app.cases.progress import queue_position, stage_words
from app.models import Case, CaseStatus, Prediction
from app.models.case import CASE_ID_PATTERN, FailureKind
from app.pipeline.classes import CLASS_NAMES, CLASSES, GRADE_GROUPS, TUMOUR_TYPES
from app.pipeline.io.naming import SEQUENCES
from app.pipeline.models.card import TASKS
from app.pipeline.outcomes import deciding_task
from app.pipeline.render.artefacts import ARTEFACTS

log = logging.getLogger(__name__)

SUBTYPE = "subtype"
"""The `outcome` of a result that carries a subtype; a summary without `outcome` is one."""

DISCLAIMER = (
    "Demo model trained on synthetic phantoms only, not for clinical use: its suggestions show "
    "how GliomaLens works and say nothing about a real patient."
)

REPORT_PDF = "report.pdf"
"""The printable report's file name (app/cases/report.py makes it on request; not an artefact)."""

STATUS_FIELDS = ("id", "status", "stage", "stage_label", "queue_position", "percent", "error",
                 "error_kind", "result")
"""What the result page's status endpoint returns of `CaseSchema`."""


class Dumping(Schema):
    """A schema used to write answers; keys in declaration order, more keys allowed later.

    `unknown = EXCLUDE` leaves `additionalProperties` open in the OpenAPI document, so clients
    that validate answers keep working when a section is added.
    """

    class Meta:
        """marshmallow options."""

        ordered = True
        unknown = EXCLUDE


ByClassSchema = Dumping.from_dict(
    {c: fields.Float(required=True) for c in CLASSES}, name="ByClass"
)
"""One number per class letter (A, O, G)."""


class ModelSchema(Dumping):
    """The model that produced (part of) a result."""

    name = fields.String(required=True)
    version = fields.String(required=True)
    weights_sha256 = fields.String(
        required=True, metadata={"description": "SHA-256 of the weights file."}
    )
    demo = fields.Boolean(
        required=True,
        metadata={"description": "True for the shipped demo model, trained on synthetic "
                                 "phantoms only."},
    )
    training_data = fields.Raw(
        allow_none=True,
        metadata={"description": "What the model was trained on, from its model card."},
    )


class UncertaintySchema(Dumping):
    """How stable the prediction is over the slices around the chosen one."""

    std = fields.Nested(
        ByClassSchema, metadata={"description": "Standard deviation of each probability."}
    )
    entropy = fields.Float(metadata={"description": "Entropy of the mean probabilities."})
    slices = fields.List(fields.Integer())
    agreement = fields.Float(
        metadata={"description": "Fraction of slices voting for the predicted class.",
                  "minimum": 0, "maximum": 1},
    )


BySequenceSchema = Dumping.from_dict(
    {s: fields.Float(required=True) for s in SEQUENCES}, name="BySequence"
)
"""One number per sequence (flair, t1, t1ce, t2)."""

_SEQUENCE = {"enum": list(SEQUENCES)}


class SequenceSlotSchema(Dumping):
    """What the sequence model says about the file in one slot."""

    detected = fields.String(
        required=True, metadata={**_SEQUENCE, "description": "The sequence this file looks like "
                                                             "most (highest mean probability)."},
    )
    probability = fields.Float(
        required=True, metadata={"minimum": 0, "maximum": 1,
                                 "description": "Mean probability of `detected` over the "
                                                "Monte-Carlo dropout passes."},
    )
    spread = fields.Float(
        required=True, metadata={"minimum": 0,
                                 "description": "Standard deviation of that probability over "
                                                "the passes (how unsure the model is)."},
    )
    probabilities = fields.Nested(
        BySequenceSchema, required=True,
        metadata={"description": "Mean probability of each sequence."},
    )
    assigned = fields.String(
        required=True, metadata={**_SEQUENCE, "description": "The sequence this file gets in "
                                                             "the most likely assignment of the "
                                                             "four files."},
    )
    assigned_probability = fields.Float(
        required=True, metadata={"minimum": 0, "maximum": 1,
                                 "description": "Probability of `assigned` (for a T1/T1ce pair "
                                                "that cannot be told apart: P(T1) + P(T1ce))."},
    )


SequenceSlotsSchema = Dumping.from_dict(
    {s: fields.Nested(SequenceSlotSchema, required=True) for s in SEQUENCES},
    name="SequenceSlots",
)
"""The model's call for each of the user's slots."""

AssignmentSchema = Dumping.from_dict(
    {s: fields.String(required=True, metadata=_SEQUENCE) for s in SEQUENCES},
    name="SequenceAssignment",
)
"""For each of the user's slots, the sequence its file is (a permutation of the four)."""


class SequencesSchema(Dumping):
    """Which file is which sequence: the sequence model's check of the four slots together."""

    slots = fields.Nested(SequenceSlotsSchema, required=True)
    assignment = fields.Nested(
        AssignmentSchema, required=True,
        metadata={"description": "The most likely sequence of each slot's file; the suggestion "
                                 "that `POST /cases/{case_id}/sequences` applies by default."},
    )
    differs = fields.Boolean(
        required=True, metadata={"description": "The assignment is not the user's."}
    )
    confident = fields.Boolean(
        required=True,
        metadata={"description": "Every file the assignment moves reaches the model's "
                                 "confidence threshold."},
    )
    needs_review = fields.Boolean(
        required=True, metadata={"description": "`differs` and `confident`: the analysis stops "
                                                "unless the user confirmed the slots."},
    )
    t1_t1ce_ambiguous = fields.Boolean(
        required=True, metadata={"description": "T1 and T1ce cannot be told apart (no visible "
                                                "enhancement); their order is not guessed."},
    )
    t1_t1ce_probability = fields.Float(required=True, metadata={"minimum": 0, "maximum": 1})
    message = fields.String(required=True, metadata={"description": "The check in one sentence."})
    t1_t1ce_message = fields.String(required=True, allow_none=True)
    confirmed_by_user = fields.Boolean(
        required=True,
        metadata={"description": "The user kept the slots after a warning: a mismatch is "
                                 "reported and did not stop the analysis."},
    )


def _section(description: str) -> fields.Field:
    return fields.Dict(allow_none=True, metadata={"description": description})


# --- segmentation, tumour type, in-distribution (issues 13 and 15) ---------------------------
# What the lesion stage (segmentation) and the scope stage (tumour type, out-of-distribution)
# add to the summary: app/pipeline/analysis/stages.py, app/pipeline/lesion/measurements.py and
# app/pipeline/models/tumour_type.py write these keys.


class BidimensionalSchema(Dumping):
    """The RANO bidimensional measurement of the enhancing tumour on one axial slice."""

    slice_index = fields.Integer(
        required=True, metadata={"description": "Axial slice (RAS+) of the measurement."}
    )
    longest_mm = fields.Float(
        required=True, metadata={"description": "Longest in-plane diameter (mm)."}
    )
    perpendicular_mm = fields.Float(
        required=True,
        metadata={"description": "Longest diameter perpendicular to it on the same slice (mm)."},
    )
    product_mm2 = fields.Float(
        required=True, metadata={"description": "Product of the two diameters (mm²)."}
    )
    endpoints_voxel = fields.List(
        fields.List(fields.Float()),
        metadata={"description": "The longest diameter's two ends as (x, y) voxel indices."},
    )


def _ml(description: str) -> fields.Float:
    return fields.Float(required=True, metadata={"description": description + " (mL).",
                                                 "minimum": 0})


class MeasurementsSchema(Dumping):
    """Standardised measurements of the segmented tumour (BraTS sub-regions)."""

    wt_ml = _ml("Whole tumour (labels 1, 2 and 4)")
    tc_ml = _ml("Tumour core (labels 1 and 4)")
    et_ml = _ml("Enhancing tumour (label 4)")
    necrosis_ml = _ml("Necrotic / non-enhancing core (label 1)")
    oedema_ml = _ml("Oedema (label 2)")
    laterality = fields.String(
        required=True,
        metadata={"enum": ["left", "right", "bilateral", "none"],
                  "description": "The patient's side of the whole tumour, from the brain's "
                                 "midline; `none` without tumour."},
    )
    left_ml = _ml("Whole tumour left of the midline")
    right_ml = _ml("Whole tumour right of the midline")
    crosses_midline = fields.Boolean(
        required=True, metadata={"description": "One connected lesion lies on both sides."}
    )
    lesions = fields.Integer(
        required=True,
        metadata={"description": "Separate whole-tumour lesions of at least 1 mL.", "minimum": 0},
    )
    multifocal = fields.Boolean(
        required=True, metadata={"description": "Two or more such lesions."}
    )
    bidimensional = fields.Nested(
        BidimensionalSchema, required=True, allow_none=True,
        metadata={"description": "RANO measurement; null without enhancing tumour."},
    )
    midline_x_mm = fields.Float(
        metadata={"description": "World x (mm, RAS+) of the brain's midline plane."}
    )


class SegmentationSchema(Dumping):
    """The tumour segmentation: its measurements and how "no tumour" was decided."""

    measurements = fields.Nested(MeasurementsSchema, required=True)
    min_tumour_ml = fields.Float(
        metadata={"description": "A whole tumour below this volume (mL) counts as no tumour."}
    )
    labels = fields.Dict(
        keys=fields.String(), values=fields.String(),
        metadata={"description": "Meaning of each label value of segmentation.nii.gz."},
    )


ByTumourTypeSchema = Dumping.from_dict(
    {t: fields.Float(metadata={"minimum": 0, "maximum": 1}) for t in TUMOUR_TYPES},
    name="ByTumourType",
)
"""One calibrated probability per tumour type."""


class TumourTypeSchema(Dumping):
    """Is it a glioma at all, and is the scan like the training data (the tumour-type model)?"""

    tumour_type = fields.String(
        required=True, allow_none=True,
        metadata={"enum": [*TUMOUR_TYPES, None],
                  "description": "The most likely type; null when out of distribution."},
    )
    tumour_type_name = fields.String(required=True, allow_none=True)
    probabilities = fields.Nested(
        ByTumourTypeSchema, required=True,
        metadata={"description": "Calibrated (temperature-scaled) probability of each type."},
    )
    top_probability = fields.Float(required=True, metadata={"minimum": 0, "maximum": 1})
    low_confidence = fields.Boolean(
        required=True,
        metadata={"description": "The top probability is below the card's threshold."},
    )
    ood_score = fields.Float(
        allow_none=True,
        metadata={"description": "Mahalanobis distance of the features to the training data."},
    )
    ood_threshold = fields.Float(
        allow_none=True,
        metadata={"description": "Scores above it are out of distribution (from the card)."},
    )
    in_distribution = fields.Float(
        allow_none=True, metadata={"minimum": 0, "maximum": 1,
                                   "description": "See `result.in_distribution`."},
    )
    out_of_distribution = fields.Boolean(required=True)
    message = fields.String(allow_none=True)


class ResultSchema(Dumping):
    """The analysis of a finished case.

    `class`, `class_name`, `grade_group` and `probabilities` are null when `outcome` is not
    `subtype` (the analysis ended early, e.g. no tumour); `message` then says why.
    """

    outcome = fields.String(
        required=True,
        metadata={"description": "How the analysis ended: `subtype` when a class is given; "
                                 "`needs_review` when the files look swapped (see `sequences`; "
                                 "answer with `POST /cases/{case_id}/sequences`); later also "
                                 "`no_tumour`, `not_glioma`, `out_of_distribution`."},
    )
    class_ = fields.String(
        data_key="class", attribute="class", required=True, allow_none=True,
        metadata={"enum": [*CLASSES, None], "description": "CPM-RadPath class."},
    )
    class_name = fields.String(required=True, allow_none=True)
    grade_group = fields.String(required=True, allow_none=True)
    probabilities = fields.Nested(
        ByClassSchema, required=True, allow_none=True,
        metadata={"description": "Probability of each class letter."},
    )
    uncertainty = fields.Nested(UncertaintySchema, required=True, allow_none=True)
    low_confidence = fields.Boolean(required=True)
    no_lesion_found = fields.Boolean(
        required=True,
        metadata={"description": "True when no tumour-like region was found; the slice is a "
                                 "fallback."},
    )
    message = fields.String(
        allow_none=True, metadata={"description": "A caveat for the reader, or null."}
    )
    slice_index = fields.Integer(
        required=True, allow_none=True,
        metadata={"description": "Axial slice (RAS+) classified."},
    )
    slice_method = fields.String(allow_none=True)
    candidate_volume_ml = fields.Float(required=True, allow_none=True)
    decided_by = fields.String(
        required=True, allow_none=True,
        metadata={"enum": [*TASKS, None],
                  "description": "The task of the model that decided `outcome` (e.g. "
                                 "`tumour-type` for `not_glioma`, `segmentation` for a "
                                 "segmented tumour below the minimum volume, `subtype` for a "
                                 "class); null when an old result did not record it and the "
                                 "outcome has several possible deciders."},
    )
    model = fields.Nested(
        ModelSchema, required=True,
        metadata={"description": "The model that decided `outcome` (see `decided_by`)."},
    )
    models = fields.Dict(
        keys=fields.String(), values=fields.Nested(ModelSchema),
        metadata={"description": "The model of each task whose stage ran (sequence, "
                                 "tumour-type, segmentation, subtype), in the order they ran."},
    )
    timings = fields.Dict(
        keys=fields.String(), values=fields.Float(), required=True,
        metadata={"description": "Seconds per pipeline stage, and `total`."},
    )
    disclaimer = fields.String(
        required=True, allow_none=True,
        metadata={"description": "Set whenever a demo model took part: the result is not for "
                                 "clinical use."},
    )
    sequences = fields.Nested(
        SequencesSchema, allow_none=True,
        metadata={"description": "Which file is which sequence; null when no sequence model "
                                 "ran."},
    )
    segmentation = fields.Nested(
        SegmentationSchema, required=True, allow_none=True,
        metadata={"description": "The tumour segmentation and its measurements; null when no "
                                 "segmentation model ran."},
    )
    tumour_type = fields.Nested(
        TumourTypeSchema, required=True, allow_none=True,
        metadata={"description": "The tumour type; null when no tumour-type model ran."},
    )
    in_distribution = fields.Float(
        required=True, allow_none=True,
        metadata={"minimum": 0, "maximum": 1,
                  "description": "How typical the scan is of the training data: the fraction "
                                 "of validation scans at least as unusual (a conformal p-value; "
                                 "near 1 typical, near 0 unlike anything seen). Null when not "
                                 "checked."},
    )

    @pre_dump
    def from_prediction(self, prediction: Prediction, **_: Any) -> dict[str, Any]:
        """Return the result of `prediction` with the precedence described in the module."""
        return result_data(prediction)


def _model_block(stored: dict[str, Any] | None,
                 columns: Prediction | None = None) -> dict[str, Any]:
    """Return a model block; `columns` (the subtype model's) fill what `stored` lacks."""
    stored = stored or {}
    return {
        "name": str(stored.get("name") or (columns and columns.model_name) or ""),
        "version": str(stored.get("version") or (columns and columns.model_version) or ""),
        "weights_sha256": str(stored.get("weights_sha256")
                              or (columns and columns.weights_sha256) or ""),
        "demo": bool(stored.get("demo", False)),
        "training_data": stored.get("training_data"),
    }


def result_data(prediction: Prediction) -> dict[str, Any]:
    """Return the result dict of a stored prediction, before `ResultSchema` picks its keys.

    The stored summary wins; columns fill what an old summary lacks; `outcome` defaults to
    `subtype`. Never raises for a summary with missing or extra keys.
    """
    data = dict(prediction.extra or {})
    outcome = data.get("outcome") or SUBTYPE
    data["outcome"] = outcome
    subtype = outcome == SUBTYPE
    letter = data.get("class", prediction.predicted_class if subtype else None)
    data["class"] = letter or None
    data["class_name"] = data.get("class_name") or CLASS_NAMES.get(letter or "")
    data["grade_group"] = data.get("grade_group") or GRADE_GROUPS.get(letter or "")
    probabilities = data.get("probabilities", prediction.probabilities if subtype else None)
    data["probabilities"] = (
        None if probabilities is None
        else {c: float(probabilities.get(c, 0.0)) for c in CLASSES}
    )
    data.setdefault("uncertainty", None)
    data["sequences"] = sequences_section(data.get("sequences"))
    data["low_confidence"] = bool(data.get("low_confidence", False))
    data["no_lesion_found"] = bool(data.get("no_lesion_found", False))
    data.setdefault("slice_index", prediction.slice_index)
    data.setdefault("candidate_volume_ml", prediction.candidate_volume_ml)
    decided = _decided_by(outcome, data.get("decided_by"))
    stored_models = data.get("models") if isinstance(data.get("models"), dict) else {}
    # A summary that records `decided_by` stores that model as `model`; an older one stored the
    # subtype model there whatever the outcome: take the deciding model from its `models`.
    recorded = "decided_by" in data or decided not in stored_models
    data["model"] = _model_block(data.get("model") if recorded else stored_models[decided],
                                 prediction)
    data["decided_by"] = decided
    if "models" in data:
        data["models"] = {task: _model_block(block)
                          for task, block in (data["models"] or {}).items()}
    data["timings"] = {k: float(v) for k, v in (data.get("timings") or prediction.timings
                                                or {}).items()}
    demo = data["model"]["demo"] or any(m["demo"] for m in data.get("models", {}).values())
    data["disclaimer"] = DISCLAIMER if demo else None
    if not subtype:  # only a subtype outcome carries a class, whatever an old summary held
        data.update(dict.fromkeys(SUBTYPE_ONLY))
    for key, schema in SECTIONS.items():
        data[key] = _valid_section(data.get(key), schema, key)
    in_distribution = data.get("in_distribution")
    data["in_distribution"] = (float(in_distribution)
                               if isinstance(in_distribution, int | float) else None)
    return data


def _decided_by(outcome: str, recorded: Any) -> str | None:
    """Return the task of the model that decided `outcome` (`outcomes.deciding_task`), or None
    when unknown or inconsistent (logged); never raises."""
    try:
        return deciding_task(outcome, recorded if isinstance(recorded, str) else None)
    except ValueError as exc:
        log.warning("result's decided_by left out: %s", exc)
        return None


def sequences_section(section: Any) -> dict[str, Any] | None:
    """Return a stored `sequences` section ready for `SequencesSchema`, or None without one.

    A section lacking a slot's call is left out (None) rather than shown half; optional keys an
    older summary lacks get their neutral value. Never raises.
    """
    if not isinstance(section, dict):
        return None
    slots = section.get("slots")
    if not isinstance(slots, dict) or not all(isinstance(slots.get(s), dict) for s in SEQUENCES):
        return None
    data = dict(section)
    data.setdefault("assignment", {s: slots[s].get("assigned", s) for s in SEQUENCES})
    data.setdefault("t1_t1ce_message", None)
    data["confirmed_by_user"] = bool(data.get("confirmed_by_user", False))
    return data


SUBTYPE_ONLY = ("class", "class_name", "grade_group", "probabilities", "uncertainty")
"""Result keys that are null unless the outcome is `subtype`."""

SECTIONS: dict[str, type[Schema]] = {
    "segmentation": SegmentationSchema, "tumour_type": TumourTypeSchema,
}
"""Summary sections checked against their schema before they are shown (issues 13, 15)."""


def _valid_section(section: Any, schema: type[Schema], key: str) -> dict[str, Any] | None:
    """Return `section` when it fits `schema` (extra keys allowed), else None (logged).

    A section of another pipeline version that does not fit is left out, never shown half.
    """
    if section is None:
        return None
    errors = schema(unknown=EXCLUDE).validate(section) if isinstance(section, dict) else True
    if errors:
        log.warning("summary section %r does not fit its schema, left out: %s", key, errors)
        return None
    return section


def existing_artefacts(case: Case) -> tuple[str, ...]:
    """Return the names of the case's artefacts that exist on disk, in ARTEFACTS order."""
    folder = storage.results_dir(case.id)
    return tuple(name for name in ARTEFACTS if (folder / name).is_file())


class CaseSchema(Dumping):
    """A case: its progress always, its result once done, its error once failed."""

    id = fields.String(required=True, metadata={"pattern": f"^{CASE_ID_PATTERN}$"})
    url = fields.String(required=True, metadata={"description": "This case in the API."})
    pseudonym = fields.String(required=True, allow_none=True)
    status = fields.String(required=True, metadata={"enum": [s.value for s in CaseStatus]})
    stage = fields.String(required=True, metadata={"description": "Pipeline stage while running."})
    stage_label = fields.String(
        required=True, metadata={"description": "The stage in words, for a person."}
    )
    queue_position = fields.Integer(
        required=True, allow_none=True,
        metadata={"description": "Place in the queue while queued (1: next), else null.",
                  "minimum": 1},
    )
    percent = fields.Integer(required=True, metadata={"minimum": 0, "maximum": 100})
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    finished_at = fields.DateTime(required=True, allow_none=True)
    error = fields.String(
        required=True, allow_none=True, metadata={"description": "Why the analysis failed."}
    )
    error_kind = fields.String(
        required=True, allow_none=True,
        metadata={"enum": [*(k.value for k in FailureKind), None],
                  "description": "`refused`: the input was refused, upload corrected files; "
                                 "`internal`: a re-run may succeed. Null unless failed."},
    )
    result = fields.Nested(
        ResultSchema, required=True, allow_none=True,
        metadata={"description": "The result once the status is `done` or `needs_review` (why "
                                 "the analysis stopped: see `result.sequences`), else null."},
    )
    files = fields.Dict(
        keys=fields.String(), values=fields.String(), required=True,
        metadata={"description": "URL of each artefact that exists, by file name ("
                                 + ", ".join(ARTEFACTS) + "), and of the printable report ("
                                 + REPORT_PDF + ") once the case has a result."},
    )

    @pre_dump
    def from_case(self, case: Case, **_: Any) -> dict[str, Any]:
        """Return the answer's values for `case` (the result only when done or needs review)."""
        failed = case.status == CaseStatus.FAILED.value
        return {
            "id": case.id,
            "url": url_for("api.get_case", case_id=case.id),
            "pseudonym": case.pseudonym,
            "status": case.status,
            "stage": case.stage,
            "stage_label": stage_words(case),
            "queue_position": queue_position(case),
            "percent": int(case.percent or 0),
            "created_at": case.created_at,
            "updated_at": case.updated_at,
            "finished_at": case.finished_at,
            "error": case.error_message if failed else None,
            "error_kind": failure_kind(case).value if failed else None,
            "result": case.prediction if has_result(case) else None,
            "files": case_files(case),
        }


RESULT_STATUSES = frozenset({CaseStatus.DONE.value, CaseStatus.NEEDS_REVIEW.value})
"""The states in which a case shows its result (a needs_review case shows why it stopped)."""


def case_files(case: Case) -> dict[str, str]:
    """Return {file name: API URL} of the case's artefacts on disk, and of its report once done."""
    files = {name: url_for("api.case_file", case_id=case.id, name=name)
             for name in existing_artefacts(case)}
    if has_result(case):
        files[REPORT_PDF] = url_for("api.case_report", case_id=case.id)
    return files


def has_result(case: Case) -> bool:
    """Return whether the case is done or needs review and has a prediction (a re-run hides the
    old one)."""
    return case.status in RESULT_STATUSES and case.prediction is not None


def failure_kind(case: Case) -> FailureKind:
    """Return why a failed case failed; a case failed before kinds were stored counts as
    INTERNAL (a re-run is offered, as it was then)."""
    return FailureKind(case.failure_kind or FailureKind.INTERNAL.value)
