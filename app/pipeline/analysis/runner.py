"""Run the analysis of one case: the stages in order over one context, then summary.json.

``analyse_case(paths, out_dir, models, progress)`` is what the worker and ``flask model predict``
run. Artefacts are written into a temporary folder beside ``out_dir`` and moved in only when all
of them exist (summary.json last), so a crash leaves no half-written result. This module does not
import TensorFlow itself; the loaded models do.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from app.pipeline.analysis.context import AnalysisContext, Progress, Stage
from app.pipeline.analysis.stages import LesionResult, SubtypeOutput, default_stages
from app.pipeline.analysis.summary import build_summary
from app.pipeline.models.registry import ModelSet
from app.pipeline.outcomes import Outcome
from app.pipeline.render import artefacts as art

START_PERCENT = 5
"""Percent reported as the first stage starts; the last stage starts below 100."""


def analyse_case(
    paths: Mapping[str, Path],
    out_dir: str | os.PathLike,
    models: ModelSet,
    progress: Progress | None = None,
    stages: Sequence[Stage] | None = None,
) -> dict[str, Any]:
    """Analyse one case and return the summary dict (also written as ``out_dir``/summary.json).

    ``paths`` maps each sequence to its NIfTI file; ``models`` is the process's ModelSet
    (``registry.load_models``); ``stages`` default to ``stages.default_stages(models)``.
    ``progress(label, percent)`` is called as each stage starts and with (last label, 100) at the
    end. Each stage's seconds are in summary["timings"][stage name], the whole run in "total".
    Raises InvalidInputError when the data are refused; nothing is written into ``out_dir`` then,
    nor on any other failure.
    """
    stages = list(default_stages(models) if stages is None else stages)
    report = progress or (lambda label, percent: None)
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        ctx = AnalysisContext(paths=paths, models=models, scratch=tmp, progress=report)
        t_start = time.perf_counter()
        run_stages(stages, ctx)
        ctx.timings["total"] = time.perf_counter() - t_start
        summary = summary_of(ctx)
        art.write_summary(summary, tmp / art.SUMMARY_JSON)
        _move_into(tmp, out, summary["artefacts"].values())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report(stages[-1].label if stages else "", 100)
    return summary


def run_stages(stages: Sequence[Stage], ctx: AnalysisContext) -> None:
    """Run ``stages`` in order on ``ctx``, reporting progress and timing each; returns None.

    After a stage calls ``ctx.end_early``, only stages with ``runs_when_ended`` run. The tasks of
    the models whose stages ran go into ``ctx.models_run``. Whatever a stage raises propagates.
    """
    n = max(len(stages), 1)
    for i, stage in enumerate(stages):
        if ctx.ended is not None and not stage.runs_when_ended:
            continue
        ctx.stage, ctx.task = stage.name, stage.task
        ctx.progress(stage.label, START_PERCENT + (100 - START_PERCENT) * i // n)
        t = time.perf_counter()
        stage.run(ctx)
        ctx.timings[stage.name] = time.perf_counter() - t
        if stage.task is not None and stage.task not in ctx.models_run:
            ctx.models_run.append(stage.task)
    ctx.stage, ctx.task = "", None


def summary_of(ctx: AnalysisContext) -> dict[str, Any]:
    """Return the summary of a context whose stages have run (see ``summary.build_summary``).

    ``decided_by`` is the model of the stage that ended the analysis (the subtype model when
    none did); ``models`` only those whose stages ran.
    """
    lesion = ctx.result("lesion", LesionResult).summary_keys() if ctx.has_result("lesion") else None
    subtype = ctx.result("subtype", SubtypeOutput).result if ctx.has_result("subtype") else None
    written = ctx.result("artefacts", dict) if ctx.has_result("artefacts") else {}
    artefacts = {
        key: name for key, name in art.ARTEFACT_KEYS.items()
        if key in written or name == art.SUMMARY_JSON
    }
    ended = ctx.ended
    return build_summary(
        cards=ctx.models.cards(),
        timings=ctx.timings,
        subtype=subtype,
        lesion=lesion,
        outcome=ended.outcome if ended else Outcome.SUBTYPE,
        message=ended.message if ended else None,
        decided_by=ended.task if ended else None,
        models_run=ctx.models_run,
        artefacts=artefacts,
        extra=ctx.summary_keys,
    )


def _move_into(tmp: Path, out: Path, names: Any) -> None:
    """Move the named artefacts from ``tmp`` into ``out`` (summary.json last, by os.replace)."""
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        if name != art.SUMMARY_JSON:
            os.replace(tmp / name, out / name)
    os.replace(tmp / art.SUMMARY_JSON, out / art.SUMMARY_JSON)
