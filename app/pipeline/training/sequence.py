"""Training and evaluating the sequence CNN on synthetic phantoms (no patient data).

Data: phantom cases from ``synthetic.phantoms.generate_case`` (classes A, O, G in turn), four
volumes each. Training cases come from ``train_seed`` (a mix of 2 mm grids, cheap, and BraTS-size
1 mm grids), validation cases from ``val_seed`` (BraTS size; early stopping and the decision
thresholds), test cases from ``test_seed`` (BraTS size; only the final metrics). Training volumes
are augmented for what varies between scanners (:func:`augment_slices`): intensity scale and
offset, contrast between tissues (a random monotone intensity curve), bias field, noise, slice
thickness (3-5 mm slices simulated and interpolated back), left-right flips and strength of the
normal T1ce enhancement.

Run it as a function::

    from app.pipeline.training.sequence import SequenceTrainConfig, train_sequence_model
    train_sequence_model(SequenceTrainConfig(out_dir="models/sequence-demo"))
"""

from __future__ import annotations

import logging
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.pipeline.io.naming import SEQUENCES
from app.pipeline.models.sequence import (
    Architecture,
    InputSpec,
    McDropout,
    SequenceCard,
    SequenceModel,
    Thresholds,
    build_model,
    decide_assignment,
    preprocess_slices,
    slice_indices,
)
from app.pipeline.synthetic import phantoms

log = logging.getLogger(__name__)

WEIGHTS_FILE = "weights.npz"


@dataclass
class SequenceTrainConfig:
    """Everything one training run needs; recorded in the card."""

    out_dir: str | os.PathLike = "models/sequence-demo"
    cache_dir: str | os.PathLike | None = None  # where built arrays are cached (.npz)
    name: str = "sequence-demo"
    version: str = "1.0"
    train_seed: int = 1401
    val_seed: int = 1402
    test_seed: int = 1403
    n_train: int = 240  # cases (4 volumes each)
    train_fraction_1mm: float = 0.3  # the rest at 2 mm (same preprocessing, 5x cheaper)
    augment_per_volume: int = 3
    n_val: int = 24
    n_val_no_enhancement: int = 8  # class A cases without normal enhancement (T1 = T1ce)
    n_test: int = 50
    n_test_no_enhancement: int = 8
    n_test_augmented: int = 25
    input: InputSpec = field(default_factory=InputSpec)
    architecture: Architecture = field(default_factory=Architecture)
    mc_passes: int = 20
    epochs: int = 14
    batch_size: int = 32
    learning_rate: float = 2e-3
    patience: int = 4
    fit_seed: int = 7

    def describe(self) -> dict[str, Any]:
        """Return the config as a JSON-ready dict."""
        data = asdict(self)
        data["out_dir"] = str(self.out_dir)
        data["cache_dir"] = None if self.cache_dir is None else str(self.cache_dir)
        data["input"] = self.input.model_dump(mode="json")
        data["architecture"] = self.architecture.model_dump(mode="json")
        return data


# --------------------------------------------------------------------------- augmentation


