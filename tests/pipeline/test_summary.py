"""build_summary: the one summary shape, for a subtype and for every early outcome."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.pipeline.analysis.summary import build_summary
from app.pipeline.models.card import ModelCard
from app.pipeline.models.prediction import SubtypeResult
from app.pipeline.outcomes import EARLY_OUTCOMES, OUTCOME_LABELS, OUTCOMES
from app.pipeline.render.artefacts import ARTEFACT_KEYS, SUMMARY_KEYS

LESION = {"slice_method": "robust", "slice_index": 70, "candidate_volume_ml": 31.5,
          "no_lesion_found": False}
TIMINGS = {"ingest": 0.5, "lesion": 0.25, "subtype": 0.75, "total": 1.6}


@pytest.fixture
def cards():
    return {"subtype": ModelCard(task="subtype", name="m", training_data="Phantoms.")}


@pytest.fixture
def subtype():
    probs = np.array([[0.1, 0.1, 0.8], [0.0, 0.0, 1.0], [0.2, 0.1, 0.7]])
    return SubtypeResult.from_probabilities(probs, ("A", "O", "G"), [69, 70, 71], 70,
                                            no_lesion_found=False,
                                            low_confidence_limits={"margin": 0.2})


def test_subtype_summary_has_every_key(cards, subtype):
    summary = build_summary(cards=cards, timings=TIMINGS, subtype=subtype, lesion=LESION)
    assert set(summary) == set(SUMMARY_KEYS)
    assert json.loads(json.dumps(summary)) == summary
    assert summary["outcome"] == "subtype" and summary["class"] == "G"
    assert summary["class_name"] == "Glioblastoma, IDH-wildtype"
    assert summary["uncertainty"]["slices"] == [69, 70, 71]
    assert summary["models"] == {"subtype": summary["model"]}
    assert summary["model"]["training_data"] == "Phantoms"  # pages add their own full stop
    assert summary["timings"]["total"] == 1.6 and summary["artefacts"] == ARTEFACT_KEYS


@pytest.mark.parametrize("outcome", EARLY_OUTCOMES)
def test_an_early_end_has_no_class(cards, subtype, outcome):
    summary = build_summary(cards=cards, timings=TIMINGS, subtype=subtype, lesion=LESION,
                            outcome=outcome, message="Why it stopped.")
    assert set(summary) == set(SUMMARY_KEYS) and summary["outcome"] == outcome
    assert summary["class"] is None and summary["probabilities"] is None
    assert summary["message"] == "Why it stopped." and summary["slice_index"] == 70


def test_refusals(cards, subtype):
    with pytest.raises(ValueError, match="needs the subtype result"):
        build_summary(cards=cards, timings=TIMINGS)
    with pytest.raises(ValueError, match="unknown outcome"):
        build_summary(cards=cards, timings=TIMINGS, outcome="maybe")
    with pytest.raises(ValueError, match="clash"):
        build_summary(cards=cards, timings=TIMINGS, subtype=subtype, extra={"class": "A"})


def test_every_outcome_has_words():
    assert set(OUTCOME_LABELS) == set(OUTCOMES) and OUTCOMES[0] == "subtype"
