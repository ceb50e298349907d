"""Train, calibrate and evaluate the tumour-type model on synthetic phantoms.

Three steps, each run from the command line (``app/commands/pipeline.py``; the reproducible
recipe is in docs/tumour-type-model.md):

- ``make_dataset`` (``flask model data --task tumour-type``): generate balanced phantoms of every
  tumour type (``synthetic.tumour_types``) or the out-of-distribution set (``synthetic.ood``)
  from one seed and store the prepared network inputs (``models.tumour_type.prepare_volumes``,
  float16) with labels and per-case seeds in an .npz.
- ``train_model`` (``flask model train --task tumour-type``): fit the network on one such file,
  select the epoch on validation files, fit the temperature (calibration) and the Mahalanobis
  statistics (OOD; training features), choose the OOD threshold and the low-confidence threshold
  on validation data, and write the model folder (weights via ``classifier.save_weights_f16``,
  OOD statistics, card.json).
- ``evaluate_model`` (``flask model evaluate --model DIR`` on a tumour-type model): score
  held-out files (balanced accuracy, per-type recall with 95% bootstrap CIs, ECE before / after
  calibration, a reliability diagram PNG, OOD AUROC and false-alarm rate) and, with
  ``--write-card``, record them in the card.
"""

from __future__ import annotations

import logging
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.pipeline.classes import TUMOUR_TYPES
from app.pipeline.models.prediction import softmax
from app.pipeline.models.tumour_type import (
    INPUT_RATIONALE,
    MahalanobisOOD,
    TumourTypeCard,
    prepare_volumes,
)
from app.pipeline.training.calibration import (
    auroc,
    bootstrap_ci,
    classification_metrics,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
    write_reliability_png,
)

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- data


def balanced_labels(n: int, seed: int, classes: Sequence[str] = TUMOUR_TYPES) -> list[str]:
    """Return ``n`` class names, round-robin over ``classes`` and shuffled by ``seed``."""
    labels = [classes[i % len(classes)] for i in range(n)]
    np.random.default_rng(seed).shuffle(labels)
    return labels


def _case_arrays(args: tuple[str, str, np.random.SeedSequence, float, dict]) -> tuple:
    kind, name, seed_seq, voxel_mm, card_dict = args
    from app.pipeline.synthetic import ood, tumour_types

    card = TumourTypeCard.from_dict(card_dict)
    rng = np.random.default_rng(seed_seq)
    if kind == "id":
        case = tumour_types.generate_tumour_case(name, rng, voxel_mm=voxel_mm)
        volumes, affine = case.volumes, case.affine
        detail = str(case.params.get("glioma_class", ""))
    else:
        volumes, affine = ood.generate_ood_case(name, rng, voxel_mm=voxel_mm)
        detail = ""
    voxel = tuple(float(v) for v in np.sqrt((affine[:3, :3] ** 2).sum(axis=0)))
    x = prepare_volumes(volumes, voxel, card)
    return x.astype(np.float16), detail


