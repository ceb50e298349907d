"""Which file is which sequence: a small CNN that tells FLAIR, T1, T1ce and T2 apart by content.

One volume is read as a few axial slices spread over the brain (fractions of the brain's axial
extent, from the card), cropped to the brain's bounding square, resized and normalised by robust
percentiles within the brain; the slices are the channels of one image. The CNN answers with
Monte-Carlo dropout (several stochastic passes through the dropout + dense head: mean and spread)
and can show a Grad-CAM for the predicted sequence.

The four uploaded volumes are decided together (:func:`decide_assignment`): the most likely
assignment of volumes to sequences (Hungarian algorithm on log-probabilities), whether it differs
from the slots the user chose and the model is confident, and whether T1 and T1ce can be told apart
at all (no visible enhancement: say so instead of guessing).

Every preprocessing setting comes from the model's card (:class:`SequenceCard`). Importing this
module does not import TensorFlow; :class:`SequenceModel` does when it is built.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator
from scipy.optimize import linear_sum_assignment

from app.pipeline.io.naming import SEQUENCE_LABELS, SEQUENCES
from app.pipeline.models.card import BaseCard

log = logging.getLogger(__name__)

TASK = "sequence"
FEATURES_LAYER = "features"
POOL_LAYER = "pool"
LOGITS_LAYER = "logits"
DEMO_NOTICE = (
    "Trained on synthetic phantoms only (synthetic.phantoms on the MNI152 template), for "
    "demonstration; not for clinical use."
)


# --------------------------------------------------------------------------- the card


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputSpec(_Strict):
    """How one volume becomes the model's input image (S, S, len(slice_fractions))."""

    image_size: int = Field(64, ge=16, le=256)
    slice_fractions: list[float] = Field(
        default_factory=lambda: [0.3, 0.45, 0.55, 0.65, 0.8], min_length=1
    )
    mask: Literal["nonzero"] = "nonzero"
    crop: Literal["brain-square"] = "brain-square"
    crop_margin: float = Field(0.04, ge=0, le=0.5)
    normalisation: Literal["percentile"] = "percentile"
    percentiles: tuple[float, float] = (1.0, 99.0)
    clip: tuple[float, float] = (-0.25, 1.5)
    orientation: str = "canonical RAS+ (X, Y, Z), axial slices along Z"

    @field_validator("slice_fractions")
    @classmethod
    def _fractions_in_range(cls, value: list[float]) -> list[float]:
        if any(not 0.0 <= f <= 1.0 for f in value):
            raise ValueError("slice fractions must lie in [0, 1]")
        return value

    @property
    def shape(self) -> tuple[int, int, int]:
        """Return the model input shape (S, S, n_slices)."""
        return (self.image_size, self.image_size, len(self.slice_fractions))


class Architecture(_Strict):
    """The CNN built by :func:`build_model`."""

    name: Literal["sequence-cnn"] = "sequence-cnn"
    filters: list[int] = Field(default_factory=lambda: [16, 32, 64, 128], min_length=2)
    dropout: float = Field(0.3, gt=0, lt=1)


class McDropout(_Strict):
    """Monte-Carlo dropout: ``passes`` stochastic passes of the head, masks seeded by ``seed``."""

    passes: int = Field(20, ge=2, le=200)
    seed: int = 0


class Thresholds(_Strict):
    """Decision thresholds, chosen on validation data (see the card's ``training.thresholds``)."""

    confident: float = Field(0.9, gt=0, lt=1)
    t1_t1ce_pair: float = Field(0.9, gt=0.5, lt=1)


