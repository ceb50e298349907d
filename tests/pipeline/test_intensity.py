"""The one robust z-score and brain mask shared by the slice finder and the model inputs."""

from __future__ import annotations

import numpy as np
import pytest

from app.pipeline.intensity import brain_mask, robust_centre_scale
from app.pipeline.io.case_loader import percent


def test_robust_scale_of_a_normal_sample_is_its_sigma():
    values = np.random.default_rng(0).normal(100.0, 15.0, 200_000)
    centre, scale = robust_centre_scale(values)
    assert centre == pytest.approx(100.0, abs=0.3) and scale == pytest.approx(15.0, rel=0.02)


def test_outliers_do_not_move_the_robust_scale():
    values = np.r_[np.random.default_rng(1).normal(0, 1, 10_000), np.full(500, 1e6)]
    assert robust_centre_scale(values)[1] == pytest.approx(1.0, rel=0.1)


def test_flat_values_fall_back_to_a_positive_scale():
    assert robust_centre_scale(np.r_[np.zeros(100), 10.0])[1] > 0
    assert robust_centre_scale(np.full(10, 3.0)) == (3.0, 1.0)
    with pytest.raises(ValueError):
        robust_centre_scale(np.array([]))


def test_brain_mask_uses_the_zero_background_of_skull_stripped_scans():
    vol = np.zeros((10, 10, 10), np.float32)
    vol[2:8, 2:8, 2:8] = 5.0
    assert brain_mask(vol).sum() == 216


@pytest.mark.parametrize("fraction, text", [
    (1.0, "100%"), (0.5, "50%"), (0.0042, "0.42%"), (0.0999, "10%"), (0.05, "5%"),
])
def test_percentages_read_like_a_person_wrote_them(fraction, text):
    assert percent(fraction) == text
