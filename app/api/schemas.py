"""What the API reads and writes besides a case: errors, uploads, pages, query parameters.

The case and its result come from app/cases/schemas.py, the one schema of a result that the
result page and the status endpoint use too. The OpenAPI document is generated from these
classes; the test suite checks real answers against it.
"""

from __future__ import annotations

from typing import Any

from flask_smorest.fields import Upload
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validates_schema
from marshmallow.validate import OneOf, Range
from werkzeug.datastructures import FileStorage

from app.cases.schemas import CaseSchema, Dumping
from app.cases.sequences import ACTIONS, CONFIRM, REASSIGN, InvalidAssignment, validate_assignment
from app.cases.uploads import UploadedFile, UploadError, clean_pseudonym, missing_file_message
from app.models import CaseStatus
from app.models.case import CASE_ID_PATTERN, PSEUDONYM_MAX_LENGTH, PSEUDONYM_PATTERN
from app.pipeline.io.naming import SEQUENCE_LABELS, SEQUENCES
from app.routing import MAX_PAGE

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100


class ErrorSchema(Dumping):
    """Every error answers with this body."""

    error = fields.String(required=True, metadata={"description": "What went wrong, in plain "
                                                                  "words."})
    status = fields.Integer(metadata={"description": "The HTTP status code."})
    field = fields.String(
        allow_none=True,
        metadata={"description": "On 400: the request field at fault (e.g. `t2`, `per_page`), "
                                 "or null when the request as a whole is refused."},
    )


class CaseCreatedSchema(Dumping):
    """The answer to an accepted upload."""

    id = fields.String(required=True, metadata={"pattern": f"^{CASE_ID_PATTERN}$"})
    status = fields.String(required=True, metadata={"enum": [s.value for s in CaseStatus]})
    url = fields.String(
        required=True, metadata={"description": "Poll this URL for progress and the result."}
    )


class CasePageSchema(Dumping):
    """One page of cases, newest first."""

    items = fields.List(fields.Nested(CaseSchema), required=True)
    page = fields.Integer(required=True, metadata={"minimum": 1, "maximum": MAX_PAGE})
    per_page = fields.Integer(required=True, metadata={"minimum": 1, "maximum": MAX_PER_PAGE})
    total = fields.Integer(required=True, metadata={"minimum": 0})
    pages = fields.Integer(required=True, metadata={"minimum": 0})


class WholeNumber(fields.Integer):
    """A query parameter holding a whole number from 1 to `maximum`, in ASCII digits only.

    Refuses signs, decimals, spaces, other scripts' digits and more digits than `maximum` has
    (so that no huge number is ever converted), with one message naming the parameter.
    """

    def __init__(self, name: str, maximum: int, **kwargs: Any) -> None:
        message = f"{name} must be a whole number from 1 to {maximum}."
        super().__init__(validate=Range(1, maximum, error=message),
                         error_messages={"invalid": message}, **kwargs)
        self.maximum = maximum

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        text = str(value)
        if not (text.isascii() and text.isdigit()) or len(text) > len(str(self.maximum)):
            raise self.make_error("invalid")
        return int(super()._deserialize(text, attr, data, **kwargs))


class PageQuerySchema(Schema):
    """The query of GET /cases; other parameters are refused (a misspelt `perpage` would
    otherwise be silently ignored)."""

    class Meta:
        """marshmallow options."""

        unknown = RAISE

    page = WholeNumber(
        "page", MAX_PAGE, load_default=1,
        metadata={"description": "Page number; past the last page, `items` is empty."},
    )
    per_page = WholeNumber(
        "per_page", MAX_PER_PAGE, load_default=DEFAULT_PER_PAGE,
        metadata={"description": "Cases per page."},
    )


class NiftiUpload(Upload):
    """One sequence's file in a multipart upload; loads as an `UploadedFile`.

    Refuses a missing part, a part sent as a plain text field and a part without a file name,
    with the uploads' message for a missing file. The content is checked by `store_upload`.
    """

    def __init__(self, sequence: str) -> None:
        super().__init__(
            required=True,
            error_messages={"required": missing_file_message(sequence)},
            metadata={"description": f"The {SEQUENCE_LABELS[sequence]} image (.nii or .nii.gz)."},
        )

    def _deserialize(self, value: Any, attr: str | None, data: Any,
                     **kwargs: Any) -> UploadedFile:
        if not isinstance(value, FileStorage) or not value.filename:
            raise self.make_error("required")
        return UploadedFile(value.filename, value.stream)


def _pseudonym_rule(value: str) -> None:
    try:
        clean_pseudonym(value)
    except UploadError as exc:
        raise ValidationError(str(exc)) from exc


class _Multipart(Schema):
    class Meta:
        """marshmallow options."""

        unknown = EXCLUDE  # other form fields are ignored, as on the upload page


UploadSchema = _Multipart.from_dict(
    {
        **{sequence: NiftiUpload(sequence) for sequence in SEQUENCES},
        "pseudonym": fields.String(
            validate=_pseudonym_rule,
            metadata={"description": "Optional patient pseudonym (no real names): letters, "
                                     "digits, underscores, spaces, dots, dashes.",
                      "maxLength": PSEUDONYM_MAX_LENGTH, "pattern": PSEUDONYM_PATTERN},
        ),
    },
    name="Upload",
)
"""POST /cases: the four sequences as files and an optional pseudonym (multipart)."""


_SEQUENCE_NAME = fields.String(metadata={"enum": list(SEQUENCES)})


class SequenceActionSchema(Schema):
    """POST /cases/{case_id}/sequences: the answer to a sequence review (a JSON object)."""

    class Meta:
        """marshmallow options."""

        unknown = RAISE

    action = fields.String(
        required=True,
        validate=OneOf(ACTIONS, error="action must be one of: " + ", ".join(ACTIONS) + "."),
        metadata={"enum": list(ACTIONS),
                  "description": "`reassign`: move the files to the sequences they look like "
                                 "and re-run; `confirm`: keep the slots as uploaded and "
                                 "continue."},
    )
    assignment = fields.Dict(
        keys=_SEQUENCE_NAME, values=_SEQUENCE_NAME,
        metadata={"properties": {s: {"type": "string", "enum": list(SEQUENCES)}
                                 for s in SEQUENCES},
                  "required": list(SEQUENCES), "additionalProperties": False,
                  "description": "With `reassign` only: for each slot (flair, t1, t1ce, t2), "
                                 "the sequence its file is; a permutation of the four that "
                                 "moves at least one file. Default: the model's suggestion "
                                 "(`result.sequences.assignment`).",
                  "example": {"flair": "t2", "t1": "t1", "t1ce": "t1ce", "t2": "flair"}},
    )

    @validates_schema(pass_original=True)
    def _assignment_fits_action(self, data: dict[str, Any], original: Any,
                                **_: Any) -> None:
        """Refuse an assignment with `confirm`, and one that is not a permutation."""
        if "assignment" not in data:
            return
        if data.get("action") == CONFIRM:
            raise ValidationError("assignment goes with action reassign only; confirm keeps "
                                  "the slots as uploaded.", field_name="assignment")
        if data.get("action") == REASSIGN:
            raw = original.get("assignment") if isinstance(original, dict) else None
            try:
                validate_assignment(raw)
            except InvalidAssignment as exc:
                raise ValidationError(str(exc), field_name="assignment") from exc
