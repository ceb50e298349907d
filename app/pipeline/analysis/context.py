"""The analysis context and the stage protocol every analysis stage follows.

A stage is any object with a ``name`` (the key of its result and its timing), a ``label`` (words for
the waiting page), ``runs_when_ended`` (True only for stages that must run even after an earlier
stage ended the analysis, such as the artefacts the user still sees), ``task`` (the card task of the
model it runs, None for a stage without a model) and ``run(ctx) -> None``. A stage reads what
earlier stages left in the :class:`AnalysisContext` (``ctx.case``, ``ctx.result(name, Type)``),
stores its own typed result with ``ctx.set_result(self.name, value)``, adds keys to the summary with
``ctx.add_to_summary`` and may stop the analysis with ``ctx.end_early``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from app.pipeline.models.registry import ModelSet
from app.pipeline.outcomes import EARLY_OUTCOMES, deciding_task

Progress = Callable[[str, int], None]
"""``progress(label, percent)``: called as each stage starts and with 100 at the end."""

T = TypeVar("T")


def _no_progress(label: str, percent: int) -> None:
    """Ignore progress (the default when nobody listens)."""


@dataclass(frozen=True)
class EarlyEnd:
    """Why the analysis ended before a subtype: an outcome of EARLY_OUTCOMES, a message, the
    stage that ended it and the task of the model that decided (None for a stage without one)."""

    outcome: str
    message: str
    stage: str
    task: str | None = None


class Stage(Protocol):
    """One step of the analysis (see the module docstring)."""

    name: str
    label: str
    runs_when_ended: bool
    task: str | None

    def run(self, ctx: AnalysisContext) -> None:
        """Do the stage's work on ``ctx``; return nothing."""


@dataclass(eq=False)
class AnalysisContext:
    """Everything the stages of one analysis share.

    ``paths`` {sequence: NIfTI file}; ``models`` the process's ModelSet; ``scratch`` the folder
    artefacts are written into (moved to the result folder only when all succeed); ``case`` the
    LoadedCase once the ingest stage ran; ``timings`` seconds per stage name; ``stage`` the name
    of the running stage and ``task`` the task of its model; ``models_run`` the tasks of the
    models whose stages ran, in order; ``ended`` set by :meth:`end_early`.
    """

    paths: Mapping[str, Path]
    models: ModelSet
    scratch: Path
    progress: Progress = _no_progress
    case: Any = None
    timings: dict[str, float] = field(default_factory=dict)
    ended: EarlyEnd | None = None
    _results: dict[str, Any] = field(default_factory=dict)
    _summary: dict[str, Any] = field(default_factory=dict)
    stage: str = ""
    task: str | None = None
    models_run: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------ results
    def set_result(self, name: str, value: Any) -> None:
        """Store stage ``name``'s typed result (once per stage); RuntimeError when stored twice."""
        if name in self._results:
            raise RuntimeError(f"stage {name!r} stored its result twice")
        self._results[name] = value

    def result(self, name: str, kind: type[T]) -> T:
        """Return the result stage ``name`` stored, checked to be a ``kind``.

        KeyError when that stage did not run or stored nothing (a stage-order bug); TypeError
        when the result is of another type.
        """
        try:
            value = self._results[name]
        except KeyError:
            raise KeyError(f"no result of stage {name!r}; ran: {sorted(self._results)}") from None
        if not isinstance(value, kind):
            raise TypeError(f"result of stage {name!r} is {type(value).__name__}, "
                            f"not {kind.__name__}")
        return value

    def has_result(self, name: str) -> bool:
        """Return True when stage ``name`` stored a result."""
        return name in self._results

    # ------------------------------------------------------------------ summary
    def add_to_summary(self, **keys: Any) -> None:
        """Add JSON-able keys to the case summary; a key may be given by one stage only.

        ValueError when another stage already set one of ``keys``.
        """
        taken = sorted(set(keys) & set(self._summary))
        if taken:
            raise ValueError(f"summary keys {taken} set twice (by stage {self.stage!r})")
        self._summary.update(keys)

    @property
    def summary_keys(self) -> dict[str, Any]:
        """Return a copy of the keys stages added to the summary."""
        return dict(self._summary)

    # ------------------------------------------------------------------ ending early
    def end_early(self, outcome: str, message: str) -> None:
        """End the analysis after the running stage with ``outcome`` and a message for the user.

        Later stages are skipped unless their ``runs_when_ended`` is True; the summary's class and
        probabilities are then None. The running stage's model (``task``) is recorded as the one
        that decided. ValueError for an outcome not in EARLY_OUTCOMES, for a model that cannot
        decide it (``outcomes.DECIDED_BY``), or when the analysis has already ended.
        """
        if outcome not in EARLY_OUTCOMES:
            raise ValueError(f"unknown early outcome {outcome!r}; expected one of {EARLY_OUTCOMES}")
        if self.ended is not None:
            raise ValueError(f"the analysis already ended ({self.ended.outcome})")
        if self.task is not None:
            deciding_task(outcome, self.task)  # ValueError for a model that cannot decide it
        self.ended = EarlyEnd(outcome, message, self.stage, self.task)
