"""The scope stage: only a confident glioma gets a subtype (shipped models, BraTS-size inputs)."""

from pathlib import Path

import pytest

from app.pipeline.analysis.runner import analyse_case
from app.pipeline.analysis.stages import scope_outcome
from app.pipeline.io.naming import SEQUENCES
from app.pipeline.models.registry import discover_models, load_models
from app.pipeline.synthetic import ood, phantoms, tumour_types


def result(kind, p=0.95, *, low=False, ood_flag=False):
    return {"tumour_type": None if ood_flag else kind, "tumour_type_name": kind.title(),
            "top_probability": p, "low_confidence": low, "out_of_distribution": ood_flag,
            "message": "This scan is unlike the data the model was trained on: no class is shown."}


def test_scope_outcome_for_each_kind_of_answer():
    assert scope_outcome(result("glioma")) is None
    assert scope_outcome(result("meningioma", 0.93)) == (
        "not_glioma", "Looks like a meningioma (p = 0.93): the glioma subtype does not apply.")
    assert scope_outcome(result("no_tumour", 0.99)) == ("no_tumour", "No tumour found (p = 0.99).")
    outcome, message = scope_outcome(result("glioma", 0.55, low=True))
    assert outcome == "uncertain_type" and "most likely glioma, p = 0.55" in message
    outcome, message = scope_outcome(result("glioma", ood_flag=True))
    assert outcome == "out_of_distribution" and "no class is shown" in message


@pytest.fixture(scope="module")
def shipped_models():
    return load_models(discover_models())


def write(volumes, affine, folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True)
    return {s: phantoms.write_nifti_gz(folder / f"X_{s}.nii.gz", volumes[s], affine)
            for s in SEQUENCES}


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "outcome"), [
    ("glioma", "subtype"), ("meningioma", "not_glioma"), ("pituitary", "not_glioma"),
    ("metastasis", "not_glioma"), ("no_tumour", "no_tumour"),
])
def test_each_tumour_type_ends_where_it_should(shipped_models, tmp_path, kind, outcome):
    case = tumour_types.generate_tumour_case(kind, 8400 + len(kind))  # seeds no card lists
    paths = write(case.volumes, case.affine, tmp_path / "in")
    summary = analyse_case(paths, tmp_path / "out", shipped_models)
    assert summary["tumour_type"]["tumour_type"] == kind
    # Another tumour type may come out low-confidence: still its type and never a subtype.
    allowed = {outcome, "uncertain_type"} if outcome == "not_glioma" else {outcome}
    assert summary["outcome"] in allowed
    assert (summary["class"] is None) == (outcome != "subtype")
    assert 0 < summary["in_distribution"] <= 1


@pytest.mark.slow
def test_a_volume_that_is_not_a_brain_gets_no_class(shipped_models, tmp_path):
    volumes, affine = ood.generate_ood_case("ellipsoid", 8411)
    summary = analyse_case(write(volumes, affine, tmp_path / "in"), tmp_path / "out",
                           shipped_models)
    assert summary["outcome"] in ("out_of_distribution", "needs_review")
    assert summary["class"] is None and summary["probabilities"] is None
