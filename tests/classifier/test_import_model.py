"""Importing a Keras-2-era model (to_json + save_weights h5) built here in that exact format."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from app.pipeline.models.card import CardError, ModelCard
from app.pipeline.training.import_model import import_model

_INIT = {"kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
         "bias_initializer": {"class_name": "Zeros", "config": {}},
         "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
         "kernel_constraint": None, "bias_constraint": None}


def keras2_json(size: int = 32) -> dict:
    """A Keras 2.13 ``model.to_json()`` of Input -> Conv2D -> GAP -> Dense(3, softmax)."""
    def node(name):
        return [[[name, 0, 0, {}]]]

    layers = [
        {"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, size, size, 3], "dtype": "float32",
                    "sparse": False, "ragged": False, "name": "input_1"}},
        {"class_name": "Conv2D", "name": "conv2d", "inbound_nodes": node("input_1"),
         "config": {"name": "conv2d", "trainable": True, "dtype": "float32", "filters": 4,
                    "kernel_size": [3, 3], "strides": [1, 1], "padding": "same",
                    "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1,
                    "activation": "relu", "use_bias": True, **_INIT}},
        {"class_name": "GlobalAveragePooling2D", "name": "global_average_pooling2d",
         "inbound_nodes": node("conv2d"),
         "config": {"name": "global_average_pooling2d", "trainable": True, "dtype": "float32",
                    "data_format": "channels_last", "keepdims": False}},
        {"class_name": "Dense", "name": "dense", "inbound_nodes": node("global_average_pooling2d"),
         "config": {"name": "dense", "trainable": True, "dtype": "float32", "units": 3,
                    "activation": "softmax", "use_bias": True, **_INIT}},
    ]
    return {"class_name": "Functional", "keras_version": "2.13.1", "backend": "tensorflow",
            "config": {"name": "model", "trainable": True, "layers": layers,
                       "input_layers": [["input_1", 0, 0]], "output_layers": [["dense", 0, 0]]}}


def keras2_weights(path, weights: dict[str, list[tuple[str, np.ndarray]]]) -> None:
    """Write an HDF5 file in Keras 2's save_weights layout (layer_names / weight_names)."""
    names = ["input_1", "conv2d", "global_average_pooling2d", "dense"]
    with h5py.File(path, "w") as fh:
        fh.attrs["layer_names"] = np.array([n.encode() for n in names])
        fh.attrs["backend"] = b"tensorflow"
        fh.attrs["keras_version"] = b"2.13.1"
        for name in names:
            group = fh.create_group(name)
            entries = weights.get(name, [])
            group.attrs["weight_names"] = np.array([w.encode() for w, _ in entries])
            for wname, value in entries:
                group.create_dataset(wname, data=value)


@pytest.fixture
def notebook_pair(tmp_path):
    rng = np.random.default_rng(0)
    kernel = rng.normal(0, 0.5, (3, 3, 3, 4)).astype(np.float32)
    dense = rng.normal(0, 0.5, (4, 3)).astype(np.float32)
    weights = {
        "conv2d": [("conv2d/kernel:0", kernel), ("conv2d/bias:0", np.full(4, 0.1, np.float32))],
        "dense": [("dense/kernel:0", dense), ("dense/bias:0", np.array([0.0, 0.2, -0.2], "f4"))],
    }
    json_path = tmp_path / "model.json"
    json_path.write_text(json.dumps(keras2_json()))
    h5_path = tmp_path / "model.h5"
    keras2_weights(h5_path, weights)
    return json_path, h5_path, weights


def test_import_round_trip(notebook_pair, tmp_path):
    json_path, h5_path, weights = notebook_pair
    out = tmp_path / "imported"
    card, result = import_model(json_path, h5_path, out, layout="seed-strip")
    assert card.layout == "seed-strip" and card.image_size == 32 and card.channels == 3
    assert card.architecture == "keras-json" and (out / "model.json").is_file()
    assert ModelCard.load(out) == card
    # The phantom check went through the normal inference path.
    assert result.label in ("A", "O", "G")
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-6)

    from app.pipeline.models.subtype import Classifier

    classifier = Classifier.load(out)
    loaded = classifier.model.get_layer("conv2d").get_weights()[0]
    assert np.allclose(loaded, weights["conv2d"][0][1], atol=2e-3)  # float16 storage
    x = np.random.default_rng(1).uniform(0, 1, (2, 32, 32, 3)).astype(np.float32)
    kernel, bias = weights["conv2d"][0][1], weights["conv2d"][1][1]
    expected = _numpy_forward(x, kernel, bias, weights["dense"][0][1], weights["dense"][1][1])
    assert np.allclose(classifier.predict(x), expected, atol=1e-3)


def _numpy_forward(x, kernel, bias, dense_w, dense_b):
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    conv = np.zeros(x.shape[:3] + (kernel.shape[-1],), np.float32)
    for i in range(3):
        for j in range(3):
            conv += padded[:, i : i + x.shape[1], j : j + x.shape[2], :] @ kernel[i, j]
    feat = np.maximum(conv + bias, 0).mean(axis=(1, 2))
    logits = feat @ dense_w + dense_b
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_mismatched_weights_and_layouts_are_refused(notebook_pair, tmp_path):
    json_path, h5_path, weights = notebook_pair
    with pytest.raises(CardError, match="channel"):
        import_model(json_path, h5_path, tmp_path / "x", layout="channels4", check=False)
    bad = dict(weights, dense=[("dense/kernel:0", np.zeros((5, 3), "f4")),
                               ("dense/bias:0", np.zeros(3, "f4"))])
    keras2_weights(tmp_path / "bad.h5", bad)
    with pytest.raises(CardError, match="do not fit"):
        import_model(json_path, tmp_path / "bad.h5", tmp_path / "y", check=False)


def test_cli_reports_refusal(tmp_path, runner):
    (tmp_path / "m.json").write_text("{not json")
    (tmp_path / "w.h5").write_bytes(b"")
    result = runner.invoke(args=["model", "import", "--json", str(tmp_path / "m.json"),
                                 "--weights", str(tmp_path / "w.h5"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot read model JSON")
