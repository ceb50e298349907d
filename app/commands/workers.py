"""`flask workers`: which workers are online, on which device, serving which model."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.worker.registry import online_workers


@click.command("workers")
@with_appcontext
def workers() -> None:
    """List the workers seen in the last 90 seconds (exit status 1 when there is none)."""
    rows = online_workers()
    for w in rows:
        click.echo(f"{w.hostname}\tpid {w.pid}\t{w.device or 'loading'}\t"
                   f"{w.model_name or '-'} {w.model_version or ''}\tcases {w.cases_done}\t"
                   f"last seen {w.last_seen_at:%H:%M:%S}")
    if not rows:
        click.echo("No worker seen in the last 90 seconds.", err=True)
        raise SystemExit(1)
