"""Fixtures for the imaging pipeline: small synthetic brains and a NIfTI file maker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from app.pipeline.io.naming import SEQUENCES

SMALL_SHAPE = (40, 48, 36)


def small_brain(
    shape: tuple[int, int, int] = SMALL_SHAPE,
    lesion_centre: tuple[int, int, int] | None = (24, 26, 20),
    lesion_radius: float = 5.0,
    seed: int = 0,
) -> np.ndarray:
    """A skull-stripped-looking float32 volume: noisy ellipsoid brain (~600), one bright lesion."""
    rng = np.random.default_rng(seed)
    idx = np.indices(shape, dtype=np.float32)
    centre = (np.asarray(shape, dtype=np.float32) - 1) / 2
    semi = np.asarray(shape, dtype=np.float32) * 0.42
    inside = (((idx - centre[:, None, None, None]) / semi[:, None, None, None]) ** 2).sum(0) < 1
    vol = np.where(inside, 600 + rng.normal(0, 20, shape), 0).astype(np.float32)
    if lesion_centre is not None:
        dist = np.sqrt(
            ((idx - np.asarray(lesion_centre, dtype=np.float32)[:, None, None, None]) ** 2).sum(0)
        )
        vol[(dist < lesion_radius) & inside] = 1200
    return vol


def save_nifti(
    path: Path,
    data: np.ndarray,
    affine: np.ndarray | None = None,
    *,
    nifti2: bool = False,
    dtype: type | None = None,
) -> Path:
    """Write ``data`` to ``path`` (.nii or .nii.gz by name) and return the path."""
    affine = np.eye(4) if affine is None else affine
    klass = nib.Nifti2Image if nifti2 else nib.Nifti1Image
    img = klass(np.asarray(data, dtype=dtype) if dtype else data, affine)
    nib.save(img, path)
    return path


def set_scaling(path: Path, slope: float, inter: float) -> None:
    """Patch scl_slope / scl_inter into an uncompressed NIfTI-1 file (nibabel resets them)."""
    raw = bytearray(path.read_bytes())
    raw[112:120] = np.array([slope, inter], dtype="<f4").tobytes()
    path.write_bytes(bytes(raw))


def lps_twin(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the same image stored in LPS order (x and y flipped) with the matching affine."""
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    flip[0, 3] = data.shape[0] - 1
    flip[1, 3] = data.shape[1] - 1
    return np.ascontiguousarray(data[::-1, ::-1, :]), affine @ flip


def swapped_twin(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the same image stored with axes (z, x, y) and the matching affine."""
    perm = np.zeros((4, 4))
    perm[0, 1] = perm[1, 2] = perm[2, 0] = perm[3, 3] = 1.0  # stored (k, i, j) -> (i, j, k)
    return np.ascontiguousarray(np.transpose(data, (2, 0, 1))), affine @ perm


@pytest.fixture
def brain() -> np.ndarray:
    """A small float32 brain volume with one bright lesion."""
    return small_brain()


@pytest.fixture
def case_writer(tmp_path: Path) -> Callable[..., dict[str, Path]]:
    """Factory: write a four-sequence case (optionally transformed) and return its paths."""

    def write(
        volumes: dict[str, np.ndarray] | None = None,
        affine: np.ndarray | None = None,
        suffix: str = ".nii.gz",
        folder: str = "case",
        transform: Callable | None = None,
        **kwargs,
    ) -> dict[str, Path]:
        affine = np.diag([1.0, 1.0, 1.0, 1.0]) if affine is None else affine
        out = tmp_path / folder
        out.mkdir(exist_ok=True)
        if volumes is None:
            base = small_brain()
            volumes = {seq: base * (1 + 0.1 * i) for i, seq in enumerate(SEQUENCES)}
        paths = {}
        for seq, data in volumes.items():
            aff = affine
            if transform is not None:
                data, aff = transform(data, affine)
            paths[seq] = save_nifti(out / f"{seq}{suffix}", data, aff, **kwargs)
        return paths

    return write
