"""Imaging and model commands: thin wrappers over the pipeline's own argument parsers.

Each pipeline module owns its `main(argv)`, so the options are defined once and work the same
as `python -m app.pipeline.<module>`. TensorFlow is imported only when a command runs.
"""

from __future__ import annotations

import importlib

import click
from flask import Flask

# command name -> (pipeline module, help)
PIPELINE_COMMANDS = {
    "phantoms": ("app.pipeline.synthetic.phantoms", "Write synthetic phantom cases (CPM-RadPath layout)."),
    "predict": ("app.pipeline.analysis.runner", "Analyse case folders; one JSON line per case."),
    "train": ("app.pipeline.training.train", "Train a classifier and write weights + model card."),
    "evaluate": ("app.pipeline.training.evaluation", "Print CPM-RadPath metrics on labelled data."),
    "import-model": ("app.pipeline.training.import_model", "Import a model saved by the original notebook."),
}


def _make_command(name: str, module: str, help_text: str) -> click.Command:
    @click.command(
        name,
        help=f"{help_text} Run with --help for the options.",
        context_settings={"ignore_unknown_options": True, "help_option_names": []},
        add_help_option=False,
    )
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def command(args: tuple[str, ...]) -> None:
        try:
            status = importlib.import_module(module).main(list(args))
        except (ValueError, FileNotFoundError) as exc:  # the user's data or paths, not our bugs
            raise click.ClickException(str(exc)) from exc
        if status:
            raise SystemExit(status)

    return command


def register_pipeline_commands(app: Flask) -> None:
    """Add `flask phantoms|predict|train|evaluate|import-model` to `app`'s CLI."""
    for name, (module, help_text) in PIPELINE_COMMANDS.items():
        app.cli.add_command(_make_command(name, module, help_text))
