"""Tumour segmentation: a 2.5D U-Net that maps the four sequences to a BraTS label map.

The network runs on axial slices at about 2 mm (the card's ``input.target_voxel_mm``): the brain's
bounding box is cropped, padded to a multiple of the U-Net's stride, block-averaged by an integer
factor per axis, normalised per sequence within the brain (robust z-score, like the classifier),
and each axial slice is fed with its neighbours (``context_slices`` on each side) as extra channels
(4 sequences × 3 slices = 12 channels). All brain slices go through the network in one batch. The
softmax probabilities are resampled back to the case's grid by linear interpolation, only inside
the box around the predicted tumour, before the argmax; the labels are then kept inside the brain.

Every preprocessing setting comes from the model's card (``SegmentationCard``). This module imports
TensorFlow; the web process never imports it.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from scipy import ndimage

from app.pipeline.io.naming import SEQUENCES
from app.pipeline.lesion.segmentation_card import SegmentationCard
from app.pipeline.lesion.slice_finder import brain_mask
from app.pipeline.models import tf_runtime
from app.pipeline.models.card import CardError
from app.pipeline.models.inputs import normalise
from app.pipeline.models.subtype import load_weights_f16

tf = tf_runtime.configure()
import keras  # noqa: E402  (after TF is configured)

log = logging.getLogger(__name__)

MAX_BATCH = 96
"""Slices per network call (bounds memory on a large brain)."""


class VolumeSource(Protocol):
    """What segmentation needs from a case: a LoadedCase, or a phantom wrapped in one."""

    shape: tuple[int, int, int]
    voxel_size: tuple[float, float, float]

    def volume(self, sequence: str) -> np.ndarray: ...  # noqa: D102


# --------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class Geometry:
    """Where the network's coarse grid lies in the case's grid.

    Coarse voxel (i, j, k) covers fine voxels ``origin + (i, j, k) * factors`` up to
    ``+ factors`` (exclusive). ``origin`` may be negative (padding beyond the image edge).
    """

    shape: tuple[int, int, int]
    origin: tuple[int, int, int]
    factors: tuple[int, int, int]
    coarse_shape: tuple[int, int, int]

    @property
    def fine_size(self) -> tuple[int, int, int]:
        """Return the size of the covered fine box (coarse shape × factors)."""
        return tuple(c * f for c, f in zip(self.coarse_shape, self.factors, strict=True))


def block_factors(voxel_size: Sequence[float], target_mm: float) -> tuple[int, int, int]:
    """Return the integer block-averaging factor per axis that brings voxels nearest target_mm."""
    return tuple(max(1, int(round(target_mm / float(v)))) for v in voxel_size)


def plan_geometry(
    brain: np.ndarray, voxel_size: Sequence[float], target_mm: float, pad_multiple: int
) -> Geometry:
    """Return the coarse grid over the brain's bounding box, centred, in-plane padded.

    ValueError when ``brain`` is empty.
    """
    factors = block_factors(voxel_size, target_mm)
    starts, sizes = [], []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        hits = np.flatnonzero(brain.any(axis=other))
        if hits.size == 0:
            raise ValueError("the brain mask is empty: nothing to segment")
        starts.append(int(hits[0]))
        sizes.append(int(hits[-1]) - int(hits[0]) + 1)
    coarse = []
    origin = []
    for axis in range(3):
        f = factors[axis]
        n = math.ceil(sizes[axis] / f)
        if axis < 2:
            n = math.ceil(n / pad_multiple) * pad_multiple
        coarse.append(n)
        origin.append(starts[axis] - (n * f - sizes[axis]) // 2)
    return Geometry(tuple(brain.shape), tuple(origin), factors, tuple(coarse))


def extract_box(data: np.ndarray, origin: Sequence[int], size: Sequence[int]) -> np.ndarray:
    """Return ``data[origin : origin + size]`` (3D), zero-filled where the box leaves the array."""
    out = np.zeros(tuple(size), dtype=data.dtype)
    src, dst = [], []
    for o, s, n in zip(origin, size, data.shape, strict=True):
        lo, hi = max(o, 0), min(o + s, n)
        if hi <= lo:
            return out
        src.append(slice(lo, hi))
        dst.append(slice(lo - o, hi - o))
    out[tuple(dst)] = data[tuple(src)]
    return out


def block_mean(data: np.ndarray, factors: Sequence[int]) -> np.ndarray:
    """Return the float32 mean over blocks of ``factors`` (each axis a multiple of its factor).

    Strided sums (one per offset in the block) are several times faster than a reshape-mean.
    """
    fx, fy, fz = factors
    x, y, z = data.shape
    total = np.zeros((x // fx, y // fy, z // fz), dtype=np.float32)
    for i in range(fx):
        for j in range(fy):
            for k in range(fz):
                total += data[i::fx, j::fy, k::fz]
    total *= np.float32(1.0 / (fx * fy * fz))
    return total


def coarse_volumes(
    volumes: Mapping[str, np.ndarray],
    geometry: Geometry,
    normalisation: Mapping[str, Any],
    brain: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (normalised (Zc, Xc, Yc, 4) float32 volume, coarse brain mask (Xc, Yc, Zc)).

    Each sequence is cropped to the geometry's box, block-averaged, and normalised per
    ``normalisation`` within the coarse brain (voxels at least half brain); outside the brain is 0.
    ``brain`` defaults to ``slice_finder.brain_mask`` of the FLAIR.
    """
    size = geometry.fine_size
    if brain is None:
        brain = brain_mask(np.asarray(volumes["flair"]))
    fraction = extract_box(brain.astype(np.float32), geometry.origin, size)
    brain_c = block_mean(fraction, geometry.factors) >= 0.5
    channels = []
    for seq in SEQUENCES:
        raw = extract_box(np.asarray(volumes[seq], dtype=np.float32), geometry.origin, size)
        channels.append(normalise(block_mean(raw, geometry.factors), brain_c, normalisation[seq]))
    stack = np.stack(channels, axis=-1)  # (Xc, Yc, Zc, 4)
    return np.ascontiguousarray(stack.transpose(2, 0, 1, 3)), brain_c


