"""Intensity statistics within the brain, shared by lesion finding and model inputs.

One robust z-score (median, IQR / 1.349) and one brain mask, so that the slice finder and the
model inputs can never disagree on what "normal brain" means. Pure numpy.
"""

from __future__ import annotations

import numpy as np

IQR_TO_SIGMA = 1.349
"""The IQR of a normal distribution in standard deviations: IQR / 1.349 estimates sigma."""


def robust_centre_scale(values: np.ndarray) -> tuple[float, float]:
    """Return (median, IQR / 1.349) of ``values``: the centre and scale of a robust z-score.

    When the IQR is zero (a flat region) the scale falls back to the standard deviation, and to
    1.0 when that is zero too, so the scale is always positive. ValueError for an empty array.
    """
    values = np.asarray(values)
    if values.size == 0:
        raise ValueError("robust statistics of an empty array")
    q25, median, q75 = np.percentile(values, [25, 50, 75])
    scale = float(q75 - q25) / IQR_TO_SIGMA
    if scale <= 0:
        scale = float(values.std()) or 1.0
    return float(median), scale


def brain_mask(flair: np.ndarray) -> np.ndarray:
    """Return a boolean brain mask: non-zero voxels of a skull-stripped scan, else a relative cut.

    Skull-stripped BraTS-style data have an exact-zero background; when at least 5% of the voxels
    are exactly zero the brain is the non-zero voxels. Otherwise the brain is taken as voxels above
    10% of the 99th percentile. Refuses nothing.
    """
    zero = flair == 0
    if np.count_nonzero(zero) >= 0.05 * flair.size:
        return ~zero
    high = float(np.percentile(flair[::4, ::4, ::4], 99))
    return flair > 0.1 * high
