"""analyse_case: artefact names, summary keys, progress stages, atomic writes; batch predict."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from app.pipeline import analysis, artefacts
from app.pipeline.analysis import STAGES, analyse_case, case_paths, predict_dirs
from app.pipeline.errors import InvalidInputError

CONTRACT_KEYS = {
    "class", "class_name", "grade_group", "probabilities", "uncertainty", "low_confidence",
    "no_lesion_found", "slice_index", "slice_method", "candidate_volume_ml", "model", "timings",
    "artefacts",
}


def test_artefacts_and_summary(tiny_classifier, phantom_paths, tmp_path):
    calls = []
    out = tmp_path / "results"
    summary = analyse_case(phantom_paths, out, tiny_classifier, lambda s, p: calls.append((s, p)))
    assert sorted(p.name for p in out.iterdir()) == sorted(artefacts.ARTEFACTS)
    assert [s for s, _ in calls][: len(STAGES)] == list(STAGES) and calls[-1] == ("saving", 100)
    assert [p for _, p in calls] == sorted(p for _, p in calls)
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    assert CONTRACT_KEYS <= set(on_disk)
    assert set(on_disk["uncertainty"]) == {"std", "entropy", "slices", "agreement"}
    assert set(on_disk["probabilities"]) == {"A", "O", "G"}
    assert set(on_disk["model"]) == {"name", "version", "weights_sha256", "demo", "training_data"}
    assert set(on_disk["artefacts"].values()) == set(artefacts.ARTEFACTS)
    assert {"load", "slice", "input", "predict", "gradcam", "artefacts", "total"} <= set(
        on_disk["timings"]
    )
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


def test_failure_leaves_nothing_half_written(tiny_classifier, phantom_paths, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(analysis.art, "write_mask_nifti", boom)
    out = tmp_path / "results"
    with pytest.raises(OSError):
        analyse_case(phantom_paths, out, tiny_classifier)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_refused_input_raises_and_writes_nothing(tiny_classifier, phantom_paths, tmp_path):
    bad = dict(phantom_paths)
    bad["t1"] = tmp_path / "missing_t1.nii.gz"
    with pytest.raises(InvalidInputError) as info:
        analyse_case(bad, tmp_path / "results", tiny_classifier)
    assert info.value.sequence == "t1"
    assert not (tmp_path / "results").exists()


def test_predict_dirs_one_line_per_case(tiny_classifier, phantom_paths, tmp_path):
    good = phantom_paths["flair"].parent
    empty = tmp_path / "empty_case"
    empty.mkdir()
    rows = list(predict_dirs([good, empty], tiny_classifier, tmp_path / "out"))
    assert rows[0]["case"] == str(good) and rows[0]["class"] in ("A", "O", "G")
    assert (tmp_path / "out" / good.name / "summary.json").is_file()
    assert "error" in rows[1] and "flair" in rows[1]["error"]
    assert set(case_paths(good)) == {"flair", "t1", "t1ce", "t2"}
