"""The lesion stage with the segmentation model: slice choice, measurements, "no tumour"."""

import json
from pathlib import Path

import numpy as np
import pytest

from app.pipeline.analysis.runner import analyse_case
from app.pipeline.analysis.stages import MIN_TUMOUR_ML, slice_of_largest_area
from app.pipeline.io.naming import SEQUENCES
from app.pipeline.models.registry import discover_models, load_models
from app.pipeline.synthetic import phantoms, tumour_types


def test_the_slice_with_the_largest_whole_tumour_area_is_chosen():
    mask = np.zeros((10, 10, 6), bool)
    mask[2:4, 2:4, 1] = True  # 4 voxels
    mask[1:6, 1:6, 4] = True  # 25 voxels
    found = slice_of_largest_area(mask, (2.0, 2.0, 2.0))
    assert found.index == 4 and not found.no_lesion_found
    assert found.volume_ml == pytest.approx(29 * 8 / 1000)
    empty = slice_of_largest_area(np.zeros((4, 4, 6), bool), (1, 1, 1))
    assert empty.no_lesion_found and empty.index == 3 and empty.volume_ml == 0


@pytest.fixture(scope="module")
def shipped_models():
    return load_models(discover_models())


def write(case, folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True)
    return {s: phantoms.write_nifti_gz(folder / f"X_{s}.nii.gz", case.volumes[s], case.affine)
            for s in SEQUENCES}


@pytest.mark.slow
def test_a_glioma_is_segmented_measured_and_saved(shipped_models, tmp_path):
    case = phantoms.generate_case("G", 8501)  # a seed no model card lists
    summary = analyse_case(write(case, tmp_path / "in"), tmp_path / "out", shipped_models)
    assert summary["slice_method"] == "segmentation"
    truth = case.seg > 0
    assert truth[:, :, summary["slice_index"]].sum() >= 0.8 * truth.sum(axis=(0, 1)).max()
    measured = summary["segmentation"]["measurements"]
    true_ml = truth.sum() / 1000
    assert measured["wt_ml"] == pytest.approx(true_ml, rel=0.15)
    assert summary["candidate_volume_ml"] == pytest.approx(measured["wt_ml"], abs=0.01)
    out = tmp_path / "out"
    on_disk = json.loads((out / "measurements.json").read_text())
    assert on_disk == measured
    assert (out / "measurements.csv").read_text().splitlines()[0].startswith("wt_ml,")
    assert summary["artefacts"]["segmentation"] == "segmentation.nii.gz"


@pytest.mark.slow
def test_a_normal_brain_ends_with_no_tumour_found(shipped_models, tmp_path):
    case = tumour_types.generate_tumour_case("no_tumour", 8502)
    summary = analyse_case(write(case, tmp_path / "in"), tmp_path / "out", shipped_models)
    assert summary["outcome"] == "no_tumour" and summary["class"] is None
    if "tumour_type" not in summary:  # ended at the lesion stage
        assert summary["segmentation"]["measurements"]["wt_ml"] < MIN_TUMOUR_ML
        assert "No tumour was found" in summary["message"]
