"""Forms of the auth blueprint."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from app.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

EMAIL = Regexp(r"^[^@\s]+@[^@\s]+$", message="Enter an email address.")


class LoginForm(FlaskForm):
    """Email and password."""

    email = StringField("Email", validators=[DataRequired(), Length(max=254), EMAIL])
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )
    remember = BooleanField("Keep me signed in")
    submit = SubmitField("Log in")


class TokenForm(FlaskForm):
    """Create a personal API token."""

    name = StringField("Token name", validators=[DataRequired(), Length(max=80)])
    submit = SubmitField("Create token")


class ChangePasswordForm(FlaskForm):
    """The current password, and a new one typed twice (the rule is app/passwords.py)."""

    current_password = PasswordField("Current password", validators=[DataRequired()])
    new_password = PasswordField(
        "New password",
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH)],
    )
    confirm = PasswordField(
        "New password again",
        validators=[DataRequired(), EqualTo("new_password", message="The passwords differ.")],
    )
    submit = SubmitField("Change password")
