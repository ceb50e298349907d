"""Worker entry for fault tests: the real worker (`app.celery_worker`, its signals, state machine,
recovery and Celery settings) with a gated stand-in for the analysis and no model to load.

`celery -A tests.worker.standin_worker worker ...` with STANDIN_DIR set. Each attempt appends
"<pid>" (the pool child running it) to STANDIN_DIR/started, then waits until STANDIN_DIR/open
exists and returns a summary built by the pipeline's own `build_summary` (tests.factories). So a
test knows for certain that a case is mid-analysis, and in which process, before it strikes.
The real analysis in real workers is covered by tests/worker/test_worker_processes.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import app.worker.signals as worker_signals
import app.worker.tasks as worker_tasks
from app.worker.inference import ModelIdentity
from tests.factories import make_summary

GATE_POLL_S = 0.05


def standin_dir() -> Path:
    """Return the folder the stand-in and the test talk through (STANDIN_DIR)."""
    return Path(os.environ["STANDIN_DIR"])


def started_pids(folder: Path) -> list[int]:
    """Return the pids of the pool children that started an attempt, in order."""
    path = folder / "started"
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def gated_analysis(paths: dict[str, Path], out_dir: Path, progress: Callable[[str, int], None],
                   *, sequences_confirmed: bool = False) -> dict[str, Any]:
    """Record this attempt, wait for the gate to open, and return a real-shaped summary."""
    folder = standin_dir()
    progress("stand-in", 10)
    with (folder / "started").open("a") as started:
        started.write(f"{os.getpid()}\n")
    while not (folder / "open").exists():
        time.sleep(GATE_POLL_S)
    return make_summary("O")


def no_models() -> None:
    """Load nothing: the stand-in analysis needs no model."""
    return None


def standin_identity(_models: object) -> ModelIdentity:
    """Return the identity the stand-in worker reports on the workers page."""
    return ModelIdentity(device="stand-in", name="stand-in", version="0", weights_sha256="0" * 64)


worker_tasks.run_analysis = gated_analysis
worker_signals.load_models = no_models
worker_signals.model_identity = standin_identity

from app.celery_worker import celery, flask_app  # noqa: E402  (after the stand-ins are set)

__all__ = ["celery", "flask_app"]
