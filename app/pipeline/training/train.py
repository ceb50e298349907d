"""Train the ResNet50 classifier on a labelled CPM-RadPath-style folder; write weights + card.

``python -m app.pipeline.training.train --data DIR --labels CSV --out models/NAME`` (also ``flask
train``). Steps: find the labelled cases; extract each case's input slab (max-tumour slice ±k,
exactly as inference builds it) once, in worker processes, into memory; split by case
(stratified) into training and validation; train with class weights, anatomy-respecting
augmentation (left-right flips, rotations up to ±10°, per-channel intensity scaling ±10%), early
stopping on the validation loss and an optional time budget; save float16 weights and a card
with the validation metrics and the measured float16 error. TensorFlow is imported inside
:func:`train` only (after the input workers are done).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.pipeline.classes import CLASSES
from app.pipeline.models.card import (
    DEMO_NOTICE,
    LAYOUT_RATIONALES,
    ModelCard,
    layout_rationale,
    sha256_file,
)
from app.pipeline.training.dataset import ExtractedCase, extract_cases, labelled_cases

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "layout": "channels4",
    "image_size": 96,
    "epochs": 12,
    "batch_size": 16,
    "learning_rate": 1e-3,
    "val_fraction": 0.15,
    "patience": 3,
    "dropout": 0.3,
    "uncertainty_k": 2,
    "seed": 0,
    "workers": 2,
    "bn_momentum": 0.9,
}


def case_metrics(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> dict[str, Any]:
    """Return the CPM-RadPath metrics (f1_micro, kappa, balanced_accuracy) plus per-class P/R.

    Also ``confusion`` (rows true, columns predicted) and ``n``. Uses scikit-learn.
    """
    from sklearn.metrics import (
        balanced_accuracy_score,
        cohen_kappa_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
    )

    labels = list(range(n_classes))
    prec, rec, _, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return {
        "n": int(len(y_true)),
        "f1_micro": float(f1_score(y_true, y_pred, labels=labels, average="micro")),
        "kappa": float(cohen_kappa_score(y_true, y_pred, labels=labels)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "per_class": {
            CLASSES[i]: {"precision": float(prec[i]), "recall": float(rec[i]),
                         "support": int(support[i])}
            for i in labels
        },
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def split_cases(
    labels: Sequence[int], val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return (train, validation) index arrays, stratified by class, split by case.

    ValueError when a class has fewer than two cases or the fraction is outside (0, 1).
    """
    from sklearn.model_selection import train_test_split

    if not 0 < val_fraction < 1:
        raise ValueError("val_fraction must be between 0 and 1")
    idx = np.arange(len(labels))
    counts = np.bincount(np.asarray(labels), minlength=len(CLASSES))
    if (counts[counts > 0] < 2).any():
        raise ValueError(f"every class needs at least two cases for a stratified split: {counts}")
    train_idx, val_idx = train_test_split(
        idx, test_size=val_fraction, random_state=seed, stratify=labels
    )
    return np.sort(train_idx), np.sort(val_idx)


def _stack(cases: list[ExtractedCase]) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate([c.batch for c in cases]).astype(np.float32)
    y = np.concatenate([[CLASSES.index(c.label)] * len(c.batch) for c in cases]).astype(np.int32)
    return x, y


def _augmenter(tf: Any, keras: Any, seed: int, max_degrees: float = 10.0) -> Any:
    """Return a tf function augmenting an (B, S, S, C) batch (flip X, rotate, scale channels)."""
    rotate = keras.layers.RandomRotation(
        max_degrees / 360.0, fill_mode="constant", fill_value=0.0, seed=seed
    )

    def augment(x: Any, y: Any) -> tuple[Any, Any]:
        # Axis 1 of the batch is X (left-right): a flip there mirrors the hemispheres.
        flip = tf.random.uniform((tf.shape(x)[0], 1, 1, 1)) < 0.5
        x = tf.where(flip, tf.reverse(x, axis=[1]), x)
        x = rotate(x, training=True)
        scale = tf.random.uniform((tf.shape(x)[0], 1, 1, tf.shape(x)[3]), 0.9, 1.1)
        return x * scale, y

    return augment