def _monotone_curve(values: np.ndarray, brain: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Map intensities through a random increasing piecewise-linear curve (tissue contrast)."""
    inside = values[brain]
    knots_q = np.array([0, 10, 30, 50, 70, 90, 100], dtype=np.float64)
    knots = np.percentile(inside[:: max(1, inside.size // 20000)], knots_q)
    knots = np.maximum.accumulate(knots + np.arange(knots.size) * 1e-6)
    gaps = np.diff(knots) * rng.uniform(0.7, 1.35, size=knots.size - 1)
    target = knots[0] + np.concatenate([[0.0], np.cumsum(gaps)])
    out = np.interp(values, knots, target).astype(np.float32)
    beyond = values > knots[-1]
    out[beyond] = (
        target[-1] + (values[beyond] - knots[-1]) * gaps[-1] / max(knots[-1] - knots[-2], 1e-6)
    ).astype(np.float32)
    return out


def _thick_slices(
    volume: np.ndarray, indices: list[int], thickness_vox: float, rng: np.random.Generator
) -> np.ndarray:
    """Return slices ``indices`` as if acquired with thick slices and linearly interpolated back."""
    nz = volume.shape[2]
    phase = rng.uniform(0, thickness_vox)
    half = thickness_vox / 2
    out = []
    for i in indices:
        k = math.floor((i - phase) / thickness_vox)
        c0 = phase + k * thickness_vox
        w1 = (i - c0) / thickness_vox
        planes = []
        for c in (c0, c0 + thickness_vox):
            lo = int(np.clip(round(c - half), 0, nz - 1))
            hi = int(np.clip(round(c + half), lo + 1, nz))
            planes.append(np.asarray(volume[:, :, lo:hi], dtype=np.float32).mean(axis=2))
        out.append((1 - w1) * planes[0] + w1 * planes[1])
    return np.stack(out, axis=-1)


def augment_slices(
    volume: np.ndarray, indices: list[int], voxel_mm: float, rng: np.random.Generator
) -> np.ndarray:
    """Return augmented raw slices (X, Y, n) float32 of ``volume`` at ``indices``.

    Slice thickness (p = 0.4: 3-5 mm slices averaged and interpolated back), a random monotone
    intensity curve (contrast between tissues, p = 0.8), a smooth multiplicative bias field, Rician
    noise, intensity scale (0.2-5x) and offset, left-right flip (p = 0.5). The background stays 0.
    """
    if rng.random() < 0.4:
        slices = _thick_slices(volume, indices, rng.uniform(3.0, 5.0) / voxel_mm, rng)
    else:
        slices = np.stack([np.asarray(volume[:, :, i], np.float32) for i in indices], axis=-1)
    brain = slices > 0
    if not brain.any():
        return slices
    if rng.random() < 0.8:
        slices = _monotone_curve(slices, brain, rng)
    median = float(np.median(slices[brain]))
    nx, ny, _ = slices.shape
    gx = np.linspace(-1, 1, nx, dtype=np.float32)[:, None, None]
    gy = np.linspace(-1, 1, ny, dtype=np.float32)[None, :, None]
    c = rng.normal(0, 0.15, size=5)
    bias = np.exp(c[0] * gx + c[1] * gy + c[2] * gx * gy + c[3] * gx**2 + c[4] * gy**2)
    slices = slices * bias
    sigma = np.float32(median * rng.uniform(0.0, 0.06))
    noise_a = rng.standard_normal(slices.shape, dtype=np.float32) * sigma
    noise_b = rng.standard_normal(slices.shape, dtype=np.float32) * sigma
    slices = np.sqrt((slices + noise_a) ** 2 + noise_b**2)
    scale = math.exp(rng.uniform(math.log(0.2), math.log(5.0)))
    slices = slices * np.float32(scale) + np.float32(median * scale * rng.uniform(-0.1, 0.3))
    slices = np.where(brain, np.maximum(slices, 1e-3), 0).astype(np.float32)
    if rng.random() < 0.5:
        slices = slices[::-1]
    return np.ascontiguousarray(slices)


# --------------------------------------------------------------------------- data sets


@dataclass
class SequenceData:
    """Model inputs x (N, S, S, n), labels y (N,) as SEQUENCES indices, case index per row."""

    x: np.ndarray
    y: np.ndarray
    case: np.ndarray


def build_split(
    seed: int,
    n_cases: int,
    spec: InputSpec,
    *,
    fraction_1mm: float = 1.0,
    augment: int = 0,
    enhancement: tuple[float, float] | None = None,
    classes: str = "AOG",
    progress: Callable[[int, int], None] | None = None,
) -> SequenceData:
    """Return the model inputs of ``n_cases`` phantom cases from ``seed`` (4 volumes each).

    Every case draws its own seed from ``seed`` (``SeedSequence.spawn``). ``fraction_1mm`` of the
    cases are BraTS size (1 mm), the rest 2 mm. With ``augment`` = k each volume gives k augmented
    samples, else one plain sample. ``enhancement`` (lo, hi) draws the normal T1ce enhancement
    strength per case (default: the generator's 1.0). ValueError for n_cases < 1.
    """
    if n_cases < 1:
        raise ValueError("n_cases must be at least 1")
    children = np.random.SeedSequence(seed).spawn(n_cases)
    xs, ys, cs = [], [], []
    n_1mm = int(round(fraction_1mm * n_cases))
    for i, child in enumerate(children):
        rng = np.random.default_rng(child)
        voxel_mm = 1.0 if i < n_1mm else 2.0
        strength = 1.0 if enhancement is None else float(rng.uniform(*enhancement))
        case = phantoms.generate_case(
            classes[i % len(classes)], rng, voxel_mm=voxel_mm, enhancement=strength
        )
        for label, seq in enumerate(SEQUENCES):
            volume = case.volumes[seq]
            indices = slice_indices(volume, spec)
            if augment:
                for _ in range(augment):
                    raw = augment_slices(volume, indices, voxel_mm, rng)
                    xs.append(preprocess_slices(raw, spec))
                    ys.append(label)
                    cs.append(i)
            else:
                raw = np.stack([volume[:, :, k].astype(np.float32) for k in indices], axis=-1)
                xs.append(preprocess_slices(raw, spec))
                ys.append(label)
                cs.append(i)
        if progress:
            progress(i + 1, n_cases)
    return SequenceData(np.stack(xs), np.asarray(ys, np.int32), np.asarray(cs, np.int32))


def _cached_split(cache: Path | None, key: str, build: Callable[[], SequenceData]) -> SequenceData:
    if cache is not None:
        path = cache / f"{key}.npz"
        if path.is_file():
            with np.load(path) as npz:
                return SequenceData(npz["x"], npz["y"], npz["case"])
    t0 = time.perf_counter()
    data = build()
    log.info("built %s: %d samples in %.1f s", key, len(data.y), time.perf_counter() - t0)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(cache / f"{key}.npz", x=data.x, y=data.y, case=data.case)
    return data


# --------------------------------------------------------------------------- metrics


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Return accuracy, per-sequence accuracy (recall) and the confusion matrix (rows = truth)."""
    k = len(SEQUENCES)
    matrix = np.zeros((k, k), dtype=int)
    np.add.at(matrix, (y_true, y_pred), 1)
    per = {
        s: round(float(matrix[i, i] / max(matrix[i].sum(), 1)), 4) for i, s in enumerate(SEQUENCES)
    }
    return {
        "n": int(len(y_true)),
        "accuracy": round(float(np.mean(y_true == y_pred)), 4),
        "per_sequence_accuracy": per,
        "confusion_matrix": {
            "rows_true_cols_predicted": list(SEQUENCES),
            "counts": matrix.tolist(),
        },
    }


def _pair_probabilities(mean: np.ndarray, data: SequenceData) -> np.ndarray:
    """Return, per case, P(T1 volume is T1, T1ce volume is T1ce | the pair is T1/T1ce)."""
    t1, t1ce = SEQUENCES.index("t1"), SEQUENCES.index("t1ce")
    out = []
    for c in np.unique(data.case):
        rows = np.flatnonzero(data.case == c)
        a = rows[data.y[rows] == t1][0]
        b = rows[data.y[rows] == t1ce][0]
        p = np.clip(mean, 1e-9, 1)
        keep = math.log(p[a, t1]) + math.log(p[b, t1ce])
        swap = math.log(p[a, t1ce]) + math.log(p[b, t1])
        out.append(1 / (1 + math.exp(min(swap - keep, 700))))
    return np.asarray(out)


def choose_thresholds(
    val_mean: np.ndarray, val: SequenceData, no_enh_mean: np.ndarray, no_enh: SequenceData
) -> tuple[Thresholds, dict[str, Any]]:
    """Return decision thresholds chosen on validation data, and how they were chosen.

    ``confident``: the 1st percentile of the true-sequence probability of validation volumes,
    floored to 0.05 steps and kept in [0.6, 0.95] (99% of real detections count as confident).
    ``t1_t1ce_pair``: halfway, in log-odds, between the highest pair probability of validation
    cases without enhancement (T1 = T1ce) and the 1st percentile of normal cases; 0.9 when the two
    overlap. Refuses nothing.
    """
    p_true = val_mean[np.arange(len(val.y)), val.y]
    q01 = float(np.percentile(p_true, 1))
    confident = float(np.clip(math.floor(q01 * 20) / 20, 0.6, 0.95))
    normal = _pair_probabilities(val_mean, val)
    flat = _pair_probabilities(no_enh_mean, no_enh)
    lo = float(np.clip(np.max(flat), 0.5, 1 - 1e-6))
    hi = float(np.clip(np.percentile(normal, 1), 0.5, 1 - 1e-6))

    def logit(v: float) -> float:
        return math.log(v / (1 - v))

    if hi > lo:
        pair = 1 / (1 + math.exp(-(logit(lo) + logit(hi)) / 2))
        pair = float(np.clip(pair, 0.55, 0.99))
    else:
        pair = 0.9
    info = {
        "confident_rule": "1st percentile of validation true-sequence probability, in [0.6, 0.95]",
        "validation_true_probability_p01": round(q01, 4),
        "pair_rule": "log-odds midpoint: max over no-enhancement cases, 1st pct over normal cases",
        "validation_pair_probability_normal_p01": round(hi, 4),
        "validation_pair_probability_no_enhancement_max": round(lo, 4),
    }
    return Thresholds(confident=round(confident, 4), t1_t1ce_pair=round(pair, 4)), info


def _swap_detection(mean: np.ndarray, data: SequenceData, thresholds: Thresholds) -> dict[str, Any]:
    """Return how the four-slot decision does on each case as uploaded, swapped and rotated."""
    outcome = {"correct_passes": 0, "swap_detected": 0, "rotation_detected": 0, "cases": 0}
    for c in np.unique(data.case):
        rows = np.flatnonzero(data.case == c)
        by_seq = {SEQUENCES[data.y[r]]: mean[r] for r in rows}
        layouts = {
            "correct_passes": dict(zip(SEQUENCES, SEQUENCES, strict=True)),
            "swap_detected": {"flair": "t2", "t2": "flair", "t1": "t1", "t1ce": "t1ce"},
            "rotation_detected": {"flair": "t2", "t1": "flair", "t1ce": "t1", "t2": "t1ce"},
        }
        outcome["cases"] += 1
        for key, slot_holds in layouts.items():
            result = decide_assignment(
                {slot: by_seq[held] for slot, held in slot_holds.items()}, None, thresholds
            )
            right = result.assignment == slot_holds
            if key == "correct_passes":
                outcome[key] += int(right and not result.needs_review)
            else:
                outcome[key] += int(right and result.needs_review)
    return outcome


# --------------------------------------------------------------------------- training


def train_sequence_model(
    config: SequenceTrainConfig, progress: Callable[[str], None] | None = None
) -> SequenceCard:
    """Build the phantom data, train the CNN, choose thresholds, evaluate, write weights + card.

    Writes ``weights.npz`` (classifier.save_weights_f16 with every array float32) and card.json
    into ``config.out_dir`` and returns the card. Test data (``config.test_seed``) is used only
    for the final metrics. ValueError when the three seeds are not distinct.
    """
    if len({config.train_seed, config.val_seed, config.test_seed}) != 3:
        raise ValueError("train, validation and test seeds must be distinct")
    from app.pipeline.models import tf_runtime

    tf = tf_runtime.configure()
    import keras

    from app.pipeline.models.card import sha256_file
    from app.pipeline.models.subtype import EVERY_LAYER, save_weights_f16

    say = progress or (lambda msg: log.info("%s", msg))
    cache = Path(config.cache_dir) if config.cache_dir else None
    spec = config.input
    tag = f"s{spec.image_size}_n{len(spec.slice_fractions)}"
    t0 = time.perf_counter()
    train = _cached_split(
        cache,
        f"train_{config.train_seed}_{config.n_train}_{config.augment_per_volume}_{tag}",
        lambda: build_split(
            config.train_seed,
            config.n_train,
            spec,
            fraction_1mm=config.train_fraction_1mm,
            augment=config.augment_per_volume,
            enhancement=(0.4, 1.3),
        ),
    )
    val = _cached_split(
        cache,
        f"val_{config.val_seed}_{config.n_val}_{tag}",
        lambda: build_split(config.val_seed, config.n_val, spec),
    )
    val_flat = _cached_split(
        cache,
        f"valflat_{config.val_seed}_{config.n_val_no_enhancement}_{tag}",
        lambda: build_split(
            config.val_seed + 10_000,
            config.n_val_no_enhancement,
            spec,
            enhancement=(0.0, 0.0),
            classes="A",
        ),
    )
    data_seconds = time.perf_counter() - t0
    say(f"data: {len(train.y)} train, {len(val.y)} val samples ({data_seconds:.0f} s)")

    keras.utils.set_random_seed(config.fit_seed)
    model = build_model(spec.shape, config.architecture)
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    callbacks = [
        keras.callbacks.EarlyStopping(
            "val_loss", patience=config.patience, restore_best_weights=True
        ),
        keras.callbacks.ReduceLROnPlateau("val_loss", factor=0.3, patience=2),
    ]
    t1 = time.perf_counter()
    history = model.fit(
        train.x,
        train.y,
        batch_size=config.batch_size,
        epochs=config.epochs,
        validation_data=(val.x, val.y),
        callbacks=callbacks,
        verbose=0,
        shuffle=True,
    )
    fit_seconds = time.perf_counter() - t1
    losses = history.history["val_loss"]
    say(f"fit: {len(losses)} epochs in {fit_seconds:.0f} s, best val_loss {min(losses):.4f}")

    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights = save_weights_f16(model, out / WEIGHTS_FILE, float32_prefixes=EVERY_LAYER)
    card = SequenceCard(
        name=config.name,
        version=config.version,
        changelog={config.version: "First sequence model: phantoms with normal T1ce enhancement."},
        input=spec,
        architecture=config.architecture,
        mc_dropout=McDropout(passes=config.mc_passes, seed=0),
        weights_file=WEIGHTS_FILE,
        weights_sha256=sha256_file(weights),
    )
    seq_model = SequenceModel(model, card, out)
    val_mean = seq_model.predict(val.x).mean
    flat_mean = seq_model.predict(val_flat.x).mean
    thresholds, threshold_info = choose_thresholds(val_mean, val, flat_mean, val_flat)
    card.thresholds = thresholds
    say(f"thresholds: {thresholds}")

    # Only now, with the model and thresholds fixed, the held-out test seed.
    test = _cached_split(
        cache,
        f"test_{config.test_seed}_{config.n_test}_{tag}",
        lambda: build_split(config.test_seed, config.n_test, spec),
    )
    test_aug = _cached_split(
        cache,
        f"testaug_{config.test_seed}_{config.n_test_augmented}_{tag}",
        lambda: build_split(config.test_seed + 20_000, config.n_test_augmented, spec, augment=1),
    )
    test_flat = _cached_split(
        cache,
        f"testflat_{config.test_seed}_{config.n_test_no_enhancement}_{tag}",
        lambda: build_split(
            config.test_seed + 10_000,
            config.n_test_no_enhancement,
            spec,
            enhancement=(0.0, 0.0),
            classes="A",
        ),
    )
    test_mean = seq_model.predict(test.x).mean
    aug_mean = seq_model.predict(test_aug.x).mean
    flat_mean_t = seq_model.predict(test_flat.x).mean
    flat_pairs = _pair_probabilities(flat_mean_t, test_flat)
    val_metrics = classification_metrics(val.y, val_mean.argmax(1))
    test_metrics = classification_metrics(test.y, test_mean.argmax(1))
    card.metrics = {
        "note": "Held-out synthetic phantoms; says nothing about real scans.",
        "test": {
            "seed": config.test_seed,
            "cases": config.n_test,
            "voxel_mm": 1.0,
            "shape": list(phantoms.BRATS_SHAPE),
            "augmented": False,
            **test_metrics,
            "four_slot_decision": _swap_detection(test_mean, test, thresholds),
        },
        "test_augmented": {
            "seed": config.test_seed + 20_000,
            "cases": config.n_test_augmented,
            "augmented": True,
            **classification_metrics(test_aug.y, aug_mean.argmax(1)),
        },
        "test_no_enhancement": {
            "seed": config.test_seed + 10_000,
            "cases": config.n_test_no_enhancement,
            "t1_t1ce_flagged_ambiguous": int(np.sum(flat_pairs < thresholds.t1_t1ce_pair)),
        },
        "validation": {"seed": config.val_seed, "cases": config.n_val, **val_metrics},
    }
    card.training_data = (
        f"Synthetic phantoms only (synthetic.phantoms.generate_case, MNI152 anatomy; classes "
        f"A, O, G in turn). Training: seed {config.train_seed}, {config.n_train} cases "
        f"({config.train_fraction_1mm:.0%} at 1 mm BraTS size, the rest at 2 mm), normal T1ce "
        f"enhancement 0.4-1.3x, {config.augment_per_volume} augmented samples per volume. "
        f"Validation (early stopping, thresholds): seed {config.val_seed}, {config.n_val} cases "
        f"at 1 mm + {config.n_val_no_enhancement} class-A cases without enhancement (seed "
        f"{config.val_seed + 10_000}). Test: seed {config.test_seed} (never used before the final "
        "evaluation). No patient data."
    )
    card.training = {
        "config": config.describe(),
        "seeds": {
            "train": config.train_seed,
            "validation": config.val_seed,
            "validation_no_enhancement": config.val_seed + 10_000,
            "test": config.test_seed,
            "test_augmented": config.test_seed + 20_000,
            "test_no_enhancement": config.test_seed + 10_000,
        },
        "samples": {"train": int(len(train.y)), "validation": int(len(val.y))},
        "augmentation": (
            "slice thickness 3-5 mm (p 0.4), random monotone intensity curve (tissue contrast, "
            "p 0.8), bias field, Rician noise (sigma up to 6% of the brain median), scale "
            "0.2-5x, offset -0.1..0.3 x median, left-right flip (p 0.5), T1ce enhancement "
            "strength 0.4-1.3x"
        ),
        "epochs_run": len(losses),
        "best_epoch": int(np.argmin(losses)) + 1,
        "history": {k: [round(float(v), 4) for v in vals] for k, vals in history.history.items()},
        "optimizer": f"Adam({config.learning_rate}), ReduceLROnPlateau(0.3, 2), "
        f"EarlyStopping(val_loss, {config.patience}, restore best)",
        "data_seconds": round(data_seconds, 1),
        "fit_seconds": round(fit_seconds, 1),
        "thresholds": threshold_info,
        "parameters": int(model.count_params()),
    }
    card.library_versions = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
    card.save(out)
    say(f"test accuracy {test_metrics['accuracy']} on {test_metrics['n']} volumes")
    return card
