"""Summaries of every outcome with the sections the real stages write (no TensorFlow).

The `segmentation` section and the "no tumour" ending come from the real `LesionStage` run on a
small label map (with a stand-in segmenter); the `tumour_type` section from the real
`TumourTypeModel.summarise` with the shipped demo card, temperature and OOD statistics fed with
chosen logits and features; the outcome and message from the real `scope_outcome`.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from tests.factories import make_summary

ROOT = Path(__file__).resolve().parent.parent
TUMOUR_TYPE_DIR = ROOT / "models" / "tumour-type-demo"
SHAPE = (48, 48, 24)


def label_map(kind: str = "glioma") -> np.ndarray:
    """Return a small BraTS label map (1 mm voxels, RAS+): "glioma" an enhancing ring with a
    necrotic centre in oedema, left of the midline (low x); "tiny" a 0.1 mL speck; "bifocal"
    two separate lesions, one on each side."""
    labels = np.zeros(SHAPE, np.uint8)
    x, y, z = np.indices(SHAPE)
    if kind == "tiny":
        labels[10:15, 20:25, 10:14] = 2
        return labels
    centres = [(14, 24, 12)] if kind == "glioma" else [(12, 24, 12), (36, 24, 12)]
    for cx, cy, cz in centres:
        r = np.sqrt((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2)
        labels[r <= 9] = 2
        labels[r <= 6] = 4
        labels[r <= 3] = 1
    return labels


def lesion_stage(labels: np.ndarray) -> tuple[dict[str, Any], tuple[str, str] | None]:
    """Run the real LesionStage on `labels`; return (its summary keys, (outcome, message) of
    an early end or None)."""
    from app.pipeline.analysis.context import AnalysisContext
    from app.pipeline.analysis.stages import LesionStage

    brain = np.zeros(SHAPE, bool)
    brain[2:-2, 2:-2, 1:-1] = True
    case = SimpleNamespace(voxel_size=(1.0, 1.0, 1.0), affine=np.diag([1.0, 1.0, 1.0, 1.0]),
                           flair=brain.astype(np.float32))
    segmenter = SimpleNamespace(segment=lambda _case: SimpleNamespace(labels=labels))
    with tempfile.TemporaryDirectory() as scratch:
        ctx = AnalysisContext(paths={}, models=None, scratch=Path(scratch))
        ctx.case = case
        LesionStage(card=None, segmenter=segmenter).run(ctx)
    ended = (str(ctx.ended.outcome), ctx.ended.message) if ctx.ended else None
    return ctx.summary_keys, ended


@functools.cache
def _tumour_type_model() -> SimpleNamespace:
    from app.pipeline.models.tumour_type import MahalanobisOOD, TumourTypeCard

    card = TumourTypeCard.load(TUMOUR_TYPE_DIR)
    ood = MahalanobisOOD.load(TUMOUR_TYPE_DIR / str(card.ood["statistics_file"]))
    return SimpleNamespace(card=card, ood=ood)


def tumour_type_result(kind: str = "glioma", p: float = 0.97,
                       unlike_training: bool = False) -> dict[str, Any]:
    """Return the real tumour-type result dict with calibrated top probability `p` for `kind`;
    features at the kind's training mean, or far from every class with `unlike_training`."""
    from app.pipeline.models.tumour_type import TumourTypeModel

    model = _tumour_type_model()
    classes = list(model.card.classes)
    top = classes.index(kind)
    # softmax(logits / T) gives p to the top class when its logit exceeds the others' by:
    gap = float(model.card.calibration["temperature"]) * np.log(p * (len(classes) - 1) / (1 - p))
    logits = np.zeros(len(classes))
    logits[top] = gap
    features = np.concatenate([m[top] for m in model.ood.means])
    if unlike_training:
        features = features * 3 + 5
    return TumourTypeModel.summarise(model, logits, features)


def outcome_summary(outcome: str, **summary_args: Any) -> dict[str, Any]:
    """Return a summary as the pipeline writes it for `outcome` (an Outcome value), with the
    sections and message the real stages give it. `summary_args` go to `make_summary`."""
    from app.pipeline.analysis.stages import scope_outcome

    if outcome == "no_tumour":
        keys, ended = lesion_stage(label_map("tiny"))
        assert ended is not None and ended[0] == "no_tumour"
        return make_summary(outcome="no_tumour", message=ended[1], extra=keys, **summary_args)
    if outcome == "needs_review":
        return make_summary(outcome="needs_review", message=(
            "The T1 and T1ce files look swapped: please check the sequence slots."),
            **summary_args)
    scope = {
        "subtype": tumour_type_result("glioma", 0.97),
        "not_glioma": tumour_type_result("meningioma", 0.93),
        "uncertain_type": tumour_type_result("glioma", 0.6),
        "out_of_distribution": tumour_type_result("glioma", 0.97, unlike_training=True),
    }[outcome]
    ended = scope_outcome(scope)
    assert (ended[0] if ended else "subtype") == outcome, (ended, scope)
    keys, _ = lesion_stage(label_map("glioma"))
    extra = {**keys, "tumour_type": dict(scope), "in_distribution": scope["in_distribution"]}
    return make_summary(outcome=outcome, message=ended[1] if ended else None, extra=extra,
                        **summary_args)