def make_dataset(
    out: str | Path,
    n: int,
    seed: int,
    *,
    kind: str = "id",
    voxel_mm: float = 2.0,
    card: TumourTypeCard | None = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Generate ``n`` cases from ``seed`` and write their prepared inputs to the .npz ``out``.

    ``kind`` "id": balanced tumour types (labels = TUMOUR_TYPES indices); "ood": balanced
    out-of-distribution kinds (``synthetic.ood.OOD_KINDS``; labels = kind indices). Arrays: x
    (n, X, Y, Z, 4) float16, y (n,), names, detail (glioma class), seed, voxel_mm. Case i uses
    ``SeedSequence(seed).spawn(n)[i]``, so output does not depend on ``workers``. ValueError for
    n < 1 or an unknown kind.
    """
    from concurrent.futures import ProcessPoolExecutor

    from app.pipeline.synthetic.ood import OOD_KINDS
    from app.pipeline.synthetic.phantoms import _anatomy

    if n < 1:
        raise ValueError("n must be at least 1")
    if kind not in ("id", "ood"):
        raise ValueError(f"unknown dataset kind {kind!r}")
    card = card or default_card()
    classes = TUMOUR_TYPES if kind == "id" else OOD_KINDS
    names = balanced_labels(n, seed, classes)
    seeds = np.random.SeedSequence(seed).spawn(n)
    jobs = [(kind, names[i], seeds[i], float(voxel_mm), card.to_dict()) for i in range(n)]
    _anatomy(float(voxel_mm))
    results: list[tuple] = []
    if workers <= 1:
        for i, job in enumerate(jobs, start=1):
            results.append(_case_arrays(job))
            if progress:
                progress(i, n)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for i, res in enumerate(pool.map(_case_arrays, jobs, chunksize=4), start=1):
                results.append(res)
                if progress:
                    progress(i, n)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        out,
        x=np.stack([r[0] for r in results]),
        y=np.array([classes.index(name) for name in names], dtype=np.int16),
        names=np.array(names),
        detail=np.array([r[1] for r in results]),
        seed=np.int64(seed),
        voxel_mm=np.float64(voxel_mm),
        kind=np.array(kind),
    )
    return out


DATASET_ARRAYS = ("x", "y", "names", "detail", "seed", "voxel_mm", "kind")
"""The arrays of a dataset file (:func:`make_dataset`)."""


def load_dataset(path: str | Path, kind: str | None = None) -> dict[str, np.ndarray]:
    """Return the arrays of a file written by :func:`make_dataset` (x as float32).

    FileNotFoundError for a missing file; ValueError for a file that is not such a dataset, or
    (with ``kind``) one of another kind.
    """
    try:
        npz = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path} is not a tumour-type dataset file ({exc})") from exc
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} is not a tumour-type dataset file (one array, not an .npz)")
    with npz:
        missing = [k for k in DATASET_ARRAYS if k not in npz.files]
        if missing:
            raise ValueError(f"{path} is not a tumour-type dataset file (no {', '.join(missing)})")
        data = {k: npz[k] for k in npz.files}
    if kind is not None and str(data["kind"]) != kind:
        what = {"id": "an in-distribution", "ood": "an OOD"}.get(kind, f"a {kind!r}")
        raise ValueError(f"{path} is not {what} dataset (its kind is {str(data['kind'])!r})")
    data["x"] = data["x"].astype(np.float32)
    return data


def default_card(name: str = "tumour-type-demo") -> TumourTypeCard:
    """Return the card whose input layout and architecture training starts from."""
    card = TumourTypeCard(name=name)
    spec = card.input
    vx = float(spec["voxel_mm"])
    sx, sy, sz = spec["shape"]
    card.input_rationale = INPUT_RATIONALE.format(
        vx=vx, sx=sx, sy=sy, sz=sz, mx=sx * vx, my=sy * vx, mz=sz * vx
    )
    return card


# --------------------------------------------------------------------------- training


AUGMENTATION = "left-right flip p=0.5, shift up to +-1 voxel per axis, per-channel gain 0.9-1.1"
OOD_SHRINKAGE = 1e-3
"""Ridge added to the shared covariance, as a fraction of its mean variance."""
OOD_ALPHA = 0.01
"""Target false-alarm rate of the OOD threshold (conformal quantile of validation scores)."""
LOW_CONFIDENCE_QUANTILE = 0.02
"""Share of correctly classified validation cases allowed below the low-confidence threshold."""
LOW_CONFIDENCE_FLOOR = 0.5


def augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return an augmented copy of a batch (N, X, Y, Z, C): flip, +-1 voxel shift, gains."""
    out = np.empty_like(x)
    for i, vol in enumerate(x):
        if rng.random() < 0.5:
            vol = vol[::-1]
        vol = np.roll(vol, tuple(int(s) for s in rng.integers(-1, 2, size=3)), axis=(0, 1, 2))
        gains = rng.uniform(0.9, 1.1, size=vol.shape[-1]).astype(np.float32)
        out[i] = vol * gains
    return out


def conformal_threshold(scores: np.ndarray, alpha: float = OOD_ALPHA) -> float:
    """Return the validation score at rank ceil((n + 1)(1 - alpha)) (the max when it exceeds n).

    A new in-distribution score exceeds it with probability at most ``alpha`` (split conformal
    prediction). ValueError for no scores.
    """
    scores = np.sort(np.asarray(scores, dtype=np.float64))
    if scores.size == 0:
        raise ValueError("no validation scores")
    rank = int(np.ceil((scores.size + 1) * (1 - alpha)))
    return float(scores[min(rank, scores.size) - 1])


def low_confidence_threshold(
    probs: np.ndarray, labels: np.ndarray, quantile: float = LOW_CONFIDENCE_QUANTILE
) -> float:
    """Return max(LOW_CONFIDENCE_FLOOR, the ``quantile`` of calibrated top-p of correct cases)."""
    probs = np.asarray(probs)
    correct = probs.argmax(axis=1) == np.asarray(labels)
    top = probs.max(axis=1)[correct]
    q = float(np.quantile(top, quantile)) if top.size else 1.0
    return round(max(LOW_CONFIDENCE_FLOOR, q), 4)


def _concat(paths: Sequence[Path]) -> dict[str, np.ndarray]:
    """Return the in-distribution files ``paths`` as one set (ValueError for another kind)."""
    parts = [load_dataset(p, kind="id") for p in paths]
    return {
        "x": np.concatenate([p["x"] for p in parts]),
        "y": np.concatenate([p["y"] for p in parts]).astype(int),
        "seeds": [int(p["seed"]) for p in parts],
        "voxel_mm": [float(p["voxel_mm"]) for p in parts],
    }


def network_outputs(model: Any, x: np.ndarray, batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Return (logits, embedding) of a Keras tumour-type network over ``x`` in batches."""
    logits, emb = [], []
    for start in range(0, len(x), batch):
        lo, em = model(x[start:start + batch], training=False)
        logits.append(np.asarray(lo))
        emb.append(np.asarray(em))
    return np.concatenate(logits), np.concatenate(emb)


def train_model(
    train_paths: str | Path | Sequence[str | Path],
    val_paths: Sequence[str | Path],
    out_dir: str | Path,
    *,
    epochs: int = 20,
    seed: int = 0,
    batch_size: int = 16,
    learning_rate: float = 2e-3,
    refit: bool = False,
) -> TumourTypeCard:
    """Train on dataset files, select on validation files, calibrate, fit OOD; return the card.

    ``train_paths`` is one file or several (e.g. a 2 mm and a 1 mm set), used as one set.

    Writes into ``out_dir``: weights.npz (every array float32, ``save_weights_f16`` format),
    ood.npz (Mahalanobis means + shared precision from training features) and card.json. The
    epoch with the lowest validation loss is kept; calibration, OOD statistics and thresholds are
    computed with the saved weights reloaded. ``refit`` keeps the weights already in ``out_dir``
    (and the training record of its card) and only redoes calibration, OOD and thresholds.
    ValueError when a file is not an "id" dataset (FileNotFoundError when one is missing).
    """
    from app.pipeline.models import tf_runtime

    tf_runtime.configure()
    import keras

    from app.pipeline.models.card import sha256_file
    from app.pipeline.models.subtype import EVERY_LAYER, load_weights_f16, save_weights_f16
    from app.pipeline.models.tumour_type import build_network

    if isinstance(train_paths, (str, Path)):
        train_paths = [train_paths]
    train = _concat([Path(p) for p in train_paths])
    val = _concat([Path(p) for p in val_paths])
    x, y = train["x"], train["y"].astype(int)
    card = default_card()
    keras.utils.set_random_seed(seed)
    out = Path(out_dir)
    network = build_network(card)
    if refit:
        old = TumourTypeCard.load(out)
        load_weights_f16(network, out / card.weights_file)
        training_record = old.training
    else:
        training_record = _fit(network, x, y, val, epochs, seed, batch_size, learning_rate)
        out.mkdir(parents=True, exist_ok=True)
        save_weights_f16(network, out / card.weights_file, float32_prefixes=EVERY_LAYER)
        load_weights_f16(network, out / card.weights_file)

    train_logits, train_emb = network_outputs(network, x)
    val_logits, val_emb = network_outputs(network, val["x"])
    temperature = fit_temperature(val_logits, val["y"])
    probs_before = softmax(val_logits)
    probs_after = softmax(val_logits, temperature)
    sizes = ood_block_sizes(card)
    ood = MahalanobisOOD.fit(train_emb, y, len(card.classes), sizes, shrinkage=OOD_SHRINKAGE)
    ood.save(out / "ood.npz")
    val_scores = ood.score(val_emb)
    threshold = conformal_threshold(val_scores)
    card.calibration = {
        "method": "temperature scaling (Guo et al. 2017), NLL-optimal T on the validation set",
        "temperature": round(temperature, 4),
        "bins": 15,
        "validation": {
            "n": int(len(val["y"])),
            "ece_before": round(expected_calibration_error(probs_before, val["y"]), 4),
            "ece_after": round(expected_calibration_error(probs_after, val["y"]), 4),
        },
    }
    card.ood = {
        "method": (
            "Mahalanobis distance with the feature ensemble of Lee et al. 2018: for each block of "
            "network features (the globally pooled convolutional features that feed the "
            "penultimate dense layer, and the spatial mean of each earlier convolution block per "
            "view) the minimum squared distance to class-conditional Gaussian means with one "
            "shared (pooled within-class) covariance, divided by its median on the training "
            "features; the score is the sum over blocks. Gaussians fitted on training features"
        ),
        "layer": "ood_features",
        "blocks": sizes,
        "shrinkage": OOD_SHRINKAGE,
        "selection": (
            "features (pooled / pre-ReLU embedding / embedding / pooled + earlier blocks) and "
            "shrinkage (1e-3..1e-1) chosen by AUROC of validation phantoms vs the OOD validation "
            "set (seed 1504), never on the test sets"
        ),
        "statistics_file": "ood.npz",
        "statistics_sha256": sha256_file(out / "ood.npz"),
        "threshold": round(threshold, 4),
        "threshold_method": (
            f"split-conformal: validation score at rank ceil((n+1)(1-{OOD_ALPHA})), so a new "
            f"in-distribution scan exceeds it with probability <= {OOD_ALPHA}"
        ),
        "in_distribution": (
            "conformal p-value (1 + #validation scores >= score) / (n + 1); flagged out of "
            "distribution when the score exceeds the threshold"
        ),
        "validation_scores": [round(float(s), 4) for s in np.sort(val_scores)],
    }
    card.low_confidence = {
        "threshold": low_confidence_threshold(probs_after, val["y"]),
        "method": (
            f"calibrated top-class probability below max({LOW_CONFIDENCE_FLOOR}, the "
            f"{LOW_CONFIDENCE_QUANTILE:.0%} quantile of the calibrated top probability of the "
            "correctly classified validation cases)"
        ),
    }
    card.weights_format = "npz written by classifier.save_weights_f16 (every array float32)"
    card.weights_sha256 = sha256_file(out / card.weights_file)
    card.training = {
        **training_record,
        "train_seeds": train["seeds"],
        "train_voxel_mm": train["voxel_mm"],
        "train_cases": int(len(y)),
        "validation_seeds": val["seeds"],
        "validation_voxel_mm": val["voxel_mm"],
        "validation_cases": int(len(val["y"])),
    }
    per_type = np.bincount(y, minlength=len(card.classes)).tolist()
    sources = ", ".join(
        f"seed {seed} on a {mm:g} mm grid" for seed, mm in zip(
            train["seeds"], train["voxel_mm"], strict=True))
    card.training_data = (
        f"{len(y)} synthetic phantoms (app.pipeline.synthetic.tumour_types, {sources}; per type "
        f"{dict(zip(card.classes, per_type, strict=True))}; gliomas = the A/O/G phantoms) on the "
        "MNI152 template; validation seeds " + ", ".join(str(s) for s in val["seeds"])
        + ". No patient data."
    )
    card.metrics["validation"] = classification_metrics(val["y"], probs_after, card.classes)
    card.libraries = _libraries()
    card.save(out)
    return card


def _fit(network: Any, x: np.ndarray, y: np.ndarray, val: dict[str, Any], epochs: int, seed: int,
         batch_size: int, learning_rate: float) -> dict[str, Any]:
    """Fit ``network``'s logits on (x, y); keep the best validation-loss epoch; return a record."""
    import keras

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    trainer = keras.Model(network.inputs, network.outputs[0])
    trainer.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "val_loss": [],
                                       "val_accuracy": []}
    best = (np.inf, -1, None)
    start = time.time()
    lr = learning_rate
    stale = 0
    for epoch in range(epochs):
        fit = trainer.fit(augment(x, rng), y, batch_size=batch_size, epochs=1, verbose=0,
                          shuffle=True)
        val_loss, val_acc = trainer.evaluate(val["x"], val["y"], batch_size=64, verbose=0)
        for key, value in (("loss", fit.history["loss"][0]),
                           ("accuracy", fit.history["accuracy"][0]),
                           ("val_loss", val_loss), ("val_accuracy", val_acc)):
            history[key].append(round(float(value), 4))
        log.info("epoch %d: loss %.4f acc %.3f val_loss %.4f val_acc %.3f (%.0f s)", epoch + 1,
                 history["loss"][-1], history["accuracy"][-1], val_loss, val_acc,
                 time.time() - start)
        if val_loss < best[0]:
            best = (float(val_loss), epoch, [w.copy() for w in trainer.get_weights()])
            stale = 0
        else:
            stale += 1
            if stale >= 2:  # plateau: lower the learning rate
                lr *= 0.3
                trainer.optimizer.learning_rate.assign(lr)
                stale = 0
    trainer.set_weights(best[2])
    return {
        "init_seed": seed,
        "epochs_run": epochs,
        "best_epoch": best[1] + 1,
        "batch_size": batch_size,
        "optimizer": f"Adam lr {learning_rate}, x0.3 after 2 epochs without val-loss gain",
        "augmentation": AUGMENTATION,
        "fit_seconds": round(time.time() - start, 1),
        "history": history,
    }



def ood_block_sizes(card: TumourTypeCard) -> list[int]:
    """Return the feature-block sizes of the network's OOD output (pooled, then earlier blocks)."""
    filters = [int(f) for f in card.architecture["filters"]]
    if card.architecture.get("kind") != "projections":
        return [2 * filters[-1]]
    return [3 * 2 * filters[-1]] + [f for _ in range(3) for f in filters[:-1]]


def _libraries() -> dict[str, str]:
    import keras
    import scipy
    import tensorflow as tf

    return {"keras": keras.__version__, "tensorflow": tf.__version__, "numpy": np.__version__,
            "scipy": scipy.__version__}


# --------------------------------------------------------------------------- evaluation


def evaluate_model(
    model_dir: str | Path,
    test_paths: Sequence[str | Path],
    ood_path: str | Path,
    *,
    png: str | Path | None = None,
    write: bool = True,
    key: str = "test",
) -> dict[str, Any]:
    """Return (and with ``write`` record in the card) held-out metrics of the model in model_dir.

    Classification on the test files (calibrated probabilities; bootstrap CIs), ECE before /
    after temperature scaling, OOD AUROC of the test files against the OOD file (overall and per
    kind), the false-alarm rate on the test files and the detection rate per OOD kind at the
    card's threshold. ``png`` gets the test set's reliability diagram. Writing the card never
    touches the weights (their sha256 stays valid); the results go under ``metrics[key]`` and
    ``metrics["ood_" + key]``.
    """
    from app.pipeline.models.tumour_type import TumourTypeModel
    from app.pipeline.synthetic.ood import OOD_KINDS

    model = TumourTypeModel.load(model_dir)
    card = model.card
    test = _concat([Path(p) for p in test_paths])
    ood_data = load_dataset(ood_path, kind="ood")
    logits, emb = network_outputs(model.network, test["x"])
    _, ood_emb = network_outputs(model.network, ood_data["x"])
    t = float(card.calibration["temperature"])
    before, after = softmax(logits), softmax(logits, t)
    result: dict[str, Any] = {
        "seeds": test["seeds"],
        "voxel_mm": test["voxel_mm"],
        **classification_metrics(test["y"], after, card.classes, seed=1),
        "ece_before": round(expected_calibration_error(before, test["y"]), 4),
        "ece_after": round(expected_calibration_error(after, test["y"]), 4),
        "low_confidence_rate": round(float(np.mean(after.max(axis=1)
                                                   < card.low_confidence["threshold"])), 4),
    }
    id_scores = model.ood.score(emb)
    ood_scores = model.ood.score(ood_emb)
    thr = float(card.ood["threshold"])
    kinds = ood_data["y"].astype(int)
    ood_result: dict[str, Any] = {
        "id_seeds": test["seeds"],
        "ood_seed": int(ood_data["seed"]),
        "ood_voxel_mm": float(ood_data["voxel_mm"]),
        "n_id": int(len(id_scores)),
        "n_ood": int(len(ood_scores)),
        "auroc": round(auroc(id_scores, ood_scores), 4),
        "auroc_ci95": bootstrap_ci(
            lambda i: auroc(id_scores[i % len(id_scores)], ood_scores),
            len(id_scores), reps=500, seed=2),
        "false_alarm_rate": round(float(np.mean(id_scores > thr)), 4),
        "detection_rate": round(float(np.mean(ood_scores > thr)), 4),
        "per_kind": {
            kind: {
                "n": int((kinds == k).sum()),
                "auroc": round(auroc(id_scores, ood_scores[kinds == k]), 4),
                "detection_rate": round(float(np.mean(ood_scores[kinds == k] > thr)), 4),
            }
            for k, kind in enumerate(OOD_KINDS) if (kinds == k).any()
        },
    }
    if png:
        write_reliability_png(png, reliability_bins(before, test["y"]),
                              reliability_bins(after, test["y"]))
    if write:
        card.metrics[key] = result
        card.metrics[f"ood_{key}"] = ood_result
        card.save(model_dir)
    return {key: result, f"ood_{key}": ood_result}
