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


def load_models() -> Any:
    """Return this process's models (today the subtype classifier from MODEL_DIR), loaded once.

    The first call loads and warms up the model; later calls return the same object.
    """
    from app.pipeline.classifier import get_classifier  # TensorFlow: worker processes only

    return get_classifier(str(current_app.config["MODEL_DIR"]))


def model_identity(models: Any) -> ModelIdentity:
    """Return the device, name, version and weights hash of the models `load_models` returned."""
    card = models.card
    return ModelIdentity(device=str(models.device), name=str(card.name),
                         version=str(card.version), weights_sha256=str(card.weights_sha256))


def run_analysis(paths: dict[str, Path], out_dir: Path,
                 progress: Callable[[str, int], None]) -> dict[str, Any]:
    """Analyse one case's scans into `out_dir` and return the summary dict.

    Raises the pipeline's InvalidInputError for bad input; `progress(stage, percent)` is called
    as the analysis advances.
    """
    from app.pipeline.analysis import analyse_case

    return analyse_case(paths, out_dir, load_models(), progress=progress)
