"""The ResNet50 A/O/G classifier: model building, float16 weight files, inference with uncertainty.

A :class:`Classifier` is loaded once per process from a model directory (card.json + weights).
``classify(case, slice_result)`` classifies the max-tumour slice and its ±k neighbours (k from the
card) in one batch and reports the mean probabilities, their spread and agreement, and whether the
answer should be shown as low-confidence. This module imports TensorFlow; the web process never
imports it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from app.pipeline.classes import CLASSES
from app.pipeline.lesion.slice_finder import SliceResult
from app.pipeline.models import tf_runtime
from app.pipeline.models.card import CardError, ModelCard
from app.pipeline.models.inputs import PreparedInput, prepare_case
from app.pipeline.models.prediction import SubtypeResult, softmax

tf = tf_runtime.configure()
import keras  # noqa: E402  (after TF is configured)

log = logging.getLogger(__name__)

LOGITS_LAYER = "logits"
PROBS_LAYER = "probabilities"


# --------------------------------------------------------------------------- model + weights


def build_model(
    layout: str = "channels4",
    image_size: int = 128,
    dropout: float = 0.3,
    *,
    channels: int | None = None,
    n_classes: int = len(CLASSES),
    imagenet_weights: str | os.PathLike | None = None,
) -> keras.Model:
    """Return an uncompiled ResNet50 (weights=None) + global average pooling + Dropout + softmax.

    Input shape (S, S, C) with C = 4 for "channels4", 3 for "seed-strip" (or ``channels``). The
    Dense layer is named "logits" and followed by a softmax layer "probabilities" so Grad-CAM can
    use the pre-softmax score. ``imagenet_weights`` optionally loads a local Keras ResNet50
    no-top weights file (the first convolution is averaged over RGB and spread over C channels).
    ValueError for an unknown layout.
    """
    if channels is None:
        channels = {"channels4": 4, "seed-strip": 3}.get(layout)
        if channels is None:
            raise ValueError(f"unknown layout {layout!r}")
    inputs = keras.Input((image_size, image_size, channels), name="image")
    base = keras.applications.ResNet50(
        include_top=False, weights=None, input_tensor=inputs, pooling="avg"
    )
    x = keras.layers.Dropout(dropout, name="dropout")(base.output)
    logits = keras.layers.Dense(n_classes, name=LOGITS_LAYER)(x)
    probs = keras.layers.Activation("softmax", name=PROBS_LAYER, dtype="float32")(logits)
    model = keras.Model(inputs, probs, name="gliomalens_resnet50")
    if imagenet_weights:
        _load_imagenet(model, Path(imagenet_weights), image_size)
    return model


def _load_imagenet(model: keras.Model, path: Path, image_size: int) -> None:
    """Copy a local ImageNet ResNet50 (no top) weights file into ``model``'s backbone."""
    if not path.is_file():
        raise FileNotFoundError(f"ImageNet weights file {path} not found")
    ref = keras.applications.ResNet50(
        include_top=False, weights=str(path), input_shape=(image_size, image_size, 3)
    )
    for layer in ref.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        target = model.get_layer(layer.name)
        if layer.name == "conv1_conv":
            kernel, bias = weights
            c = target.get_weights()[0].shape[2]
            mean = kernel.mean(axis=2, keepdims=True) * (3.0 / c)
            weights = [np.repeat(mean, c, axis=2), bias]
        target.set_weights(weights)


FLOAT32_PREFIXES: tuple[str, ...] = ("conv1_", "conv2_", "conv3_")
"""Kernels kept in float32: ResNet50's stem and first two stages (measured most sensitive)."""

EVERY_LAYER: tuple[str, ...] = ("",)
"""``float32_prefixes`` that keeps every array float32 (a full-precision file, same format)."""


def save_weights_f16(
    model: keras.Model,
    path: str | os.PathLike,
    float32_prefixes: tuple[str, ...] = FLOAT32_PREFIXES,
) -> Path:
    """Write the model's weights (zlib-compressed .npz, ``model.weights`` order); return the path.

    Mostly float16: the kernels of ResNet50's conv4_x, conv5_x and the dense layer (93% of the
    parameters). Kept float32: one-dimensional arrays (biases, batch-norm statistics; 0.2 MB) and
    the kernels whose names start with ``float32_prefixes`` (stem, conv2_x, conv3_x: 1.4 M
    parameters). On demo model 1.0, rounding those moved class probabilities by up to 1.3e-3,
    3.1e-3 and 0.6e-3 respectively, rounding conv4_x / conv5_x / dense by under 2e-4. The file
    stays under 50 MB. Names and shapes are stored too, so loading can refuse a mismatched
    architecture. Written to a temp file and renamed: a crash never leaves a half-written file.
    """
    path = Path(path)
    arrays = {}
    for i, w in enumerate(model.weights):
        keep = len(w.shape) < 2 or w.path.startswith(tuple(float32_prefixes))
        arrays[f"w{i:04d}"] = np.asarray(w).astype(np.float32 if keep else np.float16)
    names = np.array([w.path for w in model.weights])
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, _names=names, **arrays)
    os.replace(tmp, path)
    return path


