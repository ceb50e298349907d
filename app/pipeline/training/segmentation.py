"""Train and evaluate the segmentation U-Net (BraTS labels) on synthetic phantoms or a folder.

Training data come from ``synthetic.phantoms.generate_case`` (which writes the ground-truth
label map) and pass through exactly the preprocessing inference uses
(``lesion.segmentation.coarse_volumes``, from the card). Targets are the label map's one-hot
channels block-averaged onto the network's coarse grid (soft labels, consistent with the linear
resampling of probabilities at inference). Three seeds, all distinct: training, validation (model
selection: the epoch with the best mean coarse Dice is kept) and test (evaluation only).

Command line (``app/commands/pipeline.py``)::

    flask model train --task segmentation --out models/segmentation-demo
    flask model evaluate --model models/segmentation-demo --n 100 --data-seed 5707 \\
        --csv eval.csv --write-card
"""

from __future__ import annotations

import csv
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.pipeline.classes import CLASSES
from app.pipeline.io.naming import SEQUENCES
from app.pipeline.lesion.segmentation import (
    Segmenter,
    block_mean,
    build_unet,
    coarse_volumes,
    extract_box,
    keras,
    plan_geometry,
    with_context,
)
from app.pipeline.lesion.segmentation_card import SegmentationCard
from app.pipeline.lesion.slice_finder import brain_mask
from app.pipeline.models.card import sha256_file
from app.pipeline.models.subtype import EVERY_LAYER, save_weights_f16
from app.pipeline.synthetic import phantoms
from app.pipeline.training.seg_metrics import REGIONS, brats_scores, summarise

log = logging.getLogger(__name__)

TRAIN_SEED = 5101
VALIDATION_SEED = 5202
TEST_SEED = 5303
"""Default phantom seeds: training, model selection and held-out test (all distinct)."""

JUSTIFICATION = (
    "2D U-Net on axial slices at 2 mm (block-averaged from the 1 mm grid inside the brain's "
    "bounding box) with the four sequences of the slice and of its two neighbours as 12 "
    "channels (2.5D). Chosen for accuracy within the budget of two shared CPU cores: inference "
    "on every brain slice of a BraTS case in one batch (about 70 slices of 72x88) must take "
    "under a second and training minutes, which a 3D patch network or a 1 mm 2D network (4-8x "
    "the work) cannot meet. Neighbouring slices give the through-plane context that plain 2D "
    "lacks. Resolution loss is limited by resampling the softmax probabilities linearly back to "
    "1 mm before the argmax (on phantom label maps, a 2 mm round trip keeps Dice 0.99 for WT and "
    "TC; only small enhancing foci lose more). Block averaging, like the classifier's robust "
    "z-score within the brain, makes the input independent of scanner gain."
)
INTENDED_USE = (
    "Demonstration of tumour sub-region segmentation (BraTS labels) for GliomaLens. Trained on "
    "synthetic phantoms only; not for clinical use. Retrain and re-evaluate on real labelled data "
    "(BraTS layout) before any research use."
)

CSV_FIELDS = (
    "case_id", "class", "seconds",
    *(f"{m}_{r}" for m in ("dice", "hd95") for r in REGIONS),
    *(f"{v}_ml_{r}" for v in ("ref", "pred") for r in REGIONS),
)


# --------------------------------------------------------------------------- phantom sources


@dataclass(eq=False)
class PhantomSource:
    """A phantom case presented like a LoadedCase (``volume``, ``shape``, ``voxel_size``)."""

    volumes: dict[str, np.ndarray]
    affine: np.ndarray
    shape: tuple[int, int, int]
    voxel_size: tuple[float, float, float]

    def volume(self, sequence: str) -> np.ndarray:
        """Return the float32 volume of ``sequence``; KeyError for an unknown name."""
        return self.volumes[sequence].astype(np.float32, copy=False)


def phantom_source(case: phantoms.PhantomCase) -> PhantomSource:
    """Return a VolumeSource for an in-memory phantom (float32 copies of its volumes)."""
    vols = {s: case.volumes[s].astype(np.float32) for s in SEQUENCES}
    shape = tuple(case.seg.shape)
    return PhantomSource(vols, case.affine, shape, case.voxel_size)


