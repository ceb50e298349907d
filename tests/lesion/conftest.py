"""Fixtures for lesion tests: small canonical label maps built from spheres, boxes and discs."""

from __future__ import annotations

import numpy as np
import pytest

SHAPE = (60, 60, 40)


def sphere(shape: tuple[int, int, int], centre: tuple[float, ...], radius: float) -> np.ndarray:
    """Boolean ball of ``radius`` voxels around ``centre``."""
    idx = np.indices(shape, dtype=np.float32)
    d2 = sum((idx[a] - centre[a]) ** 2 for a in range(3))
    return d2 <= radius**2


def ellipse_slice(
    shape: tuple[int, int, int], k: int, centre: tuple[float, float], semi_mm: tuple[float, float],
    voxel_size: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> np.ndarray:
    """Boolean filled ellipse (semi-axes in mm along x and y) on axial slice ``k`` only."""
    out = np.zeros(shape, dtype=bool)
    i, j = np.indices(shape[:2], dtype=np.float32)
    x = (i - centre[0]) * voxel_size[0]
    y = (j - centre[1]) * voxel_size[1]
    out[:, :, k] = (x / semi_mm[0]) ** 2 + (y / semi_mm[1]) ** 2 <= 1
    return out


@pytest.fixture
def empty_map() -> np.ndarray:
    return np.zeros(SHAPE, dtype=np.uint8)


@pytest.fixture
def brain() -> np.ndarray:
    """A symmetric box brain: the midline is the grid centre (x index 29.5)."""
    out = np.zeros(SHAPE, dtype=bool)
    out[10:50, 8:52, 4:36] = True
    return out
