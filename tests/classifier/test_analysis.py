"""analyse_case: stages, artefacts, summary keys, progress, timings, early ends; batch predict."""

from __future__ import annotations

import json
from dataclasses import dataclass

import nibabel as nib
import numpy as np
import pytest

from app.pipeline.analysis import runner
from app.pipeline.analysis.batch import case_paths, predict_dirs
from app.pipeline.analysis.context import AnalysisContext
from app.pipeline.analysis.runner import analyse_case
from app.pipeline.analysis.stages import (
    ArtefactsStage,
    IngestStage,
    LesionResult,
    LesionStage,
    default_stages,
)
from app.pipeline.errors import InvalidInputError
from app.pipeline.outcomes import OUTCOMES
from app.pipeline.render import artefacts

CONTRACT_KEYS = {
    "class", "class_name", "grade_group", "probabilities", "uncertainty", "low_confidence",
    "no_lesion_found", "message", "slice_index", "slice_method", "candidate_volume_ml", "model",
    "models", "decided_by", "outcome", "timings", "artefacts",
}


def test_artefacts_and_summary(tiny_models, phantom_paths, tmp_path):
    calls = []
    out = tmp_path / "results"
    summary = analyse_case(phantom_paths, out, tiny_models, lambda s, p: calls.append((s, p)))
    # Only the subtype model is configured: everything but the segmentation's files.
    expected = set(artefacts.ARTEFACTS) - set(artefacts.SEGMENTATION_ARTEFACTS)
    assert {p.name for p in out.iterdir()} == expected
    labels = [stage.label for stage in default_stages(tiny_models)]
    assert [s for s, _ in calls] == [*labels, labels[-1]] and calls[-1][1] == 100
    assert [p for _, p in calls] == sorted(p for _, p in calls) and calls[-2][1] < 100
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    assert set(on_disk) == CONTRACT_KEYS
    assert on_disk["outcome"] == "subtype" and on_disk["class"] in ("A", "O", "G")
    assert set(on_disk["uncertainty"]) == {"std", "entropy", "slices", "agreement"}
    assert set(on_disk["probabilities"]) == {"A", "O", "G"}
    assert set(on_disk["model"]) == {"name", "version", "weights_sha256", "demo", "training_data"}
    assert on_disk["models"] == {"subtype": on_disk["model"]}
    assert set(on_disk["artefacts"].values()) == expected
    timings = on_disk["timings"]
    assert set(timings) == {"ingest", "lesion", "subtype", "saliency", "artefacts", "total"}
    # Each timing is rounded to 0.1 ms in the summary, so the parts may exceed the total by that.
    assert sum(v for k, v in timings.items() if k != "total") <= timings["total"] + 1e-3
    mask = nib.load(out / "candidate_mask.nii.gz")
    heat = nib.load(out / "heatmap.nii.gz")
    flair = nib.load(phantom_paths["flair"])
    assert mask.shape == heat.shape == flair.shape
    assert mask.get_data_dtype() == np.uint8 and heat.get_data_dtype() == np.float32
    # Saliency in [0, 1] with its fixed display range in the header (the viewer never rescales).
    assert (float(heat.header["cal_min"]), float(heat.header["cal_max"])) == (0.0, 1.0)
    assert np.allclose(heat.affine, nib.as_closest_canonical(flair).affine)
    used = on_disk["uncertainty"]["slices"]
    heat_data = np.asarray(heat.dataobj)
    assert 0 <= heat_data.min() and heat_data.max() <= 1 and heat_data.max() > 0
    others = [z for z in range(heat.shape[2]) if z not in used]
    assert heat_data[:, :, others].max() == 0
    assert not list(tmp_path.glob(".results.*"))  # no temporary folder left behind


@dataclass
class NoTumourStage:
    """A stage like the future scope stage: ends the analysis early, adds a summary key."""

    name: str = "scope"
    label: str = "Checking the tumour type"
    runs_when_ended: bool = False
    task: str | None = "tumour-type"

    def run(self, ctx: AnalysisContext) -> None:
        ctx.add_to_summary(scope={"tumour": False})
        ctx.end_early("no_tumour", "No tumour was found in these scans.")


def test_a_stage_can_end_the_analysis_early(tiny_models, phantom_paths, tmp_path):
    stages = default_stages(tiny_models)
    stages.insert(2, NoTumourStage())
    out = tmp_path / "results"
    summary = analyse_case(phantom_paths, out, tiny_models, stages=stages)
    assert summary["outcome"] == "no_tumour" and summary["outcome"] in OUTCOMES
    assert summary["message"] == "No tumour was found in these scans."
    for key in ("class", "class_name", "grade_group", "probabilities", "uncertainty"):
        assert summary[key] is None
    assert summary["scope"] == {"tumour": False}
    # The stage that ended it decided: its model is credited, not the subtype model.
    assert summary["decided_by"] == "tumour-type" and summary["model"] is None
    assert "subtype" not in summary["models"]
    assert set(summary["timings"]) == {"ingest", "lesion", "scope", "artefacts", "total"}
    assert summary["slice_method"] == "robust" and summary["slice_index"] is not None
    # The user still sees the montage and the candidate mask, and nothing else is promised.
    assert set(summary["artefacts"]) == {
        "montage", "montage_neurological", "candidate_mask", "summary"}
    assert sorted(p.name for p in out.iterdir()) == sorted(summary["artefacts"].values())


