"""The tumour-type model: is it a glioma at all, and is the scan like the training data?

A small 3D convolutional network reads the whole brain, downsampled to a coarse grid, with the
four sequences as channels, and answers one of TUMOUR_TYPES (glioma, meningioma, pituitary,
metastasis, no_tumour). Its probabilities are temperature-scaled (calibrated on validation data)
and its penultimate features ("embedding") give a Mahalanobis out-of-distribution score against
class-conditional Gaussians with a shared covariance fitted on the training features (Lee et al.,
NeurIPS 2018), on the globally pooled convolutional features that feed the penultimate layer.
Every preprocessing setting, the temperature, the OOD statistics' file and both
thresholds come from the model card (``card.json`` beside the weights), nothing from code.

Importing this module does not import TensorFlow; building or loading a model does.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator
from scipy import ndimage

from app.pipeline.classes import TUMOUR_TYPE_NAMES, TUMOUR_TYPES
from app.pipeline.io.naming import SEQUENCES
from app.pipeline.models.card import DEMO_NOTICE, BaseCard, CardError, verify_file
from app.pipeline.models.inputs import normalise
from app.pipeline.models.prediction import softmax

log = logging.getLogger(__name__)

TASK = "tumour-type"
EMBEDDING_LAYER = "embedding"
FEATURES_LAYER = "ood_features"
"""The network output that feeds the OOD score: the pooled features that feed the penultimate
layer, then the spatial means of each earlier convolution block (one Mahalanobis block each)."""
LOGITS_LAYER = "logits"

INPUT_RATIONALE = (
    "The whole brain, not slices: the types differ in where the lesion lies relative to the brain "
    "(extra-axial on the dura, on the midline below the brain at the sella, at the grey-white "
    "junction, one lesion or several) as much as in its contrast, and a normal brain has no lesion "
    "slice to pick. The four sequences are four channels of one {vx:g} mm grid "
    "({sx}x{sy}x{sz} voxels, {mx:g}x{my:g}x{mz:g} mm, centred on the brain's bounding box), made "
    "by averaging blocks of voxels (6x6x6 of a 1 mm BraTS volume; 3x3x3 of the 2 mm training "
    "phantoms), so the network is small enough to train in minutes and run in milliseconds on two "
    "CPU cores while lesions of >= 6 mm and their oedema still show. Inside the network the grid "
    "is summarised by its axial, coronal and sagittal maximum- and mean-intensity projections "
    "(per sequence), each read by a small 2D CNN: an enhancing or FLAIR-bright lesion anywhere "
    "stands out in the maximum projections with its position relative to the brain kept in two "
    "of three views, and 2D convolutions train ~15x faster than 3D ones on CPU (measured 9 vs "
    "146 ms CPU per sample). Each channel is a robust z-score over the brain blocks (scanner gain "
    "drops out), clipped to +-5, shifted by +5 and divided by 5: brain in [0, 2], outside 0."
)

OOD_MESSAGE = (
    "This scan is unlike the data the model was trained on: no class is shown."
)
LOW_CONFIDENCE_MESSAGE = (
    "Low confidence: the tumour type is uncertain (calibrated probability below the threshold "
    "chosen on validation data)."
)


# --------------------------------------------------------------------------- the card


class TumourTypeCard(BaseCard):
    """The tumour-type model card: input layout, normalisation, calibration, OOD, provenance.

    ``input`` = {"voxel_mm": float, "shape": [X, Y, Z], "brain_fraction": float}; ``normalisation``
    maps each sequence to an ``inputs.normalise`` spec plus "scale" (the z-score is divided by
    it). ``calibration`` = {"temperature": T, ...}; ``ood`` = {"method": "mahalanobis",
    "statistics_file", "statistics_sha256", "threshold", "validation_scores", ...};
    ``low_confidence`` = {"threshold": p, "method": ...}.
    """

    KIND: ClassVar[str] = "tumour-type"

    task: Literal["tumour-type"] = TASK
    classes: list[str] = Field(default_factory=lambda: list(TUMOUR_TYPES))
    sequences: list[str] = Field(default_factory=lambda: list(SEQUENCES))
    input: dict[str, Any] = Field(
        default_factory=lambda: {"voxel_mm": 6.0, "shape": [28, 32, 28], "brain_fraction": 0.5}
    )
    normalisation: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {
            s: {"method": "robust-z", "clip": 5.0, "scale": 5.0} for s in SEQUENCES
        }
    )
    architecture: dict[str, Any] = Field(
        default_factory=lambda: {
            "kind": "projections", "filters": [32, 48, 64], "embedding": 64, "dropout": 0.2,
        }
    )
    input_rationale: str = ""
    calibration: dict[str, Any] = Field(default_factory=lambda: {"temperature": 1.0})
    ood: dict[str, Any] = Field(default_factory=dict)
    low_confidence: dict[str, Any] = Field(default_factory=lambda: {"threshold": 0.6})
    weights_format: str = "npz written by classifier.save_weights_f16 (float16 kernels)"
    libraries: dict[str, str] = Field(default_factory=dict)
    intended_use: str = DEMO_NOTICE

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """Return the network's input shape (X, Y, Z, channels)."""
        return (*(int(s) for s in self.input["shape"]), len(self.sequences))

    @model_validator(mode="after")
    def _consistent(self) -> TumourTypeCard:
        if list(self.classes) != list(TUMOUR_TYPES):
            raise ValueError(f"classes must be {list(TUMOUR_TYPES)}, got {self.classes}")
        if list(self.sequences) != list(SEQUENCES):
            raise ValueError(f"sequences must be {list(SEQUENCES)}, got {self.sequences}")
        shape = self.input.get("shape")
        if not (isinstance(shape, list) and len(shape) == 3 and all(8 <= int(s) <= 256
                                                                     for s in shape)):
            raise ValueError(f"input shape must be three sizes in 8..256, got {shape}")
        if not 0.5 <= float(self.input.get("voxel_mm", 0)) <= 16:
            raise ValueError("input voxel_mm must be within 0.5..16")
        for seq in SEQUENCES:
            if self.normalisation.get(seq, {}).get("method") not in ("robust-z", "minmax", "none"):
                raise ValueError(f"normalisation of {seq}: unknown method")
        if float(self.calibration.get("temperature", 0)) <= 0:
            raise ValueError("calibration temperature must be positive")
        return self


