"""Fixtures for the classifier tests: phantom cases on disk, a tiny stand-in model in card format.

The stand-in is a two-convolution Keras model saved exactly like a real model folder
(architecture "keras-json": model.json + float16 weights + card.json), so everything except the
ResNet50 itself runs fast. The real demo model is used by the tests marked slow.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from app.pipeline.io.naming import SEQUENCES
from app.pipeline.models.card import ModelCard, sha256_file

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[2]
DEMO_MODEL = REPO / "models" / "glioma-demo"
TINY_SIZE = 32


def write_phantom(out_dir: Path, cls: str, seed: int, voxel_mm: float = 2.0) -> dict[str, Path]:
    """Write one phantom case into ``out_dir`` and return its {sequence: path}."""
    from app.pipeline.synthetic.phantoms import generate_case, write_case

    write_case(generate_case(cls, seed, voxel_mm=voxel_mm), out_dir, f"CASE{seed}")
    return {s: out_dir / f"CASE{seed}_{s}.nii.gz" for s in SEQUENCES}


@pytest.fixture(scope="session")
def phantom_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 2 mm glioblastoma phantom (120×120×78) on disk."""
    return write_phantom(tmp_path_factory.mktemp("phantom"), "G", 3)


@pytest.fixture(scope="session")
def phantom_case(phantom_paths: dict[str, Path]):
    """The 2 mm phantom loaded as a LoadedCase, with its slice-finder result."""
    from app.pipeline.io.case_loader import load_case
    from app.pipeline.lesion.slice_finder import find_slice

    case = load_case(phantom_paths)
    return case, find_slice("robust", case.flair, case.voxel_size)


def build_tiny_model(channels: int = 4, size: int = TINY_SIZE, seed: int = 0):
    """Return a small functional Keras model with the layer names our Grad-CAM expects."""
    from app.pipeline.models import tf_runtime

    tf_runtime.configure()
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, channels), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inp)
    x = keras.layers.MaxPooling2D(4, name="pool")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="last_conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    logits = keras.layers.Dense(3, name="logits")(x)
    out = keras.layers.Activation("softmax", name="probabilities")(logits)
    return keras.Model(inp, out, name="tiny")


def save_tiny_model(model_dir: Path, **card_fields) -> ModelCard:
    """Write a tiny stand-in model folder (card + model.json + float16 weights); return the card."""
    from app.pipeline.models.subtype import save_weights_f16

    model_dir.mkdir(parents=True, exist_ok=True)
    model = build_tiny_model()
    (model_dir / "model.json").write_text(model.to_json(), encoding="utf-8")
    card = ModelCard(
        task="subtype", name="tiny-test", image_size=TINY_SIZE, architecture="keras-json",
        model_json="model.json", gradcam_layer="last_conv", training_data="none (test)",
        **card_fields,
    )
    save_weights_f16(model, model_dir / card.weights_file)
    card.weights_sha256 = sha256_file(model_dir / card.weights_file)
    card.save(model_dir)
    return card


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder holding the tiny stand-in model."""
    model_dir = tmp_path_factory.mktemp("tiny_model")
    save_tiny_model(model_dir)
    return model_dir


@pytest.fixture(scope="session")
def tiny_classifier(tiny_model_dir: Path):
    """The tiny stand-in loaded as a Classifier and warmed up."""
    from app.pipeline.models.subtype import Classifier

    classifier = Classifier.load(tiny_model_dir)
    classifier.warm_up()
    return classifier


@pytest.fixture(scope="session")
def demo_classifier():
    """The shipped ResNet50 demo model (skips when it is not in models/ yet)."""
    if not (DEMO_MODEL / "card.json").is_file():
        pytest.skip("models/glioma-demo is not present")
    from app.pipeline.models.subtype import Classifier

    classifier = Classifier.load(DEMO_MODEL)
    classifier.warm_up()
    return classifier


def blob_slices(shape=(60, 70, 3), centre=(20, 45), radius=4, seed=0) -> dict[str, np.ndarray]:
    """Per-sequence (X, Y, N) slabs: an elliptical brain with a bright disc at ``centre``."""
    rng = np.random.default_rng(seed)
    x, y = np.indices(shape[:2], dtype=np.float32)
    brain = ((x - 30) / 26) ** 2 + ((y - 35) / 30) ** 2 < 1
    disc = (x - centre[0]) ** 2 + (y - centre[1]) ** 2 < radius**2
    out = {}
    for i, seq in enumerate(SEQUENCES):
        plane = np.where(brain, 500.0 * (i + 1), 0.0) + np.where(disc & brain, 2000.0, 0.0)
        slab = np.repeat(plane[:, :, None], shape[2], axis=2)
        slab = slab + brain[:, :, None] * rng.normal(0, 10, shape)
        out[seq] = slab.astype(np.float32)
    return out


@pytest.fixture(scope="session")
def tiny_models(tiny_classifier):
    """A ModelSet serving the subtype task with the tiny stand-in."""
    from app.pipeline.models.registry import ModelSet

    return ModelSet({"subtype": tiny_classifier})
