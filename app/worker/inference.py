"""The one place where the worker meets the analysis: load the models, run one case.

TensorFlow is imported only inside these functions, so only worker processes load it. When the
pipeline's entry points change, this module is the only one in app/worker to re-point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import current_app


@dataclass(frozen=True)
class ModelIdentity:
    """What a worker reports about the model it serves (shown on the admin health page)."""

    device: str
    name: str
    version: str
    weights_sha256: str


def configured_model_dirs() -> dict[str, Path]:
    """Return {task: model folder}: the folders under MODELS_ROOT, overridden by MODEL_DIRS.

    Raises the pipeline's CardError when a card is invalid or two folders serve one task.
    """
    from app.pipeline.models.registry import discover_models

    dirs = discover_models(current_app.config["MODELS_ROOT"])
    dirs.update({task: Path(folder) for task, folder in current_app.config["MODEL_DIRS"].items()})
    return dirs


def load_models() -> Any:
    """Return this process's ModelSet (every configured task's model), loaded once.

    The first call loads and warms up each model; later calls return the same object.
    """
    from app.pipeline.models.registry import load_models as load  # TensorFlow: workers only

    return load(configured_model_dirs())


def model_identity(models: Any) -> ModelIdentity:
    """Return the device and the subtype model's name, version and weights hash of a ModelSet."""
    main = models["subtype"] if "subtype" in models else next(iter(models.models.values()))
    card = main.card
    return ModelIdentity(device=str(getattr(main, "device", "cpu")), name=str(card.name),
                         version=str(card.version), weights_sha256=str(card.weights_sha256))


def run_analysis(paths: dict[str, Path], out_dir: Path,
                 progress: Callable[[str, int], None], *,
                 sequences_confirmed: bool = False) -> dict[str, Any]:
    """Analyse one case's scans into `out_dir` and return the summary dict.

    Raises the pipeline's InvalidInputError for bad input; `progress(label, percent)` is called
    as the analysis advances. `sequences_confirmed`: the user confirmed the slots after a
    sequence-check warning, so the check reports but does not stop the analysis again.
    """
    from app.pipeline.analysis.runner import analyse_case
    from app.pipeline.analysis.stages import default_stages

    models = load_models()
    stages = default_stages(models, sequences_confirmed=sequences_confirmed)
    return analyse_case(paths, out_dir, models, progress=progress, stages=stages)