# --------------------------------------------------------------------------- preprocessing


def _block_mean(volume: np.ndarray, factors: Sequence[int]) -> np.ndarray:
    """Return the mean over blocks of ``factors`` voxels (a partial last block counts as if
    zero-padded to a whole one).

    Reduces one axis at a time, the axis with the largest memory stride first, by adding its
    ``f`` interleaved strided views: every add streams long contiguous runs, and each axis
    shrinks the data for the next.
    """
    out = np.asarray(volume)
    order = sorted(range(3), key=lambda ax: -abs(out.strides[ax]))
    for ax in order:
        f = int(factors[ax])
        if f <= 1:
            continue
        n = out.shape[ax]
        shape = list(out.shape)
        shape[ax] = -(-n // f)
        fortran = out.flags.f_contiguous and not out.flags.c_contiguous
        acc = np.zeros(shape, dtype=np.float32, order="F" if fortran else "C")
        for k in range(f):
            part = out[(slice(None),) * ax + (slice(k, n, f),)]
            acc[(slice(None),) * ax + (slice(0, part.shape[ax]),)] += part
        out = acc
    out = out.astype(np.float32, copy=False)
    return out * np.float32(1.0 / float(np.prod([int(f) for f in factors])))


def resample_to(
    volume: np.ndarray, voxel_size: Sequence[float], target_mm: float
) -> np.ndarray:
    """Return ``volume`` on a ``target_mm`` grid: block means when the ratio is whole, else zoom.

    Refuses (ValueError) a volume that is not 3D or voxels larger than the target.
    """
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"expected a 3D volume, got shape {volume.shape}")
    ratios = [target_mm / float(v) for v in voxel_size]
    if min(ratios) < 0.999:
        raise ValueError(f"voxels of {tuple(voxel_size)} mm are coarser than {target_mm} mm")
    whole = [int(round(r)) for r in ratios]
    if all(abs(r - w) < 1e-3 for r, w in zip(ratios, whole, strict=True)):
        return _block_mean(volume, whole)
    smooth = ndimage.uniform_filter(volume.astype(np.float32), [max(1, int(r)) for r in ratios])
    return ndimage.zoom(smooth, [1 / r for r in ratios], order=1, grid_mode=True, mode="nearest")


