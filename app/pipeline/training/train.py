"""Train the ResNet50 classifier on a labelled CPM-RadPath-style folder; write weights + card.

``flask model train --data DIR --labels CSV --out models/NAME`` builds a :class:`TrainConfig` and
calls :func:`train`. Steps: find the labelled cases; extract each case's input slab (max-tumour
slice ±k, exactly as inference builds it) once, in worker processes, into memory; split by case
(stratified) into training and validation; train with class weights, anatomy-respecting
augmentation (left-right flips, rotations up to ±10°, per-channel intensity scaling ±10%), early
stopping on the validation loss and an optional time budget; save float16 weights and a card
with the validation metrics and the measured float16 error. TensorFlow is imported inside
:func:`train` only (after the input workers are done).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.pipeline.classes import CLASSES
from app.pipeline.models.card import DEMO_NOTICE, ModelCard, layout_rationale, sha256_file
from app.pipeline.training.dataset import ExtractedCase, extract_cases, labelled_cases
from app.pipeline.training.metrics import case_metrics

log = logging.getLogger(__name__)

BN_MOMENTUM = 0.9
"""Batch-norm momentum while training (faster-settling running statistics than Keras' 0.99)."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs: data, output folder, model shape and fitting options.

    ``max_minutes`` stops fitting after that many minutes; ``init_from`` starts from an existing
    model folder's weights (same layout and image size); ``save_float32`` also writes the best
    epoch's float32 weights there (for analysis; not part of the model folder);
    ``freeze_batchnorm`` keeps batch-norm statistics (fine-tuning); ``verbose`` is Keras'
    verbosity (None: a progress bar on a terminal, one line per epoch otherwise).
    """

    data_dir: Path
    labels_csv: Path
    out_dir: Path
    name: str | None = None
    version: str = "1.0"
    layout: str = "channels4"
    image_size: int = 96
    epochs: int = 12
    batch_size: int = 16
    learning_rate: float = 1e-3
    val_fraction: float = 0.15
    patience: int = 3
    dropout: float = 0.3
    uncertainty_k: int = 2
    seed: int = 0
    workers: int = 2
    max_minutes: float | None = None
    imagenet_weights: Path | None = None
    init_from: Path | None = None
    save_float32: Path | None = None
    freeze_batchnorm: bool = False
    training_data: str | None = None
    demo: bool = False
    slice_method: str = "robust"
    verbose: int | None = None


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


def train(config: TrainConfig) -> ModelCard:
    """Train a model and write ``config.out_dir``/card.json + float16 weights; return the card.

    The best epoch (lowest validation loss) is kept and saved as soon as it is reached, so an
    interrupted run still leaves a usable model. Raises ValueError when the data have too few
    cases per class or ``init_from`` does not fit, CardError for an invalid card setting, and
    FileNotFoundError for a missing folder / CSV.
    """
    from tqdm import tqdm

    out = Path(config.out_dir)
    card = ModelCard(
        task="subtype",
        name=config.name or out.name,
        version=config.version,
        layout=config.layout,
        image_size=config.image_size,
        channels=4 if config.layout == "channels4" else 3,
        dropout=config.dropout,
        uncertainty_k=config.uncertainty_k,
        slice_method=config.slice_method,
        demo=config.demo,
        layout_rationale=layout_rationale(config.layout, config.image_size),
    )
    if config.layout == "seed-strip":
        card.normalisation = {s: {"method": "minmax"} for s in card.sequences}
    items = labelled_cases(config.data_dir, config.labels_csv)
    log.info("extracting inputs of %d cases with %d workers", len(items), config.workers)
    t0 = time.perf_counter()
    with tqdm(total=len(items), unit="case", desc="inputs", file=sys.stderr) as bar:
        cases = list(
            extract_cases(
                items, card, workers=config.workers, progress=lambda d, t: bar.update(d - bar.n)
            )
        )
    extract_s = time.perf_counter() - t0
    labels = np.array([CLASSES.index(c.label) for c in cases])
    train_idx, val_idx = split_cases(labels, config.val_fraction, config.seed)
    train_cases = [cases[i] for i in train_idx]
    val_cases = [cases[i] for i in val_idx]
    x_train, y_train = _stack(train_cases)
    x_val, y_val = _stack(val_cases)
    log.info(
        "%d training samples (%d cases), %d validation samples (%d cases)",
        len(x_train),
        len(train_cases),
        len(x_val),
        len(val_cases),
    )

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

    keras.utils.set_random_seed(config.seed)
    present = np.unique(y_train)
    weights = compute_class_weight("balanced", classes=present, y=y_train)
    class_weight = {int(c): float(w) for c, w in zip(present, weights, strict=True)}

    model = build_model(
        config.layout, config.image_size, config.dropout, imagenet_weights=config.imagenet_weights
    )
    if config.init_from:
        base = ModelCard.load(config.init_from)
        if (base.layout, base.image_size, base.architecture) != (
            config.layout,
            config.image_size,
            "resnet50",
        ):
            raise ValueError(
                f"{config.init_from} is {base.layout} at {base.image_size}px; cannot start "
                f"a {config.layout} model at {config.image_size}px from it"
            )
        load_weights_f16(model, base.weights_path(config.init_from))
    for layer in model.layers:  # faster-settling running statistics when training from scratch
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = BN_MOMENTUM
            if (
                config.freeze_batchnorm
            ):  # fine-tuning: keep the statistics (inference mode in Keras 3)
                layer.trainable = False
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    augment = _augmenter(tf, keras, config.seed)
    ds_train = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train))
        .shuffle(len(x_train), seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size)
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
            if config.max_minutes is not None and minutes >= config.max_minutes:
                log.warning(
                    "time budget %.0f min reached (epoch %d)", config.max_minutes, epoch + 1
                )
                self.model.stop_training = True

    callbacks = [
        _Keeper(),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=2, min_lr=1e-5),
    ]
    verbose = config.verbose
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    t1 = time.perf_counter()
    model.fit(
        ds_train,
        validation_data=(x_val, y_val),
        epochs=config.epochs,
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
    if config.save_float32:
        save_weights_f16(model, config.save_float32, float32_prefixes=EVERY_LAYER)
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
    card.training_data = config.training_data or (
        f"{len(cases)} cases from {Path(config.data_dir).name} ({len(train_cases)} training, "
        f"{len(val_cases)} validation)"
    )
    if config.demo:
        card.intended_use = DEMO_NOTICE
    card.training = {
        "cases": len(cases),
        "training_cases": len(train_cases),
        "validation_cases": len(val_cases),
        "training_samples": int(len(x_train)),
        "epochs_run": len(history.get("loss", [])),
        "best_epoch": state["best_epoch"],
        "batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "optimizer": f"Adam, ReduceLROnPlateau(0.3, 2), EarlyStopping(val_loss, {config.patience})",
        "class_weight": {CLASSES[k]: round(v, 3) for k, v in class_weight.items()},
        "augmentation": "left-right flip p=0.5, rotation up to ±10°, per-channel scale 0.9–1.1",
        "batchnorm_momentum": BN_MOMENTUM,
        "imagenet_init": bool(config.imagenet_weights),
        "initialised_from": str(config.init_from) if config.init_from else None,
        "batchnorm_frozen": config.freeze_batchnorm,
        "seed": config.seed,
        "extract_seconds": round(extract_s, 1),
        "fit_seconds": round(fit_s, 1),
        "history": {k: [round(v, 4) for v in vals] for k, vals in history.items()},
    }
    card.save(out)
    return card
