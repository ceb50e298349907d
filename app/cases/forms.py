"""Forms of the cases blueprint."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, Field, StringField, SubmitField
from wtforms.validators import ValidationError

from app.cases.uploads import UploadError, clean_pseudonym
from app.pipeline.io.naming import SEQUENCE_LABELS


def _file_field(sequence: str) -> FileField:
    label = SEQUENCE_LABELS[sequence]
    return FileField(label, validators=[FileRequired(f"Choose the {label} file.")])


def pseudonym_rule(_form: FlaskForm, field: Field) -> None:
    """Check the field with the uploads' one pseudonym rule; refuses with its message."""
    try:
        clean_pseudonym(field.data)
    except UploadError as exc:
        raise ValidationError(str(exc)) from exc


class UploadForm(FlaskForm):
    """One patient's four sequences and an optional pseudonym."""

    flair = _file_field("flair")
    t1 = _file_field("t1")
    t1ce = _file_field("t1ce")
    t2 = _file_field("t2")
    pseudonym = StringField(
        "Patient pseudonym (optional, no real names)",
        validators=[pseudonym_rule],
    )
    confirm_pseudonym = BooleanField("This pseudonym is not the patient's name")
    submit = SubmitField("Upload and analyse")


class ConfirmForm(FlaskForm):
    """An empty form: CSRF protection for buttons that POST (re-run, delete)."""