def load_weights_f16(model: keras.Model, path: str | os.PathLike) -> None:
    """Load a file written by :func:`save_weights_f16` into ``model`` (as float32); returns None.

    CardError when the number of weights or any shape differs from the model.
    """
    with np.load(path, allow_pickle=False) as npz:
        keys = sorted(k for k in npz.files if k.startswith("w"))
        if len(keys) != len(model.weights):
            n_model = len(model.weights)
            raise CardError(f"{path}: {len(keys)} weight arrays, the model has {n_model}")
        values = []
        for key, var in zip(keys, model.weights, strict=True):
            arr = npz[key]
            if tuple(arr.shape) != tuple(var.shape):
                raise CardError(f"{path}: {key} has shape {arr.shape}, the model wants {var.shape}")
            values.append(arr.astype(np.float32))
    for var, value in zip(model.weights, values, strict=True):
        var.assign(value)


def model_from_card(card: ModelCard, model_dir: str | os.PathLike) -> keras.Model:
    """Return the float32 Keras model described by ``card`` with its weights loaded.

    CardError when the weights are missing, do not match the card's sha256 or the architecture.
    """
    model_dir = Path(model_dir)
    card.verify_weights(model_dir)
    if card.architecture == "resnet50":
        model = build_model(
            card.layout, card.image_size, card.dropout, channels=card.channels,
            n_classes=len(card.classes),
        )
    else:
        json_path = model_dir / str(card.model_json)
        if not json_path.is_file():
            raise CardError(f"model JSON {json_path} named by the card is missing")
        model = keras.models.model_from_json(json_path.read_text(encoding="utf-8"))
    load_weights_f16(model, card.weights_path(model_dir))
    return model


# --------------------------------------------------------------------------- inference


