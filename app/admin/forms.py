"""Forms of the admin blueprint."""

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

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
