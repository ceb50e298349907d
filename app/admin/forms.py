"""Forms of the admin blueprint."""

from flask_wtf import FlaskForm
from wtforms import DateField, PasswordField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from app.auth.forms import EMAIL
from app.models.user import Role
from app.passwords import MIN_PASSWORD_LENGTH

ROLE_CHOICES = [
    SelectChoice(Role.CLINICIAN.value, "Clinician"),
    SelectChoice(Role.ADMIN.value, "Administrator"),
]


class CreateUserForm(FlaskForm):
    """A new account."""

    email = StringField("Email", validators=[DataRequired(), Length(max=254), EMAIL])
    display_name = StringField("Display name", validators=[Length(max=120)])
    password = PasswordField(
        "Initial password", validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH)]
    )
    role = SelectField("Role", choices=ROLE_CHOICES, default=Role.CLINICIAN.value)
    submit = SubmitField("Create user")


class ResetPasswordForm(FlaskForm):
    """A new password for an account."""

    password = PasswordField(
        "New password", validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH)]
    )
    submit = SubmitField("Reset password")


class RoleForm(FlaskForm):
    """Change an account's role."""

    role = SelectField("Role", choices=ROLE_CHOICES)
    submit = SubmitField("Set role")


class ActionForm(FlaskForm):
    """CSRF-protected button (activate / deactivate)."""


ANY = ""
NO_ACCOUNT = "none"
"""The user filter's value for events with no account (failed logins of unknown emails)."""


class AuditFilterForm(FlaskForm):
    """Filters of the audit log, read from the query string (a GET form: no CSRF token).

    The user and action choices are set by the view from the database; `validate` refuses an
    unknown user or action, a case id that is not (the start of) a case id, and a date range
    that ends before it starts.
    """

    class Meta:
        """A GET form changes nothing: no CSRF token (it would only clutter the URL)."""

        csrf = False

    user = SelectField("User", choices=[], default=ANY)
    action = SelectField("Action", choices=[], default=ANY)
    case = StringField("Case id (or its start)", validators=[
        Optional(), Length(max=32),
        Regexp(r"^[0-9a-f]+$", message="A case id is made of the hex digits 0-9 and a-f."),
    ], filters=[lambda value: value.strip().lower() if value else value])
    date_from = DateField("From (UTC)", validators=[Optional()])
    date_to = DateField("To (UTC, inclusive)", validators=[Optional()])

    def validate_date_to(self, field: DateField) -> None:
        """Refuse a range that ends before it starts."""
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("The end date is before the start date.")