def with_context(stack: np.ndarray, k: int, rows: np.ndarray | None = None) -> np.ndarray:
    """Return (N, Xc, Yc, 4·(2k+1)) inputs: each slice of (Zc, Xc, Yc, 4) with ±k neighbours.

    Neighbours beyond the volume are zeros. Channel order: offset -k..+k, sequences within.
    ``rows`` selects which slices to return (default all).
    """
    rows = np.arange(stack.shape[0]) if rows is None else np.asarray(rows)
    if k == 0:
        return stack[rows]
    padded = np.pad(stack, ((k, k), (0, 0), (0, 0), (0, 0)))
    parts = [padded[rows + k + d] for d in range(-k, k + 1)]
    return np.concatenate(parts, axis=-1)


def upsample_linear(coarse: np.ndarray, factors: Sequence[int]) -> np.ndarray:
    """Return ``coarse`` (first three axes) upsampled by integer ``factors``, linearly.

    Cell-centred: fine voxel i lies at coarse coordinate (i + 0.5) / f - 0.5, the inverse of block
    averaging; values beyond the outermost centres are held constant.
    """
    out = coarse
    for axis, f in enumerate(factors):
        if f == 1:
            continue
        n = out.shape[axis]
        pos = (np.arange(n * f, dtype=np.float32) + 0.5) / f - 0.5
        lo = np.floor(pos)
        w = (pos - lo).astype(np.float32)
        i0 = np.clip(lo.astype(int), 0, n - 1)
        i1 = np.clip(lo.astype(int) + 1, 0, n - 1)
        shape = [1] * out.ndim
        shape[axis] = -1
        w = w.reshape(shape)
        out = np.take(out, i0, axis=axis) * (1 - w) + np.take(out, i1, axis=axis) * w
    return out


# --------------------------------------------------------------------------- the network


def _conv(x: Any, filters: int, name: str) -> Any:
    return keras.layers.Conv2D(
        filters, 3, padding="same", activation="relu", kernel_initializer="he_normal", name=name
    )(x)


def build_unet(
    in_channels: int, n_classes: int = 4, base_filters: int = 12, levels: int = 4
) -> keras.Model:
    """Return an uncompiled 2D U-Net: (N, H, W, in_channels) -> softmax (N, H, W, n_classes).

    ``levels`` resolutions with two 3×3 ReLU convolutions each (filters doubling from
    ``base_filters``), max-pooling down, transposed convolutions up, skip connections. H and W
    must be multiples of 2^(levels-1). ValueError for fewer than two levels.
    """
    if levels < 2:
        raise ValueError("a U-Net needs at least two levels")
    inputs = keras.Input((None, None, in_channels), name="image")
    x = inputs
    skips = []
    for i in range(levels):
        f = base_filters * 2**i
        x = _conv(x, f, f"enc{i}_a")
        x = _conv(x, f, f"enc{i}_b")
        if i < levels - 1:
            skips.append(x)
            x = keras.layers.MaxPooling2D(name=f"pool{i}")(x)
    for i in reversed(range(levels - 1)):
        f = base_filters * 2**i
        x = keras.layers.Conv2DTranspose(f, 2, strides=2, name=f"up{i}")(x)
        x = keras.layers.Concatenate(name=f"skip{i}")([x, skips[i]])
        x = _conv(x, f, f"dec{i}_a")
        x = _conv(x, f, f"dec{i}_b")
    logits = keras.layers.Conv2D(n_classes, 1, name="logits")(x)
    probs = keras.layers.Activation("softmax", name="probabilities", dtype="float32")(logits)
    return keras.Model(inputs, probs, name="gliomalens_unet2d")


