"""CLI commands registered on the app (`flask users ...`, `flask model ...`, ...)."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Attach every CLI group and command to `app`."""
    from app.commands.cases import cases
    from app.commands.pipeline import register_pipeline_commands
    from app.commands.users import users
    from app.commands.workers import workers

    app.cli.add_command(cases)
    app.cli.add_command(users)
    app.cli.add_command(workers)
    register_pipeline_commands(app)