def _centre_crop(stack: np.ndarray, centre: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Return the ``shape`` window of (X, Y, Z, C) ``stack`` centred on ``centre`` (0-padded)."""
    out = np.zeros((*shape, stack.shape[-1]), dtype=np.float32)
    src, dst = [], []
    for c, size, n in zip(centre, shape, stack.shape[:3], strict=True):
        start = int(round(c - size / 2))
        lo, hi = max(start, 0), min(start + size, n)
        src.append(slice(lo, hi))
        dst.append(slice(lo - start, hi - start))
    out[tuple(dst)] = stack[tuple(src)]
    return out


def prepare_volumes(
    volumes: Mapping[str, np.ndarray], voxel_size: Sequence[float], card: TumourTypeCard
) -> np.ndarray:
    """Return the network input (X, Y, Z, 4) float32 for four canonical volumes, per the card.

    Each sequence is averaged onto the card's grid; the brain is where at least
    ``brain_fraction`` of a block's FLAIR voxels are non-zero; each channel is normalised within
    it (``inputs.normalise``, then divided by the card's "scale"); the window of the card's shape
    is centred on the brain's bounding box. ValueError when a sequence is missing, the shapes
    differ or no block holds brain.
    """
    missing = [s for s in SEQUENCES if s not in volumes]
    if missing:
        raise ValueError(f"missing sequences {missing}")
    shape = np.shape(volumes["flair"])
    for seq in SEQUENCES:
        if np.shape(volumes[seq]) != shape:
            raise ValueError(f"{seq} has shape {np.shape(volumes[seq])}, FLAIR {shape}")
    spec = card.input
    target = float(spec["voxel_mm"])
    flair = np.asarray(volumes["flair"])
    brain = resample_to(flair != 0, voxel_size, target)
    brain = brain >= float(spec.get("brain_fraction", 0.5))
    if not brain.any():
        raise ValueError("no brain: every block is mostly empty on FLAIR")
    channels = []
    for seq in SEQUENCES:
        coarse = resample_to(volumes[seq], voxel_size, target)
        norm = card.normalisation[seq]
        channels.append(normalise(coarse, brain, norm) / np.float32(norm.get("scale", 1.0)))
    stack = np.stack(channels, axis=-1)
    hits = np.argwhere(brain)
    centre = (hits.min(axis=0) + hits.max(axis=0) + 1) / 2
    return _centre_crop(stack, centre, [int(s) for s in spec["shape"]])


# --------------------------------------------------------------------------- calibration + OOD


@dataclass(eq=False)
class MahalanobisOOD:
    """Class-conditional Gaussians with one shared covariance per block of network features.

    The feature vector is cut into consecutive blocks (``sizes``: one per layer, the feature
    ensemble of Lee et al. 2018). For each block the score is the smallest squared Mahalanobis
    distance to any class mean, divided by that block's median on the training features; the
    OOD score is the sum over blocks (larger = less like the training data).
    """

    means: list[np.ndarray]  # per block (K, D_b)
    precisions: list[np.ndarray]  # per block (D_b, D_b)
    scales: np.ndarray  # (B,) training medians of each block's distance

    @property
    def sizes(self) -> list[int]:
        """Return the feature count of each block."""
        return [int(m.shape[1]) for m in self.means]

    @staticmethod
    def _fit_block(
        features: np.ndarray, labels: np.ndarray, n_classes: int, shrinkage: float
    ) -> tuple[np.ndarray, np.ndarray]:
        means, centred = [], []
        for k in range(n_classes):
            rows = features[labels == k]
            if len(rows) == 0:
                raise ValueError(f"class {k} has no training features")
            means.append(rows.mean(axis=0))
            centred.append(rows - means[-1])
        resid = np.concatenate(centred)
        cov = resid.T @ resid / len(resid)
        cov += np.eye(len(cov)) * shrinkage * max(float(np.trace(cov)) / len(cov), 1e-12)
        return np.asarray(means), np.linalg.inv(cov)

    @staticmethod
    def _block_d2(features: np.ndarray, means: np.ndarray, precision: np.ndarray) -> np.ndarray:
        diff = features[:, None, :] - means[None, :, :]  # (N, K, D)
        return np.einsum("nkd,de,nke->nk", diff, precision, diff).min(axis=1)

    @classmethod
    def fit(
        cls,
        features: np.ndarray,
        labels: np.ndarray,
        n_classes: int,
        sizes: Sequence[int] | None = None,
        shrinkage: float = 1e-3,
    ) -> MahalanobisOOD:
        """Return the fit on training ``features`` (N, D) with integer ``labels`` (N,).

        ``sizes`` cuts D into blocks (default: one block). Each block's shared covariance is the
        pooled within-class covariance plus ``shrinkage`` times its mean variance on the
        diagonal. ValueError when a class has no features or the sizes do not add up to D.
        """
        features = np.asarray(features, dtype=np.float64)
        labels = np.asarray(labels)
        sizes = list(sizes) if sizes else [features.shape[1]]
        if sum(sizes) != features.shape[1]:
            raise ValueError(f"block sizes {sizes} do not add up to {features.shape[1]} features")
        means, precisions, scales = [], [], []
        start = 0
        for size in sizes:
            block = features[:, start:start + size]
            m, p = cls._fit_block(block, labels, n_classes, shrinkage)
            means.append(m)
            precisions.append(p)
            scales.append(max(float(np.median(cls._block_d2(block, m, p))), 1e-12))
            start += size
        return cls(means, precisions, np.asarray(scales))

    def score(self, features: np.ndarray) -> np.ndarray:
        """Return the (N,) OOD score: the sum over blocks of scaled minimum squared distances."""
        features = np.atleast_2d(np.asarray(features, dtype=np.float64))
        total = np.zeros(len(features))
        start = 0
        for m, p, scale in zip(self.means, self.precisions, self.scales, strict=True):
            size = m.shape[1]
            total += self._block_d2(features[:, start:start + size], m, p) / scale
            start += size
        return total

    def save(self, path: str | os.PathLike) -> Path:
        """Write the blocks' means, precisions and scales to an .npz at ``path``; return it."""
        path = Path(path)
        arrays: dict[str, np.ndarray] = {"scales": self.scales}
        for i, (m, p) in enumerate(zip(self.means, self.precisions, strict=True)):
            arrays[f"means_{i}"] = m
            arrays[f"precision_{i}"] = p.astype(np.float32)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> MahalanobisOOD:
        """Return the statistics stored by :meth:`save`; CardError when missing or malformed."""
        try:
            with np.load(path, allow_pickle=False) as npz:
                scales = npz["scales"].astype(np.float64)
                means = [npz[f"means_{i}"].astype(np.float64) for i in range(len(scales))]
                precisions = [npz[f"precision_{i}"].astype(np.float64)
                              for i in range(len(scales))]
        except (OSError, KeyError, ValueError) as exc:
            raise CardError(f"unreadable OOD statistics {path}: {exc}") from exc
        for m, p in zip(means, precisions, strict=True):
            if p.shape != (m.shape[1], m.shape[1]):
                raise CardError(f"OOD statistics {path}: a precision does not match its means")
        return cls(means, precisions, scales)


def in_distribution_score(score: float, validation_scores: Sequence[float]) -> float:
    """Return the conformal p-value of an OOD ``score`` against held-in validation scores.

    (1 + #{validation >= score}) / (n + 1): near 1 for a typical scan, small for one more unusual
    than almost every validation scan. ValueError for an empty validation list.
    """
    ref = np.asarray(validation_scores, dtype=np.float64)
    if ref.size == 0:
        raise ValueError("no validation scores to compare with")
    return float((1 + np.count_nonzero(ref >= score)) / (ref.size + 1))


# --------------------------------------------------------------------------- the network


def build_network(card: TumourTypeCard) -> Any:
    """Return the uncompiled Keras 3 network of ``card.architecture`` (outputs: logits, embedding).

    "cnn25d": the slices folded into channels (X, Y, Z*4), then Conv2D blocks; "cnn3d": Conv3D
    blocks. Each block is a 3-wide convolution, batch norm and ReLU, with max pooling between
    blocks; then global average and
    max pooling ("pooled": the features used for OOD), a dense "embedding" layer and a dense
    "logits" layer. The model has two outputs: [logits, pooled features].
    """
    from app.pipeline.models import tf_runtime

    tf_runtime.configure()
    import keras

    arch = card.architecture
    inputs = keras.Input(card.input_shape, name="volume")
    filters = [int(f) for f in arch["filters"]]
    if arch.get("kind") == "projections":
        pooled, early = _projection_features(keras, inputs, filters)
    else:
        pooled, early = _volume_features(keras, inputs, filters, arch, card.input_shape), []
    embedding = keras.layers.Dense(int(arch["embedding"]), activation="relu",
                                   name=EMBEDDING_LAYER)(pooled)
    dropped = keras.layers.Dropout(float(arch.get("dropout", 0.2)), name="dropout")(embedding)
    logits = keras.layers.Dense(len(card.classes), name=LOGITS_LAYER)(dropped)
    features = (
        keras.layers.Concatenate(name=FEATURES_LAYER)([pooled, *early]) if early else pooled
    )
    return keras.Model(inputs, [logits, features], name="tumour_type_net")


def _conv_stack(keras: Any, x: Any, filters: list[int], name: str, conv: Any, pool: Any,
                gap: Any, gmp: Any) -> Any:
    """Conv (3 wide, batch norm, ReLU) blocks with max pooling between; return (avg + max pooled
    features, each block's output)."""
    blocks = []
    for i, n in enumerate(filters):
        x = conv(n, 3, padding="same", use_bias=False, name=f"{name}conv{i}")(x)
        x = keras.layers.BatchNormalization(name=f"{name}bn{i}")(x)
        x = keras.layers.Activation("relu", name=f"{name}relu{i}")(x)
        blocks.append(x)
        if i < len(filters) - 1:
            x = pool(2, padding="same", name=f"{name}pool{i}")(x)
    pooled = keras.layers.Concatenate(name=f"{name}pooled")(
        [gap(name=f"{name}gap")(x), gmp(name=f"{name}gmp")(x)]
    )
    return pooled, blocks


def _projection_features(keras: Any, inputs: Any, filters: list[int]) -> tuple[Any, list[Any]]:
    """Axial, coronal and sagittal max and mean projections of the four channels, one 2D CNN
    branch each; returns (the concatenated pooled features, the earlier blocks' spatial means)."""
    from keras import ops

    branches = []
    for axis, view in ((3, "axial"), (2, "coronal"), (1, "sagittal")):
        proj = keras.layers.Lambda(
            lambda v, a=axis: ops.concatenate([ops.max(v, axis=a), ops.mean(v, axis=a)], axis=-1),
            name=f"{view}_projection",
        )(inputs)
        branches.append(_conv_stack(
            keras, proj, filters, f"{view}_", keras.layers.Conv2D, keras.layers.MaxPooling2D,
            keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D,
        ))
    pooled = keras.layers.Concatenate(name="pooled")([b[0] for b in branches])
    early = [
        keras.layers.GlobalAveragePooling2D(name=f"{view}_mean{i}")(block)
        for view, (_, blocks) in zip(("axial", "coronal", "sagittal"), branches, strict=True)
        for i, block in enumerate(blocks[:-1])
    ]
    return pooled, early


def _volume_features(keras: Any, inputs: Any, filters: list[int], arch: dict[str, Any],
                     shape: tuple[int, ...]) -> Any:
    """The "cnn25d" (slices folded into channels, Conv2D) or "cnn3d" (Conv3D) feature stack."""
    if arch.get("kind") == "cnn25d":
        sx, sy, sz, sc = shape
        x = keras.layers.Reshape((sx, sy, sz * sc), name="fold")(inputs)
        layers = (keras.layers.Conv2D, keras.layers.MaxPooling2D,
                  keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D)
    elif arch.get("kind") == "cnn3d":
        x = inputs
        layers = (keras.layers.Conv3D, keras.layers.MaxPooling3D,
                  keras.layers.GlobalAveragePooling3D, keras.layers.GlobalMaxPooling3D)
    else:
        raise CardError(f"unknown architecture kind {arch.get('kind')!r}")
    return _conv_stack(keras, x, filters, "", *layers)[0]


class TumourTypeModel:
    """A loaded tumour-type network + card + OOD statistics; ``predict`` cases or volumes."""

    def __init__(self, network: Any, card: TumourTypeCard, ood: MahalanobisOOD | None) -> None:
        card.validate()
        from app.pipeline.models import tf_runtime

        tf = tf_runtime.configure()
        self.network = network
        self.card = card
        self.ood = ood
        spec = tf.TensorSpec((None, *card.input_shape), tf.float32)
        self._fn = tf.function(lambda x: network(x, training=False), input_signature=[spec])

    @classmethod
    def load(cls, model_dir: str | os.PathLike) -> TumourTypeModel:
        """Return the model in ``model_dir`` (card.json, weights, OOD statistics), sha256-checked.

        CardError when a file is missing, does not match the card's sha256 or the architecture.
        """
        from app.pipeline.models.subtype import load_weights_f16

        model_dir = Path(model_dir)
        card = TumourTypeCard.load(model_dir)
        verify_file(model_dir / card.weights_file, card.weights_sha256)
        network = build_network(card)
        load_weights_f16(network, model_dir / card.weights_file)
        ood = None
        if card.ood:
            stats = model_dir / str(card.ood["statistics_file"])
            verify_file(stats, str(card.ood.get("statistics_sha256", "")))
            ood = MahalanobisOOD.load(stats)
        log.info("loaded tumour-type model %s %s from %s", card.name, card.version, model_dir)
        return cls(network, card, ood)

    def raw(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (logits (N, K), OOD features (N, D)) for prepared inputs (N, X, Y, Z, 4)."""
        logits, embedding = self._fn(np.asarray(batch, dtype=np.float32))
        return np.asarray(logits), np.asarray(embedding)

    def predict_volumes(
        self, volumes: Mapping[str, np.ndarray], voxel_size: Sequence[float]
    ) -> dict[str, Any]:
        """Return the tumour-type result for four canonical volumes (see :meth:`predict`)."""
        x = prepare_volumes(volumes, voxel_size, self.card)
        logits, embedding = self.raw(x[None])
        return self.summarise(logits[0], embedding[0])

    def predict(self, case: Any) -> dict[str, Any]:
        """Return the tumour-type result for a LoadedCase (reads all four volumes).

        Keys: tumour_type (a class, or None when out of distribution), tumour_type_name,
        probabilities {type: p} (temperature-calibrated), top_probability, low_confidence,
        ood_score (squared Mahalanobis distance), ood_threshold, in_distribution (conformal
        p-value in (0, 1]), out_of_distribution, message. Raises what ``case.volume`` raises
        (InvalidInputError for unusable data) and ValueError when no brain is found.
        """
        volumes = {seq: case.volume(seq) for seq in SEQUENCES}
        return self.predict_volumes(volumes, case.voxel_size)

    def summarise(self, logits: np.ndarray, embedding: np.ndarray) -> dict[str, Any]:
        """Return the result dict of :meth:`predict` from one case's logits and embedding."""
        card = self.card
        probs = softmax(logits, float(card.calibration["temperature"]))
        top = int(np.argmax(probs))
        p_top = float(probs[top])
        low = p_top < float(card.low_confidence["threshold"])
        ood_score = ood_threshold = in_dist = None
        ood_flag = False
        if self.ood is not None:
            ood_score = float(self.ood.score(embedding[None])[0])
            ood_threshold = float(card.ood["threshold"])
            in_dist = in_distribution_score(ood_score, card.ood["validation_scores"])
            ood_flag = ood_score > ood_threshold
        cls = card.classes[top]
        message = OOD_MESSAGE if ood_flag else (LOW_CONFIDENCE_MESSAGE if low else None)
        return {
            "tumour_type": None if ood_flag else cls,
            "tumour_type_name": None if ood_flag else TUMOUR_TYPE_NAMES[cls],
            "probabilities": {c: float(p) for c, p in zip(card.classes, probs, strict=True)},
            "top_probability": p_top,
            "low_confidence": bool(low),
            "ood_score": ood_score,
            "ood_threshold": ood_threshold,
            "in_distribution": in_dist,
            "out_of_distribution": bool(ood_flag),
            "message": message,
        }

    def warm_up(self) -> None:
        """Run one prediction on zeros so the first real case pays no tracing."""
        self.raw(np.zeros((1, *self.card.input_shape), dtype=np.float32))


@functools.lru_cache(maxsize=2)
def get_tumour_type_model(model_dir: str) -> TumourTypeModel:
    """Return the process-wide TumourTypeModel for ``model_dir``, loaded and warmed up."""
    model = TumourTypeModel.load(model_dir)
    model.warm_up()
    return model