class Classifier:
    """A loaded model + card: ``classify`` cases, ``gradcam`` maps, ``warm_up`` once at start.

    Attributes: ``card`` (ModelCard), ``model_dir``, ``model`` (keras.Model), ``device`` (where TF
    computes, for the worker's log).
    """

    def __init__(
        self, model: keras.Model, card: ModelCard, model_dir: str | os.PathLike = ""
    ) -> None:
        self.model = model
        self.card = card
        self.model_dir = Path(model_dir)
        self.device = tf_runtime.describe_device()
        self.batch_size = card.n_slices
        shape = (self.batch_size, *card.input_shape)
        spec = tf.TensorSpec(shape, tf.float32)
        self.has_logits = LOGITS_LAYER in {layer.name for layer in model.layers}
        scores = keras.Model(model.inputs, model.get_layer(LOGITS_LAYER).output) \
            if self.has_logits else model
        self._scores_fn = tf.function(
            lambda x: scores(x, training=False), input_signature=[spec], reduce_retracing=True
        )
        self._gradcam_model = _gradcam_model(model, card.gradcam_layer)
        self._gradcam_fn = tf.function(
            self._gradcam_graph, input_signature=[spec, tf.TensorSpec((), tf.int32)]
        )

    # ------------------------------------------------------------------ construction
    @classmethod
    def load(cls, model_dir: str | os.PathLike) -> Classifier:
        """Return a Classifier for the card + weights in ``model_dir`` (checks the sha256).

        CardError when the card or weights are missing or inconsistent.
        """
        card = ModelCard.load(model_dir)
        model = model_from_card(card, model_dir)
        log.info("loaded model %s %s from %s", card.name, card.version, model_dir)
        return cls(model, card, model_dir)

    def warm_up(self) -> None:
        """Run one prediction and one Grad-CAM on zeros so the first real case pays no tracing."""
        x = np.zeros((self.batch_size, *self.card.input_shape), dtype=np.float32)
        self.predict(x)
        self.gradcam(x, 0)

    # ------------------------------------------------------------------ raw model calls
    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Return calibrated probabilities (N, K) for a batch (N, S, S, C) of any length N.

        softmax(logits / T) with the card's temperature T (1 for an uncalibrated card; a model
        without a "logits" layer gives its own output). The compiled function has a fixed batch
        shape (2k + 1); other lengths are padded / chunked.
        """
        return softmax(self.logits(batch), self.card.temperature).astype(np.float32)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Return the pre-softmax scores (N, K) of a batch (what calibration is fitted on).

        The "logits" layer's output; for a model without one (an imported model) the log of its
        probabilities, which the softmax maps back to the same probabilities.
        """
        scores = self._chunked(batch, lambda x: self._scores_fn(x).numpy())
        if self.has_logits:
            return scores
        return np.log(np.clip(scores, 1e-12, None))

    def gradcam(self, batch: np.ndarray, class_index: int) -> np.ndarray:
        """Return Grad-CAM maps (N, S, S) in [0, 1] for ``class_index`` on model-input pixels."""
        idx = tf.constant(int(class_index), tf.int32)
        return self._chunked(batch, lambda x: self._gradcam_fn(x, idx).numpy())

    def _chunked(self, batch: np.ndarray, fn: Any) -> np.ndarray:
        batch = np.asarray(batch, dtype=np.float32)
        n, b = len(batch), self.batch_size
        outs = []
        for start in range(0, n, b):
            part = batch[start : start + b]
            real = len(part)
            if real < b:
                part = np.concatenate([part, np.repeat(part[-1:], b - real, axis=0)])
            outs.append(fn(tf.constant(part))[:real])
        return np.concatenate(outs) if outs else np.zeros((0,))

    def _gradcam_graph(self, x: Any, class_index: Any) -> Any:
        with tf.GradientTape() as tape:
            conv, score = self._gradcam_model(x, training=False)
            target = tf.gather(score, class_index, axis=1)
        grads = tape.gradient(target, conv)
        weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(conv * weights, axis=-1))[..., None]
        size = self.card.image_size
        cam = tf.image.resize(cam, (size, size), method="bilinear")[..., 0]
        peak = tf.reduce_max(cam, axis=(1, 2), keepdims=True)
        return tf.math.divide_no_nan(cam, peak)

    # ------------------------------------------------------------------ per case
    def classify_prepared(
        self, prepared: PreparedInput, *, no_lesion_found: bool
    ) -> SubtypeResult:
        """Return the SubtypeResult of a prepared input (from ``inputs.prepare_case``).

        ``no_lesion_found`` (from the slice finder) marks the result low-confidence with a
        message not to rely on it; the class is still computed.
        """
        return self.result_from_probabilities(
            self.predict(prepared.batch), prepared, no_lesion_found=no_lesion_found
        )

    def result_from_probabilities(
        self, probs: np.ndarray, prepared: PreparedInput, *, no_lesion_found: bool
    ) -> SubtypeResult:
        """Return the SubtypeResult of per-slice probabilities (N, K) of ``prepared``.

        Uses the card's classes and ``low_confidence`` thresholds. ValueError for mis-shaped
        probabilities.
        """
        return SubtypeResult.from_probabilities(
            probs, self.card.classes, prepared.indices, prepared.centre,
            no_lesion_found=no_lesion_found, low_confidence_limits=self.card.low_confidence,
        )

    def classify(self, case: Any, slice_result: SliceResult) -> SubtypeResult:
        """Classify a LoadedCase at ``slice_result.index`` (±k neighbours); return the result.

        Raises InvalidInputError for unusable sequence data.
        """
        prepared = prepare_case(case, self.card, slice_result.index)
        return self.classify_prepared(prepared, no_lesion_found=slice_result.no_lesion_found)


def _gradcam_model(model: keras.Model, layer_name: str) -> keras.Model:
    """Return a model mapping inputs to (last conv feature map, class score before softmax)."""
    try:
        conv = model.get_layer(layer_name).output
    except ValueError:
        conv = _last_conv_output(model)
    try:
        score = model.get_layer(LOGITS_LAYER).output
    except ValueError:
        score = model.output
    return keras.Model(model.inputs, [conv, score])


def _last_conv_output(model: keras.Model) -> Any:
    """Return the output of the last layer with a 4D output (for imported models)."""
    for layer in reversed(model.layers):
        shape = getattr(layer, "output", None)
        if shape is not None and len(getattr(shape, "shape", ())) == 4:
            return layer.output
    raise CardError("the model has no convolutional feature map for Grad-CAM")