class SequenceCard(BaseCard):
    """The sequence model's card: classes, input layout, normalisation, training data, metrics."""

    KIND: ClassVar[str] = "sequence-model"

    task: Literal["sequence"] = TASK
    changelog: dict[str, str] = Field(default_factory=dict)
    classes: list[str] = Field(default_factory=lambda: list(SEQUENCES))
    input: InputSpec = Field(default_factory=InputSpec)
    architecture: Architecture = Field(default_factory=Architecture)
    gradcam_layer: str = FEATURES_LAYER
    mc_dropout: McDropout = Field(default_factory=McDropout)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    weights_format: str = "npz written by classifier.save_weights_f16 (every array float32)"
    intended_use: str = DEMO_NOTICE
    library_versions: dict[str, str] = Field(default_factory=dict)

    @field_validator("classes")
    @classmethod
    def _classes_are_sequences(cls, value: list[str]) -> list[str]:
        if sorted(value) != sorted(SEQUENCES) or len(value) != len(SEQUENCES):
            raise ValueError(f"classes must be the four sequences {list(SEQUENCES)}, got {value}")
        return value


# --------------------------------------------------------------------------- preprocessing


def slice_indices(volume: np.ndarray, spec: InputSpec) -> list[int]:
    """Return the axial indices at ``spec.slice_fractions`` of the brain's axial extent.

    The brain is the nonzero voxels (skull-stripped, BraTS-style). ValueError for a volume that is
    not 3-D or has no nonzero voxel.
    """
    if volume.ndim != 3:
        raise ValueError(f"expected a 3-D volume, got shape {volume.shape}")
    # A coarse in-plane grid is enough to find the extent; scanning inwards from both ends
    # touches only the empty slices outside the brain plus one.
    coarse = volume[::2, ::2, :]
    nz = volume.shape[2]
    lo = next((z for z in range(nz) if coarse[:, :, z].any()), None)
    if lo is None:
        raise ValueError("the volume is empty (no nonzero voxel)")
    hi = next(z for z in range(nz - 1, lo - 1, -1) if coarse[:, :, z].any())
    return [int(round(lo + f * (hi - lo))) for f in spec.slice_fractions]


def take_slices(volume: np.ndarray, indices: Sequence[int]) -> np.ndarray:
    """Return the axial slices ``indices`` of ``volume`` as float32 (X, Y, n)."""
    return np.stack([np.asarray(volume[:, :, i], dtype=np.float32) for i in indices], axis=-1)


def _square_box(mask2d: np.ndarray, margin: float) -> tuple[int, int, int]:
    """Return (x0, y0, side) of the brain's bounding square (may extend past the image)."""
    xs = np.flatnonzero(mask2d.any(axis=1))
    ys = np.flatnonzero(mask2d.any(axis=0))
    if xs.size == 0:
        raise ValueError("the selected slices hold no brain (every voxel is zero)")
    side = max(xs[-1] - xs[0] + 1, ys[-1] - ys[0] + 1)
    side = int(math.ceil(side * (1 + 2 * margin))) + 1
    cx, cy = (xs[0] + xs[-1]) / 2, (ys[0] + ys[-1]) / 2
    return int(round(cx - side / 2)), int(round(cy - side / 2)), side


def _crop(slices: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    """Return the (side, side, n) window at (x0, y0), zero-padded where it leaves the image."""
    out = np.zeros((side, side, slices.shape[2]), dtype=np.float32)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + side, slices.shape[0]), min(y0 + side, slices.shape[1])
    out[sx0 - x0 : sx1 - x0, sy0 - y0 : sy1 - y0] = slices[sx0:sx1, sy0:sy1]
    return out


@functools.lru_cache(maxsize=64)
def _resize_matrix(n_in: int, size: int) -> np.ndarray:
    """Return the (size, n_in) matrix of :func:`_resize` along one axis.

    Block mean over ``n_in // size`` pixels (when at least 2; trailing pixels dropped), then linear
    interpolation with pixel edges aligned (scipy.ndimage.zoom, order 1, grid_mode, "nearest").
    """
    factor = n_in // size
    if factor >= 2:
        n_mid = n_in // factor
        block = np.zeros((n_mid, n_in), dtype=np.float64)
        for i in range(n_mid):
            block[i, i * factor : (i + 1) * factor] = 1.0 / factor
    else:
        n_mid = n_in
        block = np.eye(n_in)
    centre = (np.arange(size) + 0.5) * (n_mid / size) - 0.5
    left = np.floor(centre)
    weight = centre - left
    zoom = np.zeros((size, n_mid), dtype=np.float64)
    rows = np.arange(size)
    np.add.at(zoom, (rows, np.clip(left, 0, n_mid - 1).astype(int)), 1 - weight)
    np.add.at(zoom, (rows, np.clip(left + 1, 0, n_mid - 1).astype(int)), weight)
    return (zoom @ block).astype(np.float32)


