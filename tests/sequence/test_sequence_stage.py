"""The sequence check as an analysis stage, with the shipped models on a BraTS-size phantom."""

from pathlib import Path

import pytest

from app.pipeline.analysis.runner import analyse_case
from app.pipeline.analysis.stages import SequenceStage, default_stages
from app.pipeline.io.naming import SEQUENCES
from app.pipeline.models.registry import discover_models, load_models
from app.pipeline.synthetic import phantoms

pytestmark = pytest.mark.slow

ROTATION = {"flair": "t2", "t1": "flair", "t1ce": "t1", "t2": "t1ce"}  # slot -> file it holds


@pytest.fixture(scope="module")
def shipped_models():
    return load_models(discover_models())


@pytest.fixture(scope="module")
def case_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("seqstage")
    case = phantoms.generate_case("G", 8321)  # a seed no model card lists
    paths = phantoms.write_case(case, folder, "P1")
    return {seq: next(p for p in paths if p.name.endswith(f"_{seq}.nii.gz")) for seq in SEQUENCES}


def test_default_stages_check_sequences_first_when_a_sequence_model_is_configured(
    shipped_models,
):
    names = [stage.name for stage in default_stages(shipped_models)]
    assert names[:4] == ["ingest", "sequence", "scope", "lesion"]
    assert isinstance(default_stages(shipped_models)[1], SequenceStage)


def test_correct_slots_go_on_to_a_subtype(shipped_models, case_files, tmp_path):
    summary = analyse_case(case_files, tmp_path / "out", shipped_models)
    assert summary["outcome"] == "subtype"
    assert summary["class"] in ("A", "O", "G")
    checked = summary["sequences"]
    assert checked["needs_review"] is False
    assert {s: checked["slots"][s]["detected"] for s in SEQUENCES} == {s: s for s in SEQUENCES}
    assert "sequence" in summary["timings"] and "sequence" in summary["models"]


def test_rotated_slots_stop_for_review_with_no_subtype(shipped_models, case_files, tmp_path):
    rotated = {slot: case_files[held] for slot, held in ROTATION.items()}
    summary = analyse_case(rotated, tmp_path / "out", shipped_models)
    assert summary["outcome"] == "needs_review"
    assert summary["class"] is None and summary["probabilities"] is None
    assert summary["sequences"]["assignment"] == ROTATION
    assert "FLAIR slot looks like T2" in summary["message"]
    assert (tmp_path / "out" / "montage.png").is_file()


def test_confirmed_slots_are_reported_but_not_stopped(shipped_models, case_files, tmp_path):
    rotated = {slot: case_files[held] for slot, held in ROTATION.items()}
    stages = default_stages(shipped_models, sequences_confirmed=True)
    summary = analyse_case(rotated, tmp_path / "out", shipped_models, stages=stages)
    # Not stopped for review again; what the later stages make of rotated contrasts is theirs.
    assert summary["outcome"] != "needs_review"
    assert summary["sequences"]["needs_review"] is True
    assert summary["sequences"]["confirmed_by_user"] is True