def write_real_artefacts(folder: Path, labels: np.ndarray | None = None,
                         saliency: bool = True) -> Path:
    """Write a case's figures, label map and measurements into `folder` with the pipeline's own
    writers (app/pipeline/render/artefacts.py), from a small synthetic brain and `labels`
    (default: `label_map("glioma")`), at the slice of largest tumour area; return the folder."""
    from app.pipeline.io.naming import SEQUENCES
    from app.pipeline.lesion.measurements import measure
    from app.pipeline.render import artefacts as art

    labels = label_map("glioma") if labels is None else labels
    folder.mkdir(parents=True, exist_ok=True)
    k = int(np.argmax(np.count_nonzero(labels, axis=(0, 1))))
    x, y = np.indices(SHAPE[:2])
    brain = ((x - 23.5) / 21) ** 2 + ((y - 23.5) / 22) ** 2 <= 1
    planes = {}
    for i, seq in enumerate(SEQUENCES):
        plane = np.where(brain, 300.0 + 40 * i, 0.0)
        plane[labels[:, :, k] > 0] += 250
        planes[seq] = plane
    cam = np.clip(1 - np.hypot(x - 14, y - 24) / 20, 0, 1) if saliency else None
    art.write_figures(planes, labels[:, :, k] > 0, cam, folder)
    affine = np.eye(4)
    art.write_label_nifti(labels, affine, folder / art.SEGMENTATION_NIFTI)
    art.write_mask_nifti(labels > 0, affine, folder / art.MASK_NIFTI)
    art.write_measurements(measure(labels, (1.0, 1.0, 1.0)).to_dict(),
                           folder / art.MEASUREMENTS_JSON, folder / art.MEASUREMENTS_CSV)
    return folder


def small_brain_files(folder: Path, tumour: tuple[int, int, int] | None = (14, 24, 12)) -> dict[
        str, Path]:
    """Write four co-registered sequences of a small brain (SHAPE, 1 mm voxels, RAS+) into
    `folder`, each with its own contrast and a brighter sphere at `tumour` (none with None);
    return {sequence: path}, named like CPM-RadPath files."""
    from app.pipeline.io.naming import SEQUENCES
    from app.pipeline.synthetic.phantoms import write_nifti_gz

    folder.mkdir(parents=True, exist_ok=True)
    grid = np.indices(SHAPE).astype(np.float32)
    centre = [(s - 1) / 2 for s in SHAPE]
    radius = [s / 2.2 for s in SHAPE]
    brain = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radius, strict=True)) <= 1
    rng = np.random.default_rng(0)
    paths = {}
    for i, seq in enumerate(SEQUENCES):
        volume = np.where(brain, 300.0 + 60 * i + 20 * rng.standard_normal(SHAPE), 0.0)
        if tumour is not None:
            r = np.sqrt(sum((g - c) ** 2 for g, c in zip(grid, tumour, strict=True)))
            volume[(r <= 6) & brain] += 250
        paths[seq] = write_nifti_gz(folder / f"SMALL_{seq}.nii.gz", volume.astype(np.int16),
                                    np.eye(4))
    return paths


def analyse_with_stand_ins(paths: dict[str, Path], out_dir: Path, scope: dict[str, Any],
                           labels: np.ndarray | None = None) -> dict[str, Any]:
    """Run the real analysis (`analyse_case` with `default_stages`, the shipped cards) on
    `paths` into `out_dir`, with stand-ins for the models: the tumour-type model answers
    `scope` (a `tumour_type_result`), the segmenter `labels` (default: `label_map("glioma")`).
    Return the summary; AssertionError when the analysis would reach the subtype stage (it
    needs the real classifier: only outcomes that end early can be made here)."""
    from app.pipeline.analysis.runner import analyse_case
    from app.pipeline.analysis.stages import MIN_TUMOUR_ML, scope_outcome
    from app.pipeline.models.registry import ModelSet, read_card

    labels = label_map("glioma") if labels is None else labels
    no_tumour = np.count_nonzero(labels) / 1000 < MIN_TUMOUR_ML  # 1 mm voxels
    assert scope_outcome(scope) is not None or no_tumour, (
        "a confident glioma with a tumour would need the real classifier")
    folders = {"subtype": "glioma-demo", "tumour-type": "tumour-type-demo",
               "segmentation": "segmentation-demo"}
    cards = {task: read_card(ROOT / "models" / name) for task, name in folders.items()}
    models = ModelSet({
        "subtype": SimpleNamespace(card=cards["subtype"]),
        "tumour-type": SimpleNamespace(card=cards["tumour-type"], predict=lambda _case: scope),
        "segmentation": SimpleNamespace(
            card=cards["segmentation"], segment=lambda _case: SimpleNamespace(labels=labels)),
    })
    return analyse_case(paths, out_dir, models)

