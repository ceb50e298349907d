"""Which model serves which task, and loading each configured model once per process.

A models folder holds one folder per model (``models/NAME/card.json`` + weights); each card names
its ``task``. :func:`discover_models` maps tasks to the shipped folders; the worker passes its
configured mapping ``{task: folder}`` to :func:`load_models`, which loads and warms up each model
the first time and returns the same :class:`ModelSet` afterwards. Importing this module loads
nothing and does not import TensorFlow; loading a model does.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from app.pipeline.models.card import CARD_FILE, BaseCard, CardError, ModelCard

log = logging.getLogger(__name__)

MODELS_ROOT = Path(__file__).resolve().parents[3] / "models"
"""The repository's models folder (the shipped models)."""


class LoadedModel(Protocol):
    """What every loaded model offers the analysis: its card and the folder it came from."""

    card: BaseCard
    model_dir: Path


def _load_subtype(model_dir: Path) -> LoadedModel:
    from app.pipeline.models.subtype import Classifier  # TensorFlow: worker processes only

    classifier = Classifier.load(model_dir)
    classifier.warm_up()
    return classifier


def _load_sequence(model_dir: Path) -> LoadedModel:
    from app.pipeline.models.sequence import SequenceModel  # TensorFlow: worker processes only

    model = SequenceModel.load(model_dir)
    model.warm_up()
    return model


def _load_tumour_type(model_dir: Path) -> LoadedModel:
    from app.pipeline.models.tumour_type import TumourTypeModel  # TensorFlow: workers only

    model = TumourTypeModel.load(model_dir)
    model.warm_up()
    return model


def _load_segmentation(model_dir: Path) -> LoadedModel:
    from app.pipeline.lesion.segmentation import Segmenter  # TensorFlow: workers only

    model = Segmenter.load(model_dir)
    model.warm_up()
    return model


LOADERS: dict[str, Callable[[Path], LoadedModel]] = {
    "subtype": _load_subtype,
    "segmentation": _load_segmentation,
    "sequence": _load_sequence,
    "tumour-type": _load_tumour_type,
}
"""Task -> function loading (and warming up) a model folder for that task."""


def _sequence_card(model_dir: Path) -> BaseCard:
    from app.pipeline.models.sequence import SequenceCard  # pydantic + numpy, no TensorFlow

    return SequenceCard.load(model_dir)


def _tumour_type_card(model_dir: Path) -> BaseCard:
    from app.pipeline.models.tumour_type import TumourTypeCard  # no TensorFlow

    return TumourTypeCard.load(model_dir)


def _segmentation_card(model_dir: Path) -> BaseCard:
    from app.pipeline.lesion.segmentation_card import SegmentationCard  # no TensorFlow

    return SegmentationCard.load(model_dir)


CARD_READERS: dict[str, Callable[[Path], BaseCard]] = {
    "subtype": ModelCard.load,
    "segmentation": _segmentation_card,
    "sequence": _sequence_card,
    "tumour-type": _tumour_type_card,
}
"""Task -> the card class's reader (each task's card extends BaseCard with its own fields)."""


def read_card(model_dir: str | Path) -> BaseCard:
    """Return the validated card in ``model_dir``, parsed by the card class of its ``task``.

    CardError when card.json is missing, unreadable, names no known task or fails validation.
    """
    path = Path(model_dir) / CARD_FILE
    try:
        task = json.loads(path.read_text(encoding="utf-8")).get("task")
    except FileNotFoundError:
        raise CardError(f"no model card at {path}") from None
    except (OSError, ValueError, AttributeError) as exc:
        raise CardError(f"unreadable model card {path}: {exc}") from exc
    reader = CARD_READERS.get(task)
    if reader is None:
        raise CardError(f"{path}: unknown task {task!r}; known tasks: {sorted(CARD_READERS)}")
    return reader(Path(model_dir))


@dataclass(frozen=True)
class ModelSet:
    """The loaded models of one process, by task. ``models[task]`` is e.g. a ``Classifier``."""

    models: Mapping[str, LoadedModel] = field(default_factory=dict)

    def __contains__(self, task: object) -> bool:
        """Return True when a model serves ``task``."""
        return task in self.models

    def __iter__(self) -> Iterator[str]:
        """Iterate over the configured tasks."""
        return iter(self.models)

    def __getitem__(self, task: str) -> Any:
        """Return the model serving ``task``; KeyError naming the configured tasks otherwise."""
        try:
            return self.models[task]
        except KeyError:
            configured = sorted(self.models)
            raise KeyError(f"no model for task {task!r}; configured: {configured}") from None

    def cards(self) -> dict[str, BaseCard]:
        """Return {task: card} of every loaded model."""
        return {task: model.card for task, model in self.models.items()}

    def summary_blocks(self) -> dict[str, dict[str, Any]]:
        """Return the summary's ``models`` block: {task: card summary block}."""
        return {task: model.card.summary_block() for task, model in self.models.items()}


def discover_models(root: str | Path = MODELS_ROOT) -> dict[str, Path]:
    """Return {task: model folder} for the model folders under ``root`` (``*/card.json``).

    Reads and validates each card (no weights, no TensorFlow). CardError when a card is invalid
    or two folders serve the same task (the configuration must then say which one).
    """
    found: dict[str, Path] = {}
    for card_path in sorted(Path(root).glob(f"*/{CARD_FILE}")):
        card = read_card(card_path.parent)
        if card.task in found:
            raise CardError(
                f"{found[card.task]} and {card_path.parent} both serve task {card.task!r}; "
                "configure which one to use"
            )
        found[card.task] = card_path.parent
    return found


def load_models(model_dirs: Mapping[str, str | Path] | None = None) -> ModelSet:
    """Return the ModelSet for ``{task: model folder}`` (default: :func:`discover_models`).

    Each model is loaded, checked against its card (sha256, architecture) and warmed up the
    first time a mapping is asked for; later calls with the same mapping return the same
    ModelSet (one per process). CardError when a folder's card names another task, a task has
    no loader, or a card / weights file is missing or inconsistent.
    """
    if model_dirs is None:
        model_dirs = discover_models()
    key = tuple(sorted((task, str(Path(path).resolve())) for task, path in model_dirs.items()))
    return _load_cached(key)


@functools.lru_cache(maxsize=4)
def _load_cached(key: tuple[tuple[str, str], ...]) -> ModelSet:
    models: dict[str, LoadedModel] = {}
    for task, folder in key:
        loader = LOADERS.get(task)
        if loader is None:
            raise CardError(f"no loader for task {task!r}; known tasks: {sorted(LOADERS)}")
        card = read_card(folder)
        if card.task != task:
            raise CardError(f"{folder} is a {card.task!r} model, configured for task {task!r}")
        models[task] = loader(Path(folder))
        log.info("loaded %s model %s %s from %s", task, card.name, card.version, folder)
    return ModelSet(models)
