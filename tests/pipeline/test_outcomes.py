"""Which model decides which outcome (`outcomes.DECIDED_BY`): the real analysis records the model
of the stage that ended it, refuses a model that cannot decide an outcome, and lists only the
models whose stages ran (issue 15)."""

from __future__ import annotations

import pytest

from app.pipeline.analysis.context import AnalysisContext
from app.pipeline.analysis.summary import build_summary
from app.pipeline.models.card import TASKS, ModelCard
from app.pipeline.outcomes import DECIDED_BY, MODEL_ROLES, OUTCOMES, deciding_task
from tests.sections import OUTCOME_INPUTS, outcome_summary


def test_every_outcome_has_a_decider_among_the_tasks():
    assert set(DECIDED_BY) == set(OUTCOMES) == set(OUTCOME_INPUTS)
    assert {t for tasks in DECIDED_BY.values() for t in tasks} <= set(TASKS)
    assert set(MODEL_ROLES) == set(TASKS)


def test_deciding_task():
    assert deciding_task("not_glioma") == "tumour-type"
    assert deciding_task("subtype") == "subtype"
    assert deciding_task("no_tumour") is None  # two models may decide it: say which
    assert deciding_task("no_tumour", "segmentation") == "segmentation"
    with pytest.raises(ValueError, match="cannot decide"):
        deciding_task("not_glioma", "subtype")
    with pytest.raises(ValueError, match="unknown outcome"):
        deciding_task("maybe")


EXPECTED = {
    "subtype": ("subtype", ["sequence", "tumour-type", "segmentation", "subtype"]),
    "needs_review": ("sequence", ["sequence"]),
    "no_tumour": ("segmentation", ["sequence", "tumour-type", "segmentation"]),
    "not_glioma": ("tumour-type", ["sequence", "tumour-type"]),
    "uncertain_type": ("tumour-type", ["sequence", "tumour-type"]),
    "out_of_distribution": ("tumour-type", ["sequence", "tumour-type"]),
}


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_the_real_analysis_credits_the_model_that_decided(outcome):
    summary = outcome_summary(outcome)
    decider, ran = EXPECTED[outcome]
    assert summary["outcome"] == outcome and summary["decided_by"] == decider
    assert summary["model"] == summary["models"][decider]
    assert list(summary["models"]) == ran  # in the order the stages ran, none that did not
    assert ("segmentation" in summary) is ("segmentation" in ran)  # scope runs first


def test_a_stage_cannot_end_with_an_outcome_its_model_does_not_decide(tmp_path):
    ctx = AnalysisContext(paths={}, models=None, scratch=tmp_path)
    ctx.stage, ctx.task = "subtype", "subtype"
    with pytest.raises(ValueError, match="cannot decide"):
        ctx.end_early("not_glioma", "x")
    ctx.stage, ctx.task = "scope", "tumour-type"
    ctx.end_early("not_glioma", "Looks like a meningioma.")
    assert ctx.ended.task == "tumour-type" and ctx.ended.stage == "scope"


def test_build_summary_takes_the_deciding_card():
    cards = {task: ModelCard(task=task, name=f"{task}-m") for task in ("subtype", "tumour-type")}
    summary = build_summary(cards=cards, timings={}, outcome="not_glioma", message="m",
                            models_run=["tumour-type"])
    assert summary["decided_by"] == "tumour-type" and summary["model"]["name"] == "tumour-type-m"
    assert list(summary["models"]) == ["tumour-type"]
    with pytest.raises(ValueError, match="cannot decide"):
        build_summary(cards=cards, timings={}, outcome="not_glioma", decided_by="subtype")