def phantom_plan(n: int, seed: int) -> list[tuple[str, str, np.random.SeedSequence]]:
    """Return [(case id, class, seed sequence)] for ``n`` phantoms, classes balanced.

    The same scheme as ``phantoms.write_dataset`` (round-robin A, O, G shuffled by ``seed``, one
    spawned seed per case), so ``write_dataset(dir, n, seed)`` writes the same cases.
    ValueError for n < 1.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    classes = [CLASSES[i % len(CLASSES)] for i in range(n)]
    np.random.default_rng(seed).shuffle(classes)
    seeds = np.random.SeedSequence(seed).spawn(n)
    return [(phantoms.case_id(i + 1), classes[i], seeds[i]) for i in range(n)]


def iter_phantoms(n: int, seed: int) -> Iterator[tuple[str, phantoms.PhantomCase]]:
    """Yield (case id, PhantomCase) for the plan of ``n`` phantoms from ``seed`` (BraTS size)."""
    for cid, cls, seq in phantom_plan(n, seed):
        yield cid, phantoms.generate_case(cls, np.random.default_rng(seq))


# --------------------------------------------------------------------------- training arrays


def case_arrays(
    volumes: dict[str, np.ndarray],
    seg: np.ndarray,
    voxel_size: Sequence[float],
    card: SegmentationCard,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (inputs (N, Xc, Yc, C), soft targets (N, Xc, Yc, K)) for one case's brain slices.

    Inputs are made exactly as at inference; targets are the block-averaged one-hot label map.
    """
    brain = brain_mask(volumes["flair"])
    geometry = plan_geometry(
        brain, voxel_size, float(card.input["target_voxel_mm"]), int(card.input["pad_multiple"])
    )
    stack, brain_c = coarse_volumes(volumes, geometry, card.normalisation, brain)
    rows = np.flatnonzero(brain_c.any(axis=(0, 1)))
    x = with_context(stack, int(card.input["context_slices"]), rows)
    seg_box = extract_box(seg, geometry.origin, geometry.fine_size)
    onehot = [
        block_mean((seg_box == label).astype(np.float32), geometry.factors)
        for label in card.output_labels
    ]
    y = np.stack(onehot, axis=-1).transpose(2, 0, 1, 3)[rows]
    return x.astype(np.float32), np.ascontiguousarray(y, dtype=np.float32)


def _pad_to(arr: np.ndarray, h: int, w: int) -> np.ndarray:
    ph, pw = h - arr.shape[1], w - arr.shape[2]
    pads = ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0))
    return np.pad(arr, pads)