@functools.lru_cache(maxsize=64)
def _resize_taps(n_in: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (columns, weights), each (size, taps): the nonzero entries of each matrix row."""
    m = _resize_matrix(n_in, size)
    taps = int(max(1, (m != 0).sum(axis=1).max()))
    cols = np.zeros((size, taps), dtype=np.intp)
    weights = np.zeros((size, taps), dtype=np.float32)
    for i, row in enumerate(m):
        nz = np.flatnonzero(row)
        cols[i, : nz.size] = nz
        weights[i, : nz.size] = row[nz]
    return cols, weights


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    """Return ``image`` (s, s, n) resized to (size, size, n): block mean, then linear zoom.

    Both steps are separable and linear: one sparse matrix per axis, applied as a few weighted
    taps (no BLAS call, whose threads only get in the way at this size).
    """
    cols, w = _resize_taps(image.shape[0], size)
    rows = np.einsum("itxk,it->ixk", image[cols], w)  # (size, s, n)
    return np.einsum("ijtk,jt->ijk", rows[:, cols], w)


def preprocess_slices(slices: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Return the model input (S, S, n) float32 for raw axial slices (X, Y, n) of one volume.

    Crops to the brain's bounding square (+ margin), maps the within-brain percentiles
    ``spec.percentiles`` to 0 and 1 (one scale for all the slices; background 0), resizes to S x S
    and clips to ``spec.clip``. Normalising before resizing makes the input independent of the
    scanner's gain and offset, also at the brain's edge. ValueError when the slices hold no brain.
    """
    mask = slices != 0
    x0, y0, side = _square_box(mask.any(axis=2), spec.crop_margin)
    crop = _crop(slices, x0, y0, side)
    inside = _crop(mask.astype(np.float32), x0, y0, side) > 0
    values = crop[inside]
    if values.size < 64:
        raise ValueError("the selected slices hold too little brain to read the sequence")
    step = max(1, values.size // 40000)  # a regular subsample is enough for two percentiles
    lo, hi = np.percentile(values[::step], spec.percentiles)
    scale = float(hi - lo) if hi > lo else 1.0
    normalised = np.where(inside, (crop - np.float32(lo)) / np.float32(scale), 0).astype(np.float32)
    image = _resize(normalised, spec.image_size)
    brain = _resize(inside.astype(np.float32), spec.image_size) > 0.5
    out = np.clip(image, *spec.clip)
    out[~brain] = 0.0
    return out.astype(np.float32)


def preprocess_volume(volume: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Return the model input (S, S, n) float32 for one 3-D volume (see :func:`preprocess_slices`).

    ValueError for a volume that is not 3-D, empty, or holds too little brain.
    """
    return preprocess_slices(take_slices(volume, slice_indices(volume, spec)), spec)


# --------------------------------------------------------------------------- the network


def build_model(input_shape: tuple[int, int, int], architecture: Architecture | None = None) -> Any:
    """Return an uncompiled Keras CNN: conv blocks, global average pooling, dropout, softmax.

    Block i has ``filters[i]`` channels (one 3x3 convolution in the first and last block, two in
    the others) and is followed by 2x2 max pooling except the last, named "features" (the
    Grad-CAM layer). The head is GlobalAveragePooling ("pool"), Dropout, Dense ("logits") and a
    softmax ("probabilities"). No batch normalisation, so Monte-Carlo dropout touches only the
    dropout layer.
    """
    from app.pipeline.models import tf_runtime

    tf_runtime.configure()
    import keras

    arch = architecture or Architecture()
    inputs = keras.Input(input_shape, name="slices")
    x = inputs
    last = len(arch.filters) - 1
    for i, filters in enumerate(arch.filters):
        n_conv = 1 if i in (0, last) else 2
        for j in range(n_conv):
            name = FEATURES_LAYER if (i == last and j == n_conv - 1) else f"block{i}_conv{j}"
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=name)(x)
        if i != last:
            x = keras.layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name=POOL_LAYER)(x)
    x = keras.layers.Dropout(arch.dropout, name="dropout")(x)
    logits = keras.layers.Dense(len(SEQUENCES), name=LOGITS_LAYER)(x)
    probs = keras.layers.Activation("softmax", name="probabilities", dtype="float32")(logits)
    return keras.Model(inputs, probs, name="gliomalens_sequence_cnn")


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class McPrediction:
    """Monte-Carlo dropout output for a batch: mean and spread of the probabilities per class."""

    mean: np.ndarray  # (B, 4), rows sum to 1, class order = card.classes
    std: np.ndarray  # (B, 4), standard deviation over the passes
    classes: tuple[str, ...]


class SequenceModel:
    """Sequence CNN + card: ``predict`` (MC dropout), ``gradcam``, ``check`` (4 slots)."""

    def __init__(self, model: Any, card: SequenceCard, model_dir: str | os.PathLike = "") -> None:
        from app.pipeline.models import tf_runtime

        self.tf = tf_runtime.configure()
        import keras

        self.model = model
        self.card = card
        self.model_dir = Path(model_dir)
        self.classes = tuple(card.classes)
        self._order = np.array([self.classes.index(s) for s in SEQUENCES])
        self._features = keras.Model(model.inputs, model.get_layer(POOL_LAYER).output)
        dense = model.get_layer(LOGITS_LAYER)
        kernel, bias = (np.asarray(w, dtype=np.float32) for w in dense.get_weights())
        self._kernel, self._bias = kernel, bias
        spec = self.tf.TensorSpec((None, *card.input.shape), self.tf.float32)
        self._features_fn = self.tf.function(
            lambda x: self._features(x, training=False), input_signature=[spec]
        )
        self._gradcam_model = keras.Model(
            model.inputs,
            [model.get_layer(card.gradcam_layer).output, model.get_layer(LOGITS_LAYER).output],
        )
        self._gradcam_fn = self.tf.function(
            self._gradcam_graph, input_signature=[spec, self.tf.TensorSpec((None,), self.tf.int32)]
        )

    @classmethod
    def load(cls, model_dir: str | os.PathLike) -> SequenceModel:
        """Return the model in ``model_dir`` (card.json + weights; the sha256 is checked).

        CardError when the card or the weights are missing or do not match.
        """
        from app.pipeline.models.subtype import load_weights_f16

        card = SequenceCard.load(model_dir)
        card.verify_weights(model_dir)
        model = build_model(card.input.shape, card.architecture)
        load_weights_f16(model, card.weights_path(model_dir))
        log.info("loaded sequence model %s %s from %s", card.name, card.version, model_dir)
        return cls(model, card, model_dir)

    def warm_up(self) -> None:
        """Trace the feature and Grad-CAM functions once so the first case pays no tracing."""
        x = np.zeros((len(SEQUENCES), *self.card.input.shape), dtype=np.float32)
        self.predict(x)
        self.gradcam(x, [0] * len(x))

    # ------------------------------------------------------------------ model calls
    def predict(self, batch: np.ndarray, passes: int | None = None) -> McPrediction:
        """Return MC-dropout mean and spread (B, 4) for a batch of inputs (B, S, S, n).

        The convolutional trunk runs once; the dropout + dense head runs ``passes`` times (default
        from the card) with dropout masks from a generator seeded by the card, so one input always
        gets the same answer. With ``passes`` = 1 the head runs once without dropout.
        """
        feats = self._features_fn(self.tf.constant(np.asarray(batch, np.float32))).numpy()
        passes = self.card.mc_dropout.passes if passes is None else int(passes)
        if passes <= 1:
            probs = _softmax(feats @ self._kernel + self._bias)[None]
        else:
            rate = self.card.architecture.dropout
            rng = np.random.default_rng(self.card.mc_dropout.seed)
            keep = rng.random((passes, *feats.shape), dtype=np.float32) >= rate
            dropped = feats[None] * keep * np.float32(1 / (1 - rate))
            probs = _softmax(dropped @ self._kernel + self._bias)
        return McPrediction(probs.mean(axis=0), probs.std(axis=0), self.classes)

    def gradcam(self, batch: np.ndarray, class_indices: Sequence[int]) -> np.ndarray:
        """Return Grad-CAM maps (B, S, S) in [0, 1] for ``class_indices`` (one per input)."""
        x = self.tf.constant(np.asarray(batch, np.float32))
        idx = self.tf.constant(np.asarray(class_indices, np.int32))
        return self._gradcam_fn(x, idx).numpy()

    def _gradcam_graph(self, x: Any, class_indices: Any) -> Any:
        tf = self.tf
        with tf.GradientTape() as tape:
            conv, logits = self._gradcam_model(x, training=False)
            target = tf.gather(logits, class_indices, axis=1, batch_dims=1)
        grads = tape.gradient(target, conv)
        weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(conv * weights, axis=-1))[..., None]
        size = self.card.input.image_size
        cam = tf.image.resize(cam, (size, size), method="bilinear")[..., 0]
        peak = tf.reduce_max(cam, axis=(1, 2), keepdims=True)
        return tf.math.divide_no_nan(cam, peak)

    # ------------------------------------------------------------------ per case
    def prepare(self, volumes: Mapping[str, np.ndarray]) -> np.ndarray:
        """Return the model inputs (4, S, S, n) of the four volumes, in SEQUENCES slot order.

        ValueError when a slot is missing or a volume is unusable (the message names the slot).
        """
        missing = [s for s in SEQUENCES if s not in volumes]
        if missing:
            names = ", ".join(SEQUENCE_LABELS[s] for s in missing)
            raise ValueError(f"missing volumes for slots: {names}")
        batch = []
        for slot in SEQUENCES:
            try:
                batch.append(preprocess_volume(volumes[slot], self.card.input))
            except ValueError as exc:
                raise ValueError(f"the file in the {SEQUENCE_LABELS[slot]} slot: {exc}") from exc
        return np.stack(batch)

    def check(
        self, volumes: Mapping[str, np.ndarray], *, with_gradcam: bool = False
    ) -> SequenceCheck:
        """Return the four-slot decision for volumes keyed by the user's slot (decide_assignment).

        With ``with_gradcam`` the result carries a Grad-CAM (S, S) per slot for its detected
        sequence. ValueError when a slot is missing or a volume is unusable.
        """
        batch = self.prepare(volumes)
        pred = self.predict(batch)
        mean = pred.mean[:, self._order]
        std = pred.std[:, self._order]
        result = decide_assignment(
            {s: mean[i] for i, s in enumerate(SEQUENCES)},
            {s: std[i] for i, s in enumerate(SEQUENCES)},
            self.card.thresholds,
        )
        if with_gradcam:
            top = [self.classes.index(result.slots[s].detected) for s in SEQUENCES]
            cams = self.gradcam(batch, top)
            result.gradcam.update({s: cams[i] for i, s in enumerate(SEQUENCES)})
        return result


@functools.lru_cache(maxsize=2)
def get_sequence_model(model_dir: str) -> SequenceModel:
    """Return the process-wide SequenceModel for ``model_dir``, loaded and warmed up once."""
    model = SequenceModel.load(model_dir)
    model.warm_up()
    return model


# --------------------------------------------------------------------------- the four-slot decision


@dataclass(frozen=True)
class SlotCall:
    """What the model says about the file in one slot."""

    slot: str  # the user's slot (a sequence key)
    detected: str  # the sequence with the highest mean probability
    probability: float  # its mean probability over the MC-dropout passes
    spread: float  # its standard deviation over the passes
    probabilities: dict[str, float]  # mean probability per sequence
    assigned: str  # the sequence this file gets in the most likely joint assignment
    assigned_probability: float  # for a T1/T1ce pair that cannot be told apart: P(T1) + P(T1ce)


@dataclass
class SequenceCheck:
    """The decision for the four slots of one case.

    ``assignment`` maps each slot to the sequence its file most likely is (T1/T1ce kept as
    uploaded when they cannot be told apart). ``differs``: the assignment is not the user's;
    ``confident``: every moved file's probability reaches the card's threshold; ``needs_review``:
    both. ``t1_t1ce_ambiguous`` with ``t1_t1ce_message`` when T1 and T1ce cannot be told apart.
    """

    slots: dict[str, SlotCall]
    assignment: dict[str, str]
    differs: bool
    confident: bool
    needs_review: bool
    t1_t1ce_ambiguous: bool
    t1_t1ce_probability: float  # probability that the T1/T1ce pair is as assigned, not swapped
    message: str
    t1_t1ce_message: str | None
    gradcam: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (no Grad-CAM arrays) for the case summary."""
        return {
            "slots": {
                s: {
                    "detected": c.detected,
                    "probability": round(c.probability, 4),
                    "spread": round(c.spread, 4),
                    "probabilities": {k: round(v, 4) for k, v in c.probabilities.items()},
                    "assigned": c.assigned,
                    "assigned_probability": round(c.assigned_probability, 4),
                }
                for s, c in self.slots.items()
            },
            "assignment": dict(self.assignment),
            "differs": self.differs,
            "confident": self.confident,
            "needs_review": self.needs_review,
            "t1_t1ce_ambiguous": self.t1_t1ce_ambiguous,
            "t1_t1ce_probability": round(self.t1_t1ce_probability, 4),
            "message": self.message,
            "t1_t1ce_message": self.t1_t1ce_message,
        }


def _pair_probability(p: np.ndarray, a: int, b: int, t1: int, t1ce: int) -> float:
    """Return P(row a is T1 and row b is T1ce | the two rows are T1 and T1ce in some order)."""
    keep = math.log(p[a, t1]) + math.log(p[b, t1ce])
    swap = math.log(p[a, t1ce]) + math.log(p[b, t1])
    return 1.0 / (1.0 + math.exp(min(swap - keep, 700.0)))


def decide_assignment(
    probabilities: Mapping[str, Sequence[float]],
    spreads: Mapping[str, Sequence[float]] | None,
    thresholds: Thresholds,
) -> SequenceCheck:
    """Return the four-slot decision from per-slot mean probabilities (columns: SEQUENCES order).

    The most likely assignment of the four files to the four sequences maximises the sum of log
    probabilities (``scipy.optimize.linear_sum_assignment``). When the probability that the two
    files assigned to T1 and T1ce are that way round, rather than swapped, is below
    ``thresholds.t1_t1ce_pair``, the two cannot be told apart (no visible enhancement): their order
    is taken from the user's slots where possible, never guessed, and ``t1_t1ce_ambiguous`` is set.
    ``confident`` when every file the assignment moves has a probability of at least
    ``thresholds.confident`` for its new sequence. ValueError unless exactly the four slots are
    given, each with four probabilities.
    """
    if sorted(probabilities) != sorted(SEQUENCES):
        raise ValueError(f"expected probabilities for the slots {list(SEQUENCES)}")
    p = np.array([np.asarray(probabilities[s], dtype=np.float64) for s in SEQUENCES])
    if p.shape != (4, 4) or not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("each slot needs four finite, non-negative probabilities")
    p = np.clip(p / p.sum(axis=1, keepdims=True), 1e-9, 1.0)
    sd = np.zeros_like(p)
    if spreads is not None:
        sd = np.array([np.asarray(spreads[s], dtype=np.float64) for s in SEQUENCES])
    rows, cols = linear_sum_assignment(-np.log(p))
    col_of = dict(zip(rows.tolist(), cols.tolist(), strict=True))
    t1, t1ce = SEQUENCES.index("t1"), SEQUENCES.index("t1ce")
    row_of = {c: r for r, c in col_of.items()}
    a, b = row_of[t1], row_of[t1ce]
    pair = _pair_probability(p, a, b, t1, t1ce)
    ambiguous = pair < thresholds.t1_t1ce_pair
    if ambiguous:
        # Two orders are about equally likely: keep the one closer to the user's slots.
        swapped = (a == t1ce) + (b == t1)
        kept = (a == t1) + (b == t1ce)
        if swapped > kept:
            col_of[a], col_of[b] = t1ce, t1
    assignment = {SEQUENCES[r]: SEQUENCES[col_of[r]] for r in range(4)}
    row_of = {c: r for r, c in col_of.items()}
    pair = _pair_probability(p, row_of[t1], row_of[t1ce], t1, t1ce)
    moved = [r for r in range(4) if col_of[r] != r]
    # A file of the undecidable pair is surely "T1 or T1ce": that is what its move is judged on.
    sure = {r: p[r, col_of[r]] for r in range(4)}
    if ambiguous:
        sure.update({r: p[r, t1] + p[r, t1ce] for r in (a, b)})
    confident = all(sure[r] >= thresholds.confident for r in moved)
    slots = {}
    for r, slot in enumerate(SEQUENCES):
        top = int(np.argmax(p[r]))
        slots[slot] = SlotCall(
            slot=slot,
            detected=SEQUENCES[top],
            probability=float(p[r, top]),
            spread=float(sd[r, top]),
            probabilities={s: float(p[r, j]) for j, s in enumerate(SEQUENCES)},
            assigned=assignment[slot],
            assigned_probability=float(sure[r]),
        )
    differs = bool(moved)
    pair_msg = None
    if ambiguous:
        names = " and ".join(f"the {SEQUENCE_LABELS[SEQUENCES[r]]} slot" for r in sorted((a, b)))
        pair_msg = (
            "T1 and T1ce cannot be told apart (no visible contrast enhancement): the files in "
            f"{names} are kept in the order uploaded, not guessed. Check that a post-contrast "
            "T1 was uploaded."
        )
    pair_rows = (a, b) if ambiguous else ()
    return SequenceCheck(
        slots=slots,
        assignment=assignment,
        differs=differs,
        confident=bool(confident),
        needs_review=bool(differs and confident),
        t1_t1ce_ambiguous=bool(ambiguous),
        t1_t1ce_probability=float(pair),
        message=_message(slots, moved, confident, pair_rows),
        t1_t1ce_message=pair_msg,
    )


def _message(
    slots: dict[str, SlotCall], moved: list[int], confident: bool, pair_rows: Sequence[int]
) -> str:
    """Return the plain-language sentence about the slots (``pair_rows``: T1 or T1ce, unsure)."""
    if not moved:
        return "Each file looks like the sequence of its slot."
    parts = []
    for i, r in enumerate(moved):
        call = slots[SEQUENCES[r]]
        lead = "The file in the" if i == 0 else "the"
        looks = "T1 or T1ce" if r in pair_rows else SEQUENCE_LABELS[call.assigned]
        parts.append(
            f"{lead} {SEQUENCE_LABELS[call.slot]} slot looks like {looks} "
            f"(p = {call.assigned_probability:.2f})"
        )
    sentence = ", ".join(parts) + "."
    if confident:
        return sentence
    hedge = "The files may be in the wrong slots, but the model is not sure: "
    return hedge + sentence[0].lower() + sentence[1:]
