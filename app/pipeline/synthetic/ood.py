"""Out-of-distribution inputs: four-sequence volumes that are not the brains the models know.

Used to measure (never to train) the tumour-type model's OOD score. Every kind comes as four
int16 volumes in BraTS geometry (240x240x155 at 1 mm, or the same field of view at ``voxel_mm``):

- ``ellipsoid``: a noisy ellipsoid with a bright sphere inside (not a brain);
- ``noise``: smoothed random noise filling a random box;
- ``corrupted``: a phantom brain with heavy artefacts (strong noise, ghosting, a lost slab,
  extreme bias field), two of them at once;
- ``body``: another body part made of simple shapes (a torso with fat rim, spine, liver and
  kidneys, or a limb with bone, marrow, muscle and fat);
- ``wrong_contrast``: a phantom brain whose sequences are swapped into nonsense (T2 in a T1 slot,
  one channel inverted).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from app.pipeline.classes import TUMOUR_TYPES
from app.pipeline.io.naming import SEQUENCES
from app.pipeline.synthetic.phantoms import _UNIT, _grid

OOD_KINDS: tuple[str, ...] = ("ellipsoid", "noise", "corrupted", "body", "wrong_contrast")


def _coords(shape: tuple[int, ...], voxel_mm: float) -> tuple[np.ndarray, ...]:
    """Return open mm grids (centred on the volume) for broadcasting."""
    return tuple(
        ((np.arange(n, dtype=np.float32) - (n - 1) / 2) * voxel_mm).reshape(
            [-1 if i == ax else 1 for i in range(3)]
        )
        for ax, n in enumerate(shape)
    )


def _finish(
    signal: dict[str, np.ndarray], mask: np.ndarray, rng: np.random.Generator, sigma: float
) -> dict[str, np.ndarray]:
    """Scale relative signal to int16 with Rician noise inside ``mask`` (0 outside)."""
    factor = float(np.exp(rng.uniform(np.log(0.5), np.log(3.0))))
    out = {}
    for seq in SEQUENCES:
        s = signal[seq].astype(np.float32)
        a = s + rng.normal(0, sigma, s.shape).astype(np.float32)
        b = rng.normal(0, sigma, s.shape).astype(np.float32)
        vals = np.sqrt(a * a + b * b) * np.float32(_UNIT[seq] * factor)
        out[seq] = np.where(mask, np.clip(np.rint(vals), 1, 32767), 0).astype(np.int16)
    return out


def _ellipsoid(shape: tuple[int, int, int], vox: float, rng: np.random.Generator) -> dict:
    x, y, z = _coords(shape, vox)
    radii = rng.uniform([45, 55, 40], [80, 95, 70])
    c = rng.uniform(-10, 10, size=3)
    body = sum(((g - c[i]) / radii[i]) ** 2 for i, g in enumerate((x, y, z)))
    mask = body < 1
    sc = c + rng.uniform(-0.4, 0.4, size=3) * radii
    sr = float(rng.uniform(8, 25))
    sphere = ((x - sc[0]) ** 2 + (y - sc[1]) ** 2 + (z - sc[2]) ** 2) < sr**2
    signal = {}
    for seq in SEQUENCES:
        base = float(rng.uniform(0.4, 1.2))
        vol = np.full(shape, base, dtype=np.float32)
        vol[sphere] = base * float(rng.uniform(1.8, 3.5))
        vol *= 1 + 0.15 * rng.standard_normal(shape).astype(np.float32)
        signal[seq] = vol * mask
    return _finish(signal, mask, rng, 0.03)


def _noise(shape: tuple[int, int, int], vox: float, rng: np.random.Generator) -> dict:
    lo = (np.asarray(shape) * rng.uniform(0.0, 0.25, size=3)).astype(int)
    hi = (np.asarray(shape) * rng.uniform(0.75, 1.0, size=3)).astype(int)
    mask = np.zeros(shape, dtype=bool)
    mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = True
    sigma = float(rng.uniform(0, 3)) / vox
    signal = {}
    for seq in SEQUENCES:
        vol = rng.standard_normal(shape).astype(np.float32)
        if sigma > 0.3:
            vol = ndimage.gaussian_filter(vol, sigma)
            vol /= vol.std() + 1e-6
        signal[seq] = np.abs(0.8 + 0.4 * vol) * mask
    return _finish(signal, mask, rng, 0.02)


def _body(shape: tuple[int, int, int], vox: float, rng: np.random.Generator) -> dict:
    x, y, z = _coords(shape, vox)
    # Relative signal per tissue (flair, t1, t1ce, t2): fat bright on T1/T2, bone dark.
    fat = {"flair": 0.9, "t1": 1.4, "t1ce": 1.4, "t2": 1.2}
    muscle = {"flair": 0.5, "t1": 0.6, "t1ce": 0.65, "t2": 0.45}
    organ = {"flair": 0.6, "t1": 0.75, "t1ce": 1.0, "t2": 0.6}
    bone = {"flair": 0.1, "t1": 0.1, "t1ce": 0.1, "t2": 0.1}
    marrow = {"flair": 0.8, "t1": 1.2, "t1ce": 1.2, "t2": 0.9}
    fluid = {"flair": 0.2, "t1": 0.3, "t1ce": 0.3, "t2": 1.6}
    parts: list[tuple[np.ndarray, dict]] = []
    if rng.random() < 0.5:  # torso slab: fills the field of view across, spine at the back
        ax, ay = rng.uniform(105, 125), rng.uniform(80, 110)
        outer = (x / ax) ** 2 + (y / ay) ** 2 + 0 * z < 1
        inner = (x / (ax - 12)) ** 2 + (y / (ay - 12)) ** 2 + 0 * z < 1
        spine = ((x) ** 2 + (y + ay * 0.7) ** 2 + 0 * z) < 18**2
        liver = ((x + 30) / 60) ** 2 + ((y - 5) / 50) ** 2 + ((z - 10) / 70) ** 2 < 1
        kid_l = ((x - 55) / 20) ** 2 + ((y + 30) / 25) ** 2 + (z / 45) ** 2 < 1
        kid_r = ((x + 55) / 20) ** 2 + ((y + 30) / 25) ** 2 + (z / 45) ** 2 < 1
        bowel = ((x - 20) / 40) ** 2 + ((y - 30) / 35) ** 2 + ((z + 20) / 50) ** 2 < 1
        mask = outer
        parts = [(outer, fat), (inner, muscle), (liver & inner, organ), (bowel & inner, fluid),
                 (kid_l & inner, organ), (kid_r & inner, organ), (spine, bone)]
    else:  # a limb: two bones along z inside muscle inside fat
        r = rng.uniform(45, 70)
        outer = (x**2 + y**2 + 0 * z) < r**2
        inner = (x**2 + y**2 + 0 * z) < (r - 8) ** 2
        b1 = ((x - 12) ** 2 + y**2 + 0 * z) < 12**2
        m1 = ((x - 12) ** 2 + y**2 + 0 * z) < 8**2
        b2 = ((x + 20) ** 2 + (y - 8) ** 2 + 0 * z) < 7**2
        mask = outer
        parts = [(outer, fat), (inner, muscle), (b1, bone), (m1, marrow), (b2, bone)]
    signal = {}
    for seq in SEQUENCES:
        vol = np.zeros(shape, dtype=np.float32)
        for region, table in parts:
            vol[np.broadcast_to(region, shape)] = table[seq] * float(rng.uniform(0.9, 1.1))
        signal[seq] = vol
    return _finish(signal, np.broadcast_to(mask, shape), rng, float(rng.uniform(0.015, 0.04)))


def _brain(vox: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    from app.pipeline.synthetic.tumour_types import generate_tumour_case

    kind = TUMOUR_TYPES[int(rng.integers(len(TUMOUR_TYPES)))]
    return generate_tumour_case(kind, rng, voxel_mm=vox).volumes


def _corrupted(vox: float, rng: np.random.Generator) -> dict:
    volumes = {k: v.astype(np.float32) for k, v in _brain(vox, rng).items()}
    brain = volumes["flair"] > 0
    kinds = rng.choice(["noise", "ghost", "slab", "bias"], size=2, replace=False)
    shape = brain.shape
    for seq in SEQUENCES:
        vol = volumes[seq]
        level = float(np.median(vol[brain]))
        if "noise" in kinds:
            vol += rng.normal(0, rng.uniform(0.5, 1.0) * level, shape).astype(np.float32) * brain
        if "ghost" in kinds:  # motion ghosts along the phase-encoding axis
            for _ in range(3):
                vol += np.roll(vol, int(rng.integers(15, 50) / vox), axis=1) * float(
                    rng.uniform(0.3, 0.6))
        if "bias" in kinds:
            x, y, z = _coords(shape, vox)
            vol *= np.exp(rng.normal(0, 1.5) * x / 80 + rng.normal(0, 1.5) * y / 80
                          + 1.5 * np.sin(z / 15)).astype(np.float32)
        volumes[seq] = vol
    if "slab" in kinds:
        axis = int(rng.integers(3))
        start = int(rng.uniform(0.3, 0.5) * shape[axis])
        stop = start + int(rng.uniform(0.2, 0.35) * shape[axis])
        sl = [slice(None)] * 3
        sl[axis] = slice(start, stop)
        for seq in SEQUENCES:
            volumes[seq][tuple(sl)] = 0
    mask = volumes["flair"] != 0
    return {s: np.where(mask, np.clip(np.abs(v), 1, 32767), 0).astype(np.int16)
            for s, v in volumes.items()}


def _wrong_contrast(vox: float, rng: np.random.Generator) -> dict:
    volumes = _brain(vox, rng)
    t2_slot = ("t1", "t1ce")[int(rng.integers(2))]
    others = [s for s in SEQUENCES if s != "t2"]
    rng.shuffle(others)
    order = {t2_slot: "t2"}
    free = [s for s in SEQUENCES if s != t2_slot]
    for slot, src in zip(free, others, strict=True):
        order[slot] = src
    out = {slot: volumes[src].copy() for slot, src in order.items()}
    flip = SEQUENCES[int(rng.integers(4))]
    vol = out[flip].astype(np.float32)
    brain = vol > 0
    top = float(np.percentile(vol[brain], 99))
    out[flip] = np.where(brain, np.clip(top - vol, 1, 32767), 0).astype(np.int16)
    return out


def generate_ood_case(
    kind: str, rng: np.random.Generator | int | None = None, *, voxel_mm: float = 1.0
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Return (four int16 volumes keyed by SEQUENCES, affine) of one OOD input of ``kind``.

    ``kind`` is one of OOD_KINDS; the grid is BraTS's field of view at ``voxel_mm``. ValueError
    for an unknown kind.
    """
    if kind not in OOD_KINDS:
        raise ValueError(f"unknown OOD kind {kind!r}; expected one of {OOD_KINDS}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    shape, affine = _grid(float(voxel_mm))
    if kind == "ellipsoid":
        volumes = _ellipsoid(shape, voxel_mm, rng)
    elif kind == "noise":
        volumes = _noise(shape, voxel_mm, rng)
    elif kind == "body":
        volumes = _body(shape, voxel_mm, rng)
    elif kind == "corrupted":
        volumes = _corrupted(voxel_mm, rng)
    else:
        volumes = _wrong_contrast(voxel_mm, rng)
    return volumes, affine
