"""Float16 weight files: small, shape-checked, and within 1e-3 in probability of float32."""

from __future__ import annotations

import numpy as np
import pytest

from app.pipeline.models.card import CardError

from .conftest import build_tiny_model


def test_float16_weights_round_trip(tmp_path):
    from app.pipeline.models.subtype import load_weights_f16, save_weights_f16

    model = build_tiny_model(seed=1)
    path = save_weights_f16(model, tmp_path / "w.npz")
    with np.load(path) as npz:
        arrays = [npz[k] for k in npz.files if k.startswith("w")]
        assert all(a.dtype == np.float16 for a in arrays if a.ndim >= 2)  # kernels
        assert all(a.dtype == np.float32 for a in arrays if a.ndim < 2)  # biases, BN
    x = np.random.default_rng(0).uniform(0, 10, (8, 32, 32, 4)).astype(np.float32)
    reference = model.predict(x, verbose=0)
    fresh = build_tiny_model(seed=2)
    load_weights_f16(fresh, path)
    assert np.abs(fresh.predict(x, verbose=0) - reference).max() < 1e-3
    other = build_tiny_model(channels=3, seed=1)
    with pytest.raises(CardError, match="shape"):
        load_weights_f16(other, path)


@pytest.mark.slow
def test_resnet50_writer_keeps_the_sensitive_layers_in_float32(tmp_path):
    from app.pipeline.models.subtype import build_model, load_weights_f16, save_weights_f16

    model = build_model("channels4", 32, 0.3)
    path = save_weights_f16(model, tmp_path / "w.npz")
    with np.load(path) as npz:
        dtypes = {str(n): npz[f"w{i:04d}"].dtype for i, n in enumerate(npz["_names"])}
    assert dtypes["conv1_conv/kernel"] == np.float32
    assert dtypes["conv3_block1_1_conv/kernel"] == np.float32
    assert dtypes["conv5_block3_3_conv/kernel"] == np.float16
    assert dtypes["logits/kernel"] == np.float16
    x = np.random.default_rng(0).uniform(0, 10, (5, 32, 32, 4)).astype(np.float32)
    reference = model.predict(x, verbose=0)
    load_weights_f16(model, path)
    assert np.abs(model.predict(x, verbose=0) - reference).max() < 1e-3


@pytest.mark.slow
def test_demo_model_weights_are_small_and_their_error_recorded(demo_classifier):
    card = demo_classifier.card
    assert card.float16_max_abs_prob_diff is not None  # measured at training time, see the card
    assert "float16" in card.weights_format
    size = card.weights_path(demo_classifier.model_dir).stat().st_size
    assert size <= 50_000_000
