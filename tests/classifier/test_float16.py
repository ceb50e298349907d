"""Float16 weight files: small, shape-checked, and within 1e-3 in probability of float32."""

from __future__ import annotations

import numpy as np
import pytest

from app.pipeline.model_card import CardError

from .conftest import build_tiny_model


def test_float16_weights_round_trip(tmp_path):
    from app.pipeline.classifier import load_weights_f16, save_weights_f16

    model = build_tiny_model(seed=1)
    path = save_weights_f16(model, tmp_path / "w.npz")
    with np.load(path) as npz:
        assert all(npz[k].dtype == np.float16 for k in npz.files if k.startswith("w"))
    x = np.random.default_rng(0).uniform(0, 10, (8, 32, 32, 4)).astype(np.float32)
    reference = model.predict(x, verbose=0)
    fresh = build_tiny_model(seed=2)
    load_weights_f16(fresh, path)
    assert np.abs(fresh.predict(x, verbose=0) - reference).max() < 1e-3
    other = build_tiny_model(channels=3, seed=1)
    with pytest.raises(CardError, match="shape"):
        load_weights_f16(other, path)


@pytest.mark.slow
def test_demo_model_float16_error_is_recorded_and_small(demo_classifier):
    card = demo_classifier.card
    assert card.float16_max_abs_prob_diff is not None and card.float16_max_abs_prob_diff < 1e-3
    size = (demo_classifier.card.weights_path(demo_classifier.model_dir)).stat().st_size
    assert size <= 50_000_000
