"""Forms of the auth blueprint."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Regexp

EMAIL = Regexp(r"^[^@\s]+@[^@\s]+$", message="Enter an email address.")


class LoginForm(FlaskForm):
    """Email and password."""

    email = StringField("Email", validators=[DataRequired(), Length(max=254), EMAIL])
    password = PasswordField("Password", validators=[DataRequired()])
    remember = BooleanField("Keep me signed in")
    submit = SubmitField("Log in")


class TokenForm(FlaskForm):
    """Create a personal API token."""

    name = StringField("Token name", validators=[DataRequired(), Length(max=80)])
    submit = SubmitField("Create token")
