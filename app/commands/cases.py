"""`flask cases deidentify-stored`: de-identify scans stored before upload de-identification."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.group("cases")
def cases() -> None:
    """Maintenance of stored cases."""


@cases.command("deidentify-stored")
@click.option("--dry-run", is_flag=True, help="only count the files that would be rewritten")
@with_appcontext
def deidentify_stored(dry_run: bool) -> None:
    """Rewrite every stored scan with a de-identified header (exit status 1 on any problem)."""
    from app.cases.restore_privacy import deidentify_stored_scans

    report = deidentify_stored_scans(dry_run=dry_run, progress=click.echo)
    verb = "would be rewritten" if dry_run else "rewritten"
    click.echo(f"{report.checked} scans checked, {report.rewritten} {verb}, "
               f"{len(report.problems)} problem(s)")
    for line in report.problems:
        click.echo(line, err=True)
    if report.problems:
        raise SystemExit(1)