def _predict_cases(model: Any, cases: list[ExtractedCase], batch: int = 32) -> np.ndarray:
    """Return the mean softmax probabilities per case (as inference reports them)."""
    x = np.concatenate([c.batch for c in cases])
    probs = model.predict(x, batch_size=batch, verbose=0)
    out, start = [], 0
    for c in cases:
        out.append(probs[start : start + len(c.batch)].mean(axis=0))
        start += len(c.batch)
    return np.asarray(out)


def train(
    data_dir: str | Path,
    labels_csv: str | Path,
    out_dir: str | Path,
    *,
    name: str | None = None,
    version: str = "1.0",
    layout: str = DEFAULTS["layout"],
    image_size: int = DEFAULTS["image_size"],
    epochs: int = DEFAULTS["epochs"],
    batch_size: int = DEFAULTS["batch_size"],
    learning_rate: float = DEFAULTS["learning_rate"],
    val_fraction: float = DEFAULTS["val_fraction"],
    patience: int = DEFAULTS["patience"],
    dropout: float = DEFAULTS["dropout"],
    uncertainty_k: int = DEFAULTS["uncertainty_k"],
    seed: int = DEFAULTS["seed"],
    workers: int = DEFAULTS["workers"],
    max_minutes: float | None = None,
    imagenet_weights: str | Path | None = None,
    init_from: str | Path | None = None,
    save_float32: str | Path | None = None,
    freeze_batchnorm: bool = False,
    training_data: str | None = None,
    demo: bool = False,
    slice_method: str = "robust",
    verbose: int | None = None,
) -> ModelCard:
    """Train a model and write ``out_dir``/card.json + float16 weights; return the card.

    The best epoch (lowest validation loss) is kept and saved as soon as it is reached, so an
    interrupted run still leaves a usable model. ``max_minutes`` stops training after that many
    minutes of fitting. ``init_from`` starts from the weights of an existing model folder with the
    same layout and image size (fine-tuning or resuming). ``save_float32`` also writes the best
    epoch's float32 weights there (for analysis; not part of the model folder). Raises ValueError
    when the data have too few cases per class, and FileNotFoundError for a missing folder / CSV.
    """
    from tqdm import tqdm

    out = Path(out_dir)
    card = ModelCard(
        task="subtype",
        name=name or out.name,
        version=version,
        layout=layout,
        image_size=image_size,
        channels=4 if layout == "channels4" else 3,
        dropout=dropout,
        uncertainty_k=uncertainty_k,
        slice_method=slice_method,
        demo=demo,
        layout_rationale=layout_rationale(layout, image_size),
    )
    if layout == "seed-strip":
        card.normalisation = {s: {"method": "minmax"} for s in card.sequences}
    items = labelled_cases(data_dir, labels_csv)
    log.info("extracting inputs of %d cases with %d workers", len(items), workers)
    t0 = time.perf_counter()
    with tqdm(total=len(items), unit="case", desc="inputs", file=sys.stderr) as bar:
        cases = list(
            extract_cases(
                items, card, workers=workers, progress=lambda d, t: bar.update(d - bar.n)
            )
        )
    extract_s = time.perf_counter() - t0
    labels = np.array([CLASSES.index(c.label) for c in cases])
    train_idx, val_idx = split_cases(labels, val_fraction, seed)
    train_cases = [cases[i] for i in train_idx]
    val_cases = [cases[i] for i in val_idx]
    x_train, y_train = _stack(train_cases)
    x_val, y_val = _stack(val_cases)
    log.info("%d training samples (%d cases), %d validation samples (%d cases)",
             len(x_train), len(train_cases), len(x_val), len(val_cases))

    from sklearn.utils.class_weight import compute_class_weight

    from app.pipeline.models import tf_runtime

    tf = tf_runtime.configure()
    import keras

    from app.pipeline.models.subtype import (
        EVERY_LAYER,
        build_model,
        load_weights_f16,
        save_weights_f16,
    )

    keras.utils.set_random_seed(seed)
    present = np.unique(y_train)
    weights = compute_class_weight("balanced", classes=present, y=y_train)
    class_weight = {int(c): float(w) for c, w in zip(present, weights, strict=True)}

    model = build_model(layout, image_size, dropout, imagenet_weights=imagenet_weights)
    if init_from:
        base = ModelCard.load(init_from)
        if (base.layout, base.image_size, base.architecture) != (layout, image_size, "resnet50"):
            raise ValueError(f"{init_from} is {base.layout} at {base.image_size}px; cannot start "
                             f"a {layout} model at {image_size}px from it")
        load_weights_f16(model, base.weights_path(init_from))
    for layer in model.layers:  # faster-settling running statistics when training from scratch
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = DEFAULTS["bn_momentum"]
            if freeze_batchnorm:  # fine-tuning: keep the statistics (inference mode in Keras 3)
                layer.trainable = False
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    augment = _augmenter(tf, keras, seed)
    ds_train = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train))
        .shuffle(len(x_train), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .map(augment, num_parallel_calls=1)
        .prefetch(1)
    )
    out.mkdir(parents=True, exist_ok=True)
    weights_path = out / card.weights_file
    history: dict[str, list[float]] = {}
    state: dict[str, Any] = {"best": np.inf, "best_epoch": 0, "start": time.perf_counter()}

    class _Keeper(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            for key, value in logs.items():
                history.setdefault(key, []).append(float(value))
            val_loss = float(logs.get("val_loss", np.inf))
            if val_loss < state["best"]:
                state.update(best=val_loss, best_epoch=epoch + 1)
                save_weights_f16(self.model, weights_path)
                state["best_f32"] = [w.numpy() for w in self.model.weights]
                log.info("epoch %d: val_loss %.4f, saved", epoch + 1, val_loss)
            minutes = (time.perf_counter() - state["start"]) / 60
            if max_minutes is not None and minutes >= max_minutes:
                log.warning("time budget %.0f min reached (epoch %d)", max_minutes, epoch + 1)
                self.model.stop_training = True

    callbacks = [
        _Keeper(),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=2, min_lr=1e-5),
    ]
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    t1 = time.perf_counter()
    model.fit(
        ds_train,
        validation_data=(x_val, y_val),
        epochs=epochs,
        class_weight=class_weight,
        callbacks=callbacks,
        shuffle=False,  # the dataset reshuffles itself every epoch
        verbose=verbose,
    )
    fit_s = time.perf_counter() - t1
    if "best_f32" not in state:
        save_weights_f16(model, weights_path)
        state["best_f32"] = [w.numpy() for w in model.weights]
    # float16 storage error: the best epoch's float32 weights against the float16 file.
    for var, value in zip(model.weights, state["best_f32"], strict=True):
        var.assign(value)
    if save_float32:
        save_weights_f16(model, save_float32, float32_prefixes=EVERY_LAYER)
    probs32 = model.predict(x_val, batch_size=32, verbose=0)
    load_weights_f16(model, weights_path)
    probs16 = model.predict(x_val, batch_size=32, verbose=0)
    f16_diff = float(np.abs(probs16 - probs32).max())
    # Validation metrics of the saved float16 weights, at case level like inference.
    probs = _predict_cases(model, val_cases)
    y_case = [CLASSES.index(c.label) for c in val_cases]
    metrics = case_metrics(y_case, list(np.argmax(probs, axis=1)), len(CLASSES))

    card.weights_sha256 = sha256_file(weights_path)
    card.float16_max_abs_prob_diff = f16_diff
    card.metrics = {"validation": metrics}
    card.training_data = training_data or (
        f"{len(cases)} cases from {Path(data_dir).name} ({len(train_cases)} training, "
        f"{len(val_cases)} validation)"
    )
    if demo:
        card.intended_use = DEMO_NOTICE
    card.training = {
        "cases": len(cases),
        "training_cases": len(train_cases),
        "validation_cases": len(val_cases),
        "training_samples": int(len(x_train)),
        "epochs_run": len(history.get("loss", [])),
        "best_epoch": state["best_epoch"],
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "optimizer": f"Adam, ReduceLROnPlateau(0.3, 2), EarlyStopping(val_loss, {patience})",
        "class_weight": {CLASSES[k]: round(v, 3) for k, v in class_weight.items()},
        "augmentation": "left-right flip p=0.5, rotation up to ±10°, per-channel scale 0.9–1.1",
        "batchnorm_momentum": DEFAULTS["bn_momentum"],
        "imagenet_init": bool(imagenet_weights),
        "initialised_from": str(init_from) if init_from else None,
        "batchnorm_frozen": freeze_batchnorm,
        "seed": seed,
        "extract_seconds": round(extract_s, 1),
        "fit_seconds": round(fit_s, 1),
        "history": {k: [round(v, 4) for v in vals] for k, vals in history.items()},
    }
    card.save(out)
    return card


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the training command (shared with ``flask train``)."""
    p = argparse.ArgumentParser(
        prog="python -m app.pipeline.training.train",
        description="Train the ResNet50 A/O/G classifier on a CPM-RadPath-style folder.",
    )
    p.add_argument("--data", required=True, type=Path, help="folder of cases (NIfTI files)")
    p.add_argument("--labels", required=True, type=Path, help="labels CSV (CPM-RadPath columns)")
    p.add_argument("--out", required=True, type=Path, help="output model folder (models/NAME)")
    p.add_argument("--name", help="model name for the card (default: the folder name)")
    p.add_argument("--version", default="1.0")
    p.add_argument("--layout", default=DEFAULTS["layout"], choices=sorted(LAYOUT_RATIONALES))
    p.add_argument("--image-size", type=int, default=DEFAULTS["image_size"])
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    p.add_argument("--learning-rate", type=float, default=DEFAULTS["learning_rate"])
    p.add_argument("--val-fraction", type=float, default=DEFAULTS["val_fraction"])
    p.add_argument("--patience", type=int, default=DEFAULTS["patience"])
    p.add_argument("--dropout", type=float, default=DEFAULTS["dropout"])
    p.add_argument("--uncertainty-k", type=int, default=DEFAULTS["uncertainty_k"])
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    p.add_argument("--workers", type=int, default=DEFAULTS["workers"])
    p.add_argument("--max-minutes", type=float, help="stop fitting after this many minutes")
    p.add_argument("--imagenet-weights", type=Path, help="local ResNet50 no-top weights file")
    p.add_argument("--init-from", type=Path, help="start from this model folder's weights")
    p.add_argument("--save-float32", type=Path, help="also save float32 weights here (.npz)")
    p.add_argument("--freeze-batchnorm", action="store_true", help="keep batch-norm statistics")
    p.add_argument("--training-data", help="description of the training data for the card")
    p.add_argument("--demo", action="store_true", help="mark the model as a demonstration model")
    return p


def run_from_args(args: argparse.Namespace) -> ModelCard:
    """Run :func:`train` with parsed arguments; return the card."""
    return train(
        args.data, args.labels, args.out, name=args.name, version=args.version,
        layout=args.layout, image_size=args.image_size, epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=args.learning_rate,
        val_fraction=args.val_fraction, patience=args.patience, dropout=args.dropout,
        uncertainty_k=args.uncertainty_k, seed=args.seed, workers=args.workers,
        max_minutes=args.max_minutes, imagenet_weights=args.imagenet_weights,
        init_from=args.init_from, save_float32=args.save_float32,
        freeze_batchnorm=args.freeze_batchnorm,
        training_data=args.training_data, demo=args.demo,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry: train and print the validation metrics; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    card = run_from_args(args)
    val = card.metrics.get("validation", {})
    sys.stdout.write(
        f"wrote {args.out} — validation balanced accuracy {val.get('balanced_accuracy', 0):.3f}, "
        f"F1-micro {val.get('f1_micro', 0):.3f}, kappa {val.get('kappa', 0):.3f}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
