"""Forms of the cases blueprint."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, StringField, SubmitField
from wtforms.validators import Length, Optional, Regexp

from app.models.case import PSEUDONYM_MAX_LENGTH, PSEUDONYM_PATTERN
from app.pipeline.sequences import SEQUENCE_LABELS


def _file_field(sequence: str) -> FileField:
    label = SEQUENCE_LABELS[sequence]
    return FileField(label, validators=[FileRequired(f"Choose the {label} file.")])


class UploadForm(FlaskForm):
    """One patient's four sequences and an optional pseudonym."""

    flair = _file_field("flair")
    t1 = _file_field("t1")
    t1ce = _file_field("t1ce")
    t2 = _file_field("t2")
    pseudonym = StringField(
        "Patient pseudonym (optional, no real names)",
        validators=[
            Optional(),
            Length(max=PSEUDONYM_MAX_LENGTH),
            Regexp(PSEUDONYM_PATTERN, message="Use letters, digits, spaces, dots, dashes only."),
        ],
    )
    confirm_pseudonym = BooleanField("This pseudonym is not the patient's name")
    submit = SubmitField("Upload and analyse")


class ConfirmForm(FlaskForm):
    """An empty form: CSRF protection for buttons that POST (re-run, delete)."""