def model_from_card(card: SegmentationCard, model_dir: str | os.PathLike) -> keras.Model:
    """Return the U-Net described by ``card`` with its weights loaded (float32).

    CardError when the weights are missing, do not match the card's sha256 or the architecture.
    """
    card.verify_weights(model_dir)
    model = build_unet(
        card.in_channels,
        len(card.output_labels),
        int(card.architecture["base_filters"]),
        int(card.architecture["levels"]),
    )
    load_weights_f16(model, card.weights_path(model_dir))
    return model


# --------------------------------------------------------------------------- inference


@dataclass(eq=False)
class SegmentationResult:
    """A BraTS label map (uint8, values 0/1/2/4) in the case's canonical grid, and timings."""

    labels: np.ndarray
    voxel_size: tuple[float, float, float]
    slices: int
    seconds: dict[str, float] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)


class Segmenter:
    """A loaded U-Net + card: ``segment`` cases, ``warm_up`` once at worker start."""

    def __init__(
        self, model: keras.Model, card: SegmentationCard, model_dir: str | os.PathLike = ""
    ) -> None:
        card.validate()
        self.model = model
        self.card = card
        self.model_dir = Path(model_dir)
        self.device = tf_runtime.describe_device()
        spec = tf.TensorSpec((None, None, None, card.in_channels), tf.float32)
        self._predict_fn = tf.function(
            lambda x: self.model(x, training=False), input_signature=[spec], reduce_retracing=True
        )

    @classmethod
    def load(cls, model_dir: str | os.PathLike) -> Segmenter:
        """Return a Segmenter for the card + weights in ``model_dir`` (checks the sha256).

        CardError when the card or weights are missing or inconsistent.
        """
        card = SegmentationCard.load(model_dir)
        model = model_from_card(card, model_dir)
        log.info("loaded segmentation model %s %s from %s", card.name, card.version, model_dir)
        return cls(model, card, model_dir)

    def warm_up(self) -> None:
        """Run the network once on zeros so the first real case pays no tracing."""
        m = int(self.card.input["pad_multiple"])
        self.predict(np.zeros((2, 4 * m, 4 * m, self.card.in_channels), dtype=np.float32))

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Return softmax probabilities (N, H, W, K) for a batch (N, H, W, C), in chunks."""
        batch = np.asarray(batch, dtype=np.float32)
        outs = [
            self._predict_fn(tf.constant(batch[i : i + MAX_BATCH])).numpy()
            for i in range(0, len(batch), MAX_BATCH)
        ]
        k = len(self.card.output_labels)
        return np.concatenate(outs) if outs else np.zeros((0, *batch.shape[1:3], k), np.float32)

    def segment(self, case: VolumeSource) -> SegmentationResult:
        """Segment a loaded case (LoadedCase or any VolumeSource); return its label map.

        Reads all four sequences (InvalidInputError from the loader for unusable data).
        ValueError when the FLAIR holds no brain.
        """
        volumes = {seq: case.volume(seq) for seq in SEQUENCES}
        return self.segment_volumes(volumes, case.voxel_size)

    def segment_volumes(
        self, volumes: Mapping[str, np.ndarray], voxel_size: Sequence[float]
    ) -> SegmentationResult:
        """Segment four canonical (X, Y, Z) volumes of one grid; return a SegmentationResult.

        ValueError for missing or mismatched volumes, or when the FLAIR holds no brain.
        """
        missing = [s for s in SEQUENCES if s not in volumes]
        if missing:
            raise ValueError(f"missing volumes for {missing}")
        shape = np.shape(volumes["flair"])
        if any(np.shape(volumes[s]) != shape for s in SEQUENCES) or len(shape) != 3:
            raise ValueError("the four volumes must be 3D arrays of one shape")
        t0 = time.perf_counter()
        card = self.card
        brain = brain_mask(np.asarray(volumes["flair"]))
        geometry = plan_geometry(
            brain, voxel_size, float(card.input["target_voxel_mm"]), int(card.input["pad_multiple"])
        )
        stack, brain_c = coarse_volumes(volumes, geometry, card.normalisation, brain)
        rows = np.flatnonzero(brain_c.any(axis=(0, 1)))
        batch = with_context(stack, int(card.input["context_slices"]), rows)
        t1 = time.perf_counter()
        probs = self.predict(batch)
        t2 = time.perf_counter()
        labels = self.labels_from_probabilities(probs, rows, geometry, brain)
        relabel_small_enhancing(
            labels, float(card.postprocessing.get("min_enhancing_ml", 0.0)), voxel_size
        )
        t3 = time.perf_counter()
        return SegmentationResult(
            labels=labels,
            voxel_size=tuple(float(v) for v in voxel_size),
            slices=int(len(rows)),
            seconds={
                "prepare": round(t1 - t0, 4),
                "predict": round(t2 - t1, 4),
                "postprocess": round(t3 - t2, 4),
                "total": round(t3 - t0, 4),
            },
            model=card.summary_block(),
        )

    def labels_from_probabilities(
        self, probs: np.ndarray, rows: np.ndarray, geometry: Geometry, brain: np.ndarray
    ) -> np.ndarray:
        """Return the uint8 BraTS label map (case grid) from coarse slice probabilities.

        ``probs`` (N, Xc, Yc, K) belong to coarse axial slices ``rows``. Probabilities are
        upsampled linearly inside the box around the coarse tumour (plus two coarse voxels), then
        the argmax is mapped to the card's labels and kept inside ``brain``.
        """
        xc, yc, zc = geometry.coarse_shape
        k = probs.shape[-1]
        full = np.zeros((zc, xc, yc, k), dtype=np.float32)
        full[..., 0] = 1.0
        full[rows] = probs
        out = np.zeros(geometry.shape, dtype=np.uint8)
        fg = full.argmax(axis=-1) != 0
        if not fg.any():
            return out
        box = []
        for axis in range(3):
            other = tuple(a for a in range(3) if a != axis)
            hits = np.flatnonzero(fg.any(axis=other))
            box.append(slice(max(int(hits[0]) - 2, 0), min(int(hits[-1]) + 3, fg.shape[axis])))
        part = full[tuple(box)].transpose(1, 2, 0, 3)  # (x, y, z, K)
        bx, by, bz = box[1], box[2], box[0]
        fine = upsample_linear(part, geometry.factors)
        lut = np.asarray(self.card.output_labels, dtype=np.uint8)
        fine_labels = lut[fine.argmax(axis=-1)]
        starts = [
            o + s.start * f
            for o, s, f in zip(geometry.origin, (bx, by, bz), geometry.factors, strict=True)
        ]
        src, dst = [], []
        for start, size, n in zip(starts, fine_labels.shape, geometry.shape, strict=True):
            lo, hi = max(start, 0), min(start + size, n)
            dst.append(slice(lo, hi))
            src.append(slice(lo - start, hi - start))
        out[tuple(dst)] = fine_labels[tuple(src)]
        out[~brain] = 0
        min_voxels = int(self.card.postprocessing.get("min_component_voxels", 0))
        if min_voxels > 0:
            remove_small_components(out, min_voxels)
        return out


def remove_small_components(labels: np.ndarray, min_voxels: int) -> np.ndarray:
    """Zero (in place) tumour components (26-connected, any label) smaller than ``min_voxels``.

    Returns ``labels``.
    """
    components, n = ndimage.label(labels > 0, structure=np.ones((3, 3, 3), dtype=bool))
    if n == 0:
        return labels
    sizes = np.bincount(components.ravel())
    small = np.flatnonzero(sizes < min_voxels)
    small = small[small > 0]
    if small.size:
        labels[np.isin(components, small)] = 0
    return labels


def relabel_small_enhancing(
    labels: np.ndarray, min_ml: float, voxel_size: Sequence[float]
) -> int:
    """Relabel all enhancing tumour (4) as core (1), in place, when its total volume is below
    ``min_ml`` millilitres; return the number of voxels relabelled (0 when kept or ``min_ml`` <= 0).

    The BraTS post-processing of nnU-Net: a few scattered 'enhancing' voxels in a tumour without
    enhancement cost the whole ET Dice of that case (BraTS scores it 0), whereas turning a real but
    tiny enhancing region into core costs little. The card's ``postprocessing.min_enhancing_ml``
    is chosen on the validation phantoms when the model is trained.
    """
    if min_ml <= 0:
        return 0
    enhancing = labels == 4
    count = int(np.count_nonzero(enhancing))
    if count == 0 or count * float(np.prod(voxel_size)) / 1000.0 >= min_ml:
        return 0
    labels[enhancing] = 1
    return count


@functools.lru_cache(maxsize=2)
def get_segmenter(model_dir: str) -> Segmenter:
    """Return the process-wide Segmenter for ``model_dir``, loaded and warmed up on first use.

    CardError when the card or weights are missing or inconsistent.
    """
    segmenter = Segmenter.load(model_dir)
    segmenter.warm_up()
    return segmenter


__all__ = [
    "CardError",
    "Geometry",
    "SegmentationResult",
    "Segmenter",
    "VolumeSource",
    "build_unet",
    "get_segmenter",
    "model_from_card",
]