def build_arrays(
    n: int,
    seed: int,
    card: SegmentationCard,
    *,
    background_fraction: float = 0.2,
    et_repeat: int = 1,
    progress: Callable[[str], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (X, Y, case index per row) from ``n`` phantoms of ``seed``, padded to one size.

    Keeps every slice with tumour and a random ``background_fraction`` of the other brain slices;
    slices holding enhancing tumour appear ``et_repeat`` times (ET is the rarest label).
    """
    rng = np.random.default_rng(seed + 7)
    xs, ys, owner = [], [], []
    for i, (cid, case) in enumerate(iter_phantoms(n, seed)):
        vols = {s: case.volumes[s].astype(np.float32) for s in SEQUENCES}
        x, y = case_arrays(vols, case.seg, case.voxel_size, card)
        tumour = y[..., 1:].sum(axis=(1, 2, 3)) > 0
        keep = tumour | (rng.random(len(y)) < background_fraction)
        times = np.where(y[..., 3].sum(axis=(1, 2)) > 0.5, et_repeat, 1) * keep
        rows = np.repeat(np.arange(len(y)), times)
        xs.append(x[rows])
        ys.append(y[rows])
        owner.append(np.full(len(rows), i))
        if progress:
            progress(f"{cid} {case.cls}: {len(rows)} slices")
    h = max(a.shape[1] for a in xs)
    w = max(a.shape[2] for a in xs)
    x_all = np.concatenate([_pad_to(a, h, w) for a in xs])
    y_all = np.concatenate([_pad_to(a, h, w) for a in ys])
    y_all[..., 0] += 1.0 - y_all.sum(axis=-1)  # padding is background
    return x_all, y_all, np.concatenate(owner)


# --------------------------------------------------------------------------- loss and metrics

_REGION_CHANNELS = ((1, 2, 3), (1, 3), (3,))  # WT, TC, ET in the [0, 1, 2, 4] channel order


def segmentation_loss(y_true: Any, y_pred: Any) -> Any:
    """Return cross-entropy + mean soft Dice loss over the WT, TC and ET regions (a scalar).

    A region's Dice term counts only when the batch holds that region: with a smoothed Dice on a
    batch without enhancing tumour, the loss would push every ET probability to zero, and ET is
    rare (false positives are left to the cross-entropy).
    """
    ops = keras.ops
    p = ops.clip(y_pred, 1e-7, 1.0)
    ce = -ops.mean(ops.sum(y_true * ops.log(p), axis=-1))
    dice_loss = 0.0
    for chans in _REGION_CHANNELS:
        t = sum(y_true[..., c] for c in chans)
        q = sum(y_pred[..., c] for c in chans)
        inter = ops.sum(t * q)
        present = ops.cast(ops.sum(t) > 1.0, "float32")
        dice_loss += present * (1.0 - (2.0 * inter + 1.0) / (ops.sum(t) + ops.sum(q) + 1.0))
    return ce + dice_loss / len(_REGION_CHANNELS)


def coarse_dice(probs: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """Return the pooled Dice of WT, TC, ET (and their mean) over all slices, coarse grid.

    Pooled over the validation set rather than averaged per case: a case without enhancing
    tumour would otherwise swing between 0 and 1 on a few voxels, and model selection with it.
    """
    pred = probs.argmax(axis=-1)
    ref = targets.argmax(axis=-1)
    out = {}
    for region, chans in zip(REGIONS, _REGION_CHANNELS, strict=True):
        a, b = np.isin(pred, chans), np.isin(ref, chans)
        total = a.sum() + b.sum()
        out[region] = 1.0 if total == 0 else float(2.0 * (a & b).sum() / total)
    out["mean"] = float(np.mean(list(out.values())))
    return out


# --------------------------------------------------------------------------- training


def _augment(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, crop: int
) -> tuple[np.ndarray, np.ndarray]:
    """Random crops (crop × crop), left-right flips and per-channel intensity scaling."""
    n, h, w = x.shape[:3]
    ch, cw = min(crop, h), min(crop, w)
    i0 = rng.integers(0, h - ch + 1, size=n)
    j0 = rng.integers(0, w - cw + 1, size=n)
    xo = np.empty((n, ch, cw, x.shape[3]), np.float32)
    yo = np.empty((n, ch, cw, y.shape[3]), np.float32)
    for k in range(n):
        xo[k] = x[k, i0[k] : i0[k] + ch, j0[k] : j0[k] + cw]
        yo[k] = y[k, i0[k] : i0[k] + ch, j0[k] : j0[k] + cw]
    flip = rng.random(n) < 0.5
    xo[flip] = xo[flip, ::-1]
    yo[flip] = yo[flip, ::-1]
    xo *= rng.uniform(0.9, 1.1, size=(n, 1, 1, x.shape[3])).astype(np.float32)
    return xo, yo


@dataclass
class SegmentationTrainConfig:
    """Everything one training run of the U-Net needs; recorded in the card."""

    out_dir: str | os.PathLike = "models/segmentation-demo"
    name: str = "segmentation-demo"
    version: str = "1.0"
    n_train: int = 60  # phantom cases, classes balanced
    n_val: int = 12
    train_seed: int = TRAIN_SEED
    val_seed: int = VALIDATION_SEED
    test_seed: int = TEST_SEED
    epochs: int = 20
    batch_size: int = 16
    learning_rate: float = 2e-3
    crop: int = 48
    base_filters: int = 16
    et_repeat: int = 2
    n_postprocessing: int = 48  # validation phantoms (val_seed) that choose min_enhancing_ml

    def describe(self) -> dict[str, Any]:
        """Return the config as a JSON-ready dict."""
        return {**asdict(self), "out_dir": str(self.out_dir)}


def train(
    config: SegmentationTrainConfig,
    progress: Callable[[str], None] | None = None,
) -> SegmentationCard:
    """Train the U-Net on phantoms, keep the best validation epoch, write weights + card.

    Returns the saved card (metrics empty until :func:`evaluate_phantoms` with ``update_card``).
    ValueError when the three seeds are not distinct or a count is below 1.
    """
    c = config
    if len({c.train_seed, c.val_seed, c.test_seed}) != 3:
        raise ValueError("training, validation and test seeds must be distinct")
    if min(c.n_train, c.n_val, c.epochs, c.n_postprocessing) < 1:
        raise ValueError("n_train, n_val, n_postprocessing and epochs must be at least 1")
    n_train, n_val, train_seed, val_seed, test_seed = (
        c.n_train, c.n_val, c.train_seed, c.val_seed, c.test_seed)
    epochs, batch_size, learning_rate, crop, base_filters, et_repeat = (
        c.epochs, c.batch_size, c.learning_rate, c.crop, c.base_filters, c.et_repeat)
    out_dir, name = c.out_dir, c.name
    say = progress or (lambda msg: log.info("%s", msg))
    card = SegmentationCard(name=name, version=c.version)
    card.architecture["base_filters"] = base_filters
    t0 = time.perf_counter()
    x_tr, y_tr, _ = build_arrays(n_train, train_seed, card, et_repeat=et_repeat)
    x_va, y_va, _ = build_arrays(n_val, val_seed, card)
    extract_s = time.perf_counter() - t0
    say(f"data: {len(x_tr)} training slices, {len(x_va)} validation slices ({extract_s:.0f} s)")
    keras.utils.set_random_seed(train_seed)
    model = build_unet(card.in_channels, len(card.output_labels), base_filters,
                       int(card.architecture["levels"]))
    steps = epochs * int(np.ceil(len(x_tr) / batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=segmentation_loss)
    rng = np.random.default_rng(train_seed)
    best: tuple[float, int, list[np.ndarray]] = (-1.0, -1, [])
    history: list[dict[str, float]] = []
    t1 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        xa, ya = _augment(x_tr, y_tr, rng, crop)
        fit = model.fit(xa, ya, batch_size=batch_size, epochs=1, shuffle=True, verbose=0)
        probs = model.predict(x_va, batch_size=64, verbose=0)
        val = coarse_dice(probs, y_va)
        row = {"epoch": epoch, "loss": round(float(fit.history["loss"][-1]), 4)}
        row.update({f"val_dice_{k}": round(v, 4) for k, v in val.items()})
        history.append(row)
        say(f"epoch {epoch}: {row} ({time.perf_counter() - t1:.0f} s)")
        if val["mean"] > best[0]:
            best = (val["mean"], epoch, [w.copy() for w in model.get_weights()])
    fit_s = time.perf_counter() - t1
    model.set_weights(best[2])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    card.float32_prefixes = list(EVERY_LAYER)
    card.weights_format = "npz written by classifier.save_weights_f16; every array float32"
    save_weights_f16(model, card.weights_path(out), float32_prefixes=EVERY_LAYER)
    card.weights_sha256 = sha256_file(card.weights_path(out))
    card.seeds = {"training": train_seed, "validation": val_seed, "test": test_seed}
    card.training_data = (
        f"{n_train} synthetic phantoms for training (synthetic phantoms, seed {train_seed}) "
        f"and {n_val} for model selection (seed {val_seed}; {c.n_postprocessing} of that seed "
        "choose the enhancing-volume rule), classes A/O/G balanced, BraTS geometry on the MNI152 "
        "template. No patient data."
    )
    card.training = {
        "training_cases": n_train,
        "validation_cases": n_val,
        "training_slices": int(len(x_tr)),
        "validation_slices": int(len(x_va)),
        "epochs": epochs,
        "best_epoch": best[1],
        "best_val_pooled_coarse_dice_mean": round(best[0], 4),
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "optimizer": "Adam, cosine decay to 5%",
        "loss": "cross-entropy (soft targets) + mean soft Dice over WT, TC, ET",
        "augmentation": f"random {crop}x{crop} crops, left-right flip, per-channel scale 0.9-1.1",
        "et_slice_repeat": et_repeat,
        "selection": "epoch with the best mean pooled coarse Dice (WT, TC, ET) on validation",
        "extract_seconds": round(extract_s, 1),
        "fit_seconds": round(fit_s, 1),
        "history": history,
        "parameters": int(model.count_params()),
    }
    card.frameworks = {"keras": keras.__version__, "numpy": np.__version__}
    card.justification = JUSTIFICATION
    card.intended_use = INTENDED_USE
    card.save(out)
    choose_min_enhancing_ml(out, n=c.n_postprocessing, seed=val_seed, progress=say)
    return SegmentationCard.load(out)


MIN_ENHANCING_CANDIDATES_ML = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5)
"""The total enhancing-tumour volumes (mL) tried as ``postprocessing.min_enhancing_ml``."""


def choose_min_enhancing_ml(
    model_dir: str | os.PathLike,
    *,
    n: int,
    seed: int,
    progress: Callable[[str], None] | None = None,
) -> float:
    """Choose the card's ``postprocessing.min_enhancing_ml`` on ``n`` validation phantoms.

    Segments each phantom of ``seed`` once without the rule, then scores every candidate volume
    (:data:`MIN_ENHANCING_CANDIDATES_ML`) by the mean ET Dice; the best (the smallest on a tie) is
    written to the card with the table it was chosen from. Returns it. ValueError when ``seed`` is
    the card's test seed (the test set never chooses anything).
    """
    from app.pipeline.lesion.segmentation import relabel_small_enhancing
    from app.pipeline.training.seg_metrics import dice

    segmenter = Segmenter.load(model_dir)
    card = segmenter.card
    if seed == card.seeds.get("test"):
        raise ValueError(f"seed {seed} is the test seed: it cannot choose the post-processing")
    card.postprocessing["min_enhancing_ml"] = 0.0
    scores: dict[float, list[float]] = {t: [] for t in MIN_ENHANCING_CANDIDATES_ML}
    for _, case in iter_phantoms(n, seed):
        raw = segmenter.segment(phantom_source(case)).labels
        reference = case.seg == 4
        for threshold in MIN_ENHANCING_CANDIDATES_ML:
            labels = raw.copy()
            relabel_small_enhancing(labels, threshold, case.voxel_size)
            scores[threshold].append(dice(labels == 4, reference))
    means = {t: float(np.mean(v)) for t, v in scores.items()}
    best = max(MIN_ENHANCING_CANDIDATES_ML, key=lambda t: (round(means[t], 6), -t))
    card.postprocessing["min_enhancing_ml"] = best
    card.postprocessing["min_enhancing_selection"] = {
        "rule": "enhancing tumour below this total volume is relabelled core (1)",
        "chosen_on": f"{n} validation phantoms, seed {seed}",
        "mean_et_dice_by_ml": {str(t): round(m, 4) for t, m in means.items()},
    }
    card.save(model_dir)
    if progress:
        progress(f"min_enhancing_ml {best} (validation mean ET Dice {means[best]:.4f}, "
                 f"{means[0.0]:.4f} without the rule)")
    return best


# --------------------------------------------------------------------------- evaluation


def _score_row(
    cid: str, cls: str, pred: np.ndarray, ref: np.ndarray, voxel_size: Sequence[float], secs: float
) -> dict[str, Any]:
    row: dict[str, Any] = {"case_id": cid, "class": cls, "seconds": round(secs, 3)}
    row.update({k: round(v, 4) for k, v in brats_scores(pred, ref, voxel_size).items()})
    ml = float(np.prod(voxel_size)) / 1000.0
    for region, labels in REGIONS.items():
        row[f"ref_ml_{region}"] = round(float(np.isin(ref, labels).sum()) * ml, 3)
        row[f"pred_ml_{region}"] = round(float(np.isin(pred, labels).sum()) * ml, 3)
    return row


def write_csv(rows: Sequence[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Write per-case score rows (CSV_FIELDS) to ``path``; return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def evaluate_phantoms(
    model_dir: str | os.PathLike,
    *,
    n: int = 100,
    seed: int = TEST_SEED,
    csv_path: str | os.PathLike | None = None,
    update_card: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Segment ``n`` BraTS-size phantoms of ``seed`` and score them; return the summary.

    Summary: {"cases", "seed", "summary": {metric: {mean, median, min, max}}, "mean_seconds"}.
    Writes per-case rows to ``csv_path`` when given. With ``update_card`` the summary is stored
    under the card's ``metrics["phantom_test"]`` (the sha256 of the weights is unchanged).
    ValueError when ``seed`` is the card's training or validation seed.
    """
    segmenter = Segmenter.load(model_dir)
    segmenter.warm_up()
    used = {segmenter.card.seeds.get("training"), segmenter.card.seeds.get("validation")}
    if seed in used:
        raise ValueError(f"seed {seed} was used for training or model selection")
    rows = []
    for cid, case in iter_phantoms(n, seed):
        t = time.perf_counter()
        result = segmenter.segment(phantom_source(case))
        row = _score_row(cid, case.cls, result.labels, case.seg, case.voxel_size,
                         time.perf_counter() - t)
        rows.append(row)
        if progress:
            progress(f"{cid} {case.cls} WT {row['dice_WT']:.3f} TC {row['dice_TC']:.3f} "
                     f"ET {row['dice_ET']:.3f} HD95 WT {row['hd95_WT']:.1f}")
    return _finish(rows, segmenter, model_dir, f"{n} phantoms, seed {seed}", seed, csv_path,
                   update_card)


def evaluate_folder(
    model_dir: str | os.PathLike,
    folder: str | os.PathLike,
    *,
    csv_path: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score every case CID_{flair,t1,t1ce,t2,seg}.nii.gz in ``folder``; return the summary.

    For a site's own labelled data (BraTS layout). FileNotFoundError when no case has a _seg file;
    InvalidInputError (from the loader) for an unusable file.
    """
    from app.pipeline.io.case_loader import load_case
    from app.pipeline.io.nifti import load_volume

    folder = Path(folder)
    segs = sorted(folder.glob("*_seg.nii.gz"))
    if not segs:
        raise FileNotFoundError(f"no *_seg.nii.gz label maps in {folder}")
    segmenter = Segmenter.load(model_dir)
    segmenter.warm_up()
    rows = []
    for seg_path in segs:
        cid = seg_path.name[: -len("_seg.nii.gz")]
        case = load_case({s: folder / f"{cid}_{s}.nii.gz" for s in SEQUENCES}, lazy=False)
        ref, _ = load_volume(seg_path, None)
        t = time.perf_counter()
        result = segmenter.segment(case)
        rows.append(_score_row(cid, "", result.labels, np.rint(ref).astype(np.uint8),
                               case.voxel_size, time.perf_counter() - t))
        if progress:
            progress(f"{cid} WT {rows[-1]['dice_WT']:.3f}")
    return _finish(rows, segmenter, model_dir, str(folder), None, csv_path, False)


def _finish(
    rows: list[dict[str, Any]],
    segmenter: Segmenter,
    model_dir: str | os.PathLike,
    data: str,
    seed: int | None,
    csv_path: str | os.PathLike | None,
    update_card: bool,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "data": data,
        "cases": len(rows),
        "seed": seed,
        "summary": summarise(rows),
        "mean_seconds": round(float(np.mean([r["seconds"] for r in rows])), 3),
        "conventions": "BraTS: both masks empty -> Dice 1, HD95 0; one empty -> Dice 0, HD95 "
        "= image diagonal (373.13 mm at 240x240x155)",
    }
    by_class = {}
    for cls in sorted({r["class"] for r in rows if r["class"]}):
        sub = [r for r in rows if r["class"] == cls]
        by_class[cls] = {
            k: round(float(np.mean([r[k] for r in sub])), 4)
            for k in ("dice_WT", "dice_TC", "dice_ET")
        }
    if by_class:
        result["mean_dice_by_class"] = by_class
    if csv_path:
        write_csv(rows, csv_path)
    if update_card:
        card = segmenter.card
        card.metrics["phantom_test"] = result
        card.save(model_dir)
    return result
