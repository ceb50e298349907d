"""`flask users ...`: manage accounts from the command line."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from app.accounts import AccountError, create_user, random_password, user_count
from app.extensions import db
from app.models import ApiToken, Role, User


@click.group()
def users() -> None:
    """Manage user accounts."""


@users.command("create")
@click.argument("email")
@click.option("--admin", is_flag=True, help="Give the account the admin role.")
@click.option("--name", default="", help="Display name.")
@click.option("--password", default=None, help="Password (prompted for when absent).")
@with_appcontext
def create(email: str, admin: bool, name: str, password: str | None) -> None:
    """Create an account; prompts for the password when --password is absent."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    role = Role.ADMIN.value if admin else Role.CLINICIAN.value
    try:
        user = create_user(email, password, role=role, display_name=name)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Created {user.role} {user.email}.")


@users.command("list")
@with_appcontext
def list_users() -> None:
    """Print every account: email, role, active."""
    for user in db.session.scalars(select(User).order_by(User.email)):
        click.echo(f"{user.email}\t{user.role}\t{'active' if user.active else 'inactive'}")


@users.command("ensure-admin")
@with_appcontext
def ensure_admin() -> None:
    """When there are no accounts at all, create admin@localhost with a random password.

    The password is printed once, here; it is stored only as a hash.
    """
    if user_count() > 0:
        return
    password = random_password()
    create_user(
        "admin@localhost", password, role=Role.ADMIN.value, display_name="Administrator",
        must_change_password=True,
    )
    db.session.commit()
    click.echo("=" * 64)
    click.echo("First run: created administrator  admin@localhost")
    click.echo(f"with the one-time password         {password}")
    click.echo("It is not shown again. Log in: you will be asked to change it at once.")
    click.echo("=" * 64)


@users.command("token")
@click.argument("email")
@click.option("--name", default="cli", help="A label for the token.")
@with_appcontext
def token(email: str, name: str) -> None:
    """Create a personal API token for EMAIL and print it (once)."""
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"No user with email {email}.")
    row, plain = ApiToken.issue(user.id, name)
    db.session.add(row)
    db.session.commit()
    click.echo(plain)
