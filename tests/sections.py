"""Summaries of every outcome as the real analysis writes them (no TensorFlow).

`outcome_summary` runs the real `analyse_case` with the real stages in their real order and the
shipped cards, on a small brain, with stand-ins for the models (`analyse_with_stand_ins`): the
`tumour_type` section comes from the real `TumourTypeModel.summarise` with the shipped demo card,
temperature and OOD statistics fed with chosen logits and features; the `segmentation` section
and the "no tumour" ending from the real `LesionStage` on a small label map. So a summary has
only the sections a real case of its outcome can have (the scope runs before the segmentation).
"""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

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


OUTCOME_INPUTS: dict[str, dict[str, Any]] = {
    "subtype": {"scope": ("glioma", 0.97)},
    "needs_review": {"scope": ("glioma", 0.97), "sequences": "swapped"},
    "no_tumour": {"scope": ("glioma", 0.97), "labels": "tiny"},
    "not_glioma": {"scope": ("meningioma", 0.93)},
    "uncertain_type": {"scope": ("glioma", 0.6)},
    "out_of_distribution": {"scope": ("glioma", 0.97), "unlike_training": True},
}
"""What the stand-in models answer for each outcome: the tumour-type model's (type, p), the
segmenter's label map ("no_tumour": a 0.1 mL speck, decided by the segmentation), the sequence
model's table ("needs_review": FLAIR and T2 swapped)."""


@functools.cache
def _outcome_summary(outcome: str) -> str:
    from tests.factories import SWAPPED_FLAIR_T2

    inputs = OUTCOME_INPUTS[outcome]
    kind, p = inputs["scope"]
    scope = tumour_type_result(kind, p, unlike_training=inputs.get("unlike_training", False))
    with tempfile.TemporaryDirectory() as tmp:
        summary = analyse_with_stand_ins(
            small_brain_files(Path(tmp) / "in"), Path(tmp) / "out", scope,
            label_map(inputs.get("labels", "glioma")),
            sequences=SWAPPED_FLAIR_T2 if inputs.get("sequences") == "swapped" else None)
    assert summary["outcome"] == outcome, (outcome, summary["outcome"], summary["message"])
    return json.dumps(summary)


def outcome_summary(outcome: str) -> dict[str, Any]:
    """Return the summary the real analysis (`analyse_case` with `default_stages`, the shipped
    cards, stand-ins for the models: `analyse_with_stand_ins`) writes for `outcome` (an Outcome
    value), with the inputs of OUTCOME_INPUTS; a fresh copy each call."""
    return json.loads(_outcome_summary(outcome))


def write_real_artefacts(folder: Path, labels: np.ndarray | None = None,
                         saliency: bool = True, summary: dict[str, Any] | None = None) -> Path:
    """Write a case's figures, label map and measurements into `folder` with the pipeline's own
    writers (app/pipeline/render/artefacts.py), from a small synthetic brain and `labels`
    (default: `label_map("glioma")`), at the slice of largest tumour area; return the folder.
    With `summary`, only the artefacts it lists are kept (an early end has no label map, ...)."""
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
    if summary is not None:
        listed = set(summary["artefacts"].values())
        for path in folder.iterdir():
            if path.name not in listed:
                path.unlink()
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


IN_SLOTS = {seq: [0.97 if j == i else 0.01 for j in range(4)]
            for i, seq in enumerate(("flair", "t1", "t1ce", "t2"))}
"""The sequence model's table for four files in their right slots (columns: SEQUENCES order)."""

SUBTYPE_PROBABILITIES = {"A": 0.1, "O": 0.1, "G": 0.8}
"""What the stand-in subtype classifier answers on every slice."""


def _stand_in_classifier(card: Any, probabilities: dict[str, float]) -> SimpleNamespace:
    """A subtype classifier answering `probabilities` on every slice (its card's classes and
    low-confidence limits), with a Grad-CAM bump in the middle of each model input."""
    from app.pipeline.models.prediction import SubtypeResult

    def classify_prepared(prepared: Any, *, no_lesion_found: bool) -> SubtypeResult:
        row = [probabilities[c] for c in card.classes]
        return SubtypeResult.from_probabilities(
            np.tile(row, (len(prepared.indices), 1)), card.classes, prepared.indices,
            prepared.centre, no_lesion_found=no_lesion_found,
            low_confidence_limits=card.low_confidence)

    def gradcam(batch: np.ndarray, class_index: int) -> np.ndarray:
        n, size = batch.shape[0], batch.shape[1]
        y, x = np.indices((size, size))
        bump = np.clip(1 - np.hypot(x - size / 2, y - size / 2) / (size / 2), 0, 1)
        return np.repeat(bump[None], n, axis=0).astype(np.float32)

    return SimpleNamespace(card=card, classify_prepared=classify_prepared, gradcam=gradcam)


def analyse_with_stand_ins(paths: dict[str, Path], out_dir: Path, scope: dict[str, Any],
                           labels: np.ndarray | None = None,
                           sequences: dict[str, list[float]] | None = None,
                           subtype: dict[str, float] | None = None) -> dict[str, Any]:
    """Run the real analysis (`analyse_case` with `default_stages`, the shipped cards) on
    `paths` into `out_dir`, with stand-ins for the four models: the sequence model decides on
    the table `sequences` (default IN_SLOTS: every file in its slot), the tumour-type model
    answers `scope` (a `tumour_type_result`), the segmenter `labels` (default:
    `label_map("glioma")`), the subtype classifier `subtype` (default SUBTYPE_PROBABILITIES) on
    every slice. Return the summary; the stages run in their real order, so a scan the scope
    stops is never segmented."""
    from app.pipeline.analysis.runner import analyse_case
    from app.pipeline.models.registry import ModelSet, read_card
    from app.pipeline.models.sequence import Thresholds, decide_assignment

    labels = label_map("glioma") if labels is None else labels
    table = sequences or IN_SLOTS
    folders = {"sequence": "sequence-demo", "subtype": "glioma-demo",
               "tumour-type": "tumour-type-demo", "segmentation": "segmentation-demo"}
    cards = {task: read_card(ROOT / "models" / name) for task, name in folders.items()}
    models = ModelSet({
        "sequence": SimpleNamespace(
            card=cards["sequence"],
            check=lambda _volumes: decide_assignment(
                table, {slot: [0.01] * 4 for slot in table}, Thresholds())),
        "subtype": _stand_in_classifier(cards["subtype"], subtype or SUBTYPE_PROBABILITIES),
        "tumour-type": SimpleNamespace(card=cards["tumour-type"], predict=lambda _case: scope),
        "segmentation": SimpleNamespace(
            card=cards["segmentation"], segment=lambda _case: SimpleNamespace(labels=labels)),
    })
    return analyse_case(paths, out_dir, models)