def test_context_refuses_unknown_outcomes_and_missing_results(tiny_models, tmp_path):
    ctx = AnalysisContext(paths={}, models=tiny_models, scratch=tmp_path)
    with pytest.raises(ValueError, match="unknown early outcome"):
        ctx.end_early("subtype", "x")
    with pytest.raises(KeyError, match="no result of stage 'lesion'"):
        ctx.result("lesion", LesionResult)
    ctx.set_result("lesion", "not a lesion result")
    with pytest.raises(TypeError, match="LesionResult"):
        ctx.result("lesion", LesionResult)
    ctx.add_to_summary(extra=1)
    with pytest.raises(ValueError, match="set twice"):
        ctx.add_to_summary(extra=2)


def test_artefacts_stage_runs_after_an_early_end_before_any_lesion(
    tiny_models, phantom_paths, tmp_path
):
    @dataclass
    class Swapped:
        name: str = "sequence"
        label: str = "Checking the sequences"
        runs_when_ended: bool = False
        task: str | None = "sequence"

        def run(self, ctx: AnalysisContext) -> None:
            ctx.end_early("needs_review", "T1 and T1ce look swapped.")

    stages = [IngestStage(), Swapped(), LesionStage(tiny_models["subtype"].card), ArtefactsStage()]
    summary = analyse_case(phantom_paths, tmp_path / "r", tiny_models, stages=stages)
    assert summary["outcome"] == "needs_review" and summary["slice_index"] is None
    assert set(summary["artefacts"]) == {"montage", "montage_neurological", "summary"}


def test_failure_leaves_nothing_half_written(tiny_models, phantom_paths, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(artefacts, "write_mask_nifti", boom)
    out = tmp_path / "results"
    with pytest.raises(OSError):
        analyse_case(phantom_paths, out, tiny_models)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_refused_input_raises_and_writes_nothing(tiny_models, phantom_paths, tmp_path):
    bad = dict(phantom_paths)
    bad["t1"] = tmp_path / "missing_t1.nii.gz"
    with pytest.raises(InvalidInputError) as info:
        analyse_case(bad, tmp_path / "results", tiny_models)
    assert info.value.sequence == "t1"
    assert not (tmp_path / "results").exists()


def test_predict_dirs_one_line_per_case(tiny_models, phantom_paths, tmp_path):
    good = phantom_paths["flair"].parent
    empty = tmp_path / "empty_case"
    empty.mkdir()
    rows = list(predict_dirs([good, empty], tiny_models, tmp_path / "out"))
    assert rows[0]["case"] == str(good) and rows[0]["class"] in ("A", "O", "G")
    assert (tmp_path / "out" / good.name / "summary.json").is_file()
    assert "error" in rows[1] and "FLAIR" in rows[1]["error"]
    assert set(case_paths(good)) == {"flair", "t1", "t1ce", "t2"}


def test_case_folders_in_brats_2023_naming_are_read(phantom_paths, tmp_path):
    names = {"flair": "X-t2f.nii.gz", "t1": "X-t1n.nii.gz", "t1ce": "X-t1c.nii.gz",
             "t2": "X-t2w.nii.gz"}
    for seq, name in names.items():
        (tmp_path / name).symlink_to(phantom_paths[seq])
    (tmp_path / "X-seg.nii.gz").symlink_to(phantom_paths["flair"])
    assert {s: p.name for s, p in case_paths(tmp_path).items()} == names
    (tmp_path / "T2_FLAIR.nii.gz").symlink_to(phantom_paths["flair"])
    with pytest.raises(InvalidInputError, match="two FLAIR files"):
        case_paths(tmp_path)


def test_flask_model_predict(runner, tiny_model_dir, phantom_paths, tmp_path):
    good = phantom_paths["flair"].parent
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(args=["model", "predict", str(good), str(empty),
                                     "--model", str(tiny_model_dir)])
    assert result.exit_code == 1
    rows = [json.loads(line) for line in result.output.strip().splitlines()]
    assert rows[0]["case"] == str(good) and rows[0]["outcome"] == "subtype"
    assert rows[1]["case"] == str(empty) and "FLAIR" in rows[1]["error"]


def test_runner_module_has_no_command_line():
    assert not hasattr(runner, "main") and not hasattr(runner, "build_parser")
