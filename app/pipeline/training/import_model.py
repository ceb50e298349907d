"""Import a model saved by the original notebook (Keras 2: ``to_json()`` + ``save_weights(h5)``).

``flask model import --json model.json --weights model.h5 --layout seed-strip --out models/NAME``
rebuilds the architecture with Keras 3's
legacy-config reader, loads the Keras 2 HDF5 weights (``layer_names`` / ``weight_names`` layout),
writes our card (architecture "keras-json": the Keras 3 JSON + float16 weights beside it) and
proves the result loads by classifying a synthetic phantom through the normal inference path.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.pipeline.classes import CLASSES
from app.pipeline.io.naming import SEQUENCES
from app.pipeline.models.card import CardError, ModelCard, layout_rationale, sha256_file
from app.pipeline.models.prediction import SubtypeResult

log = logging.getLogger(__name__)

MODEL_JSON = "model.json"


def read_keras2_model(json_path: str | Path, weights_path: str | Path) -> Any:
    """Return a Keras 3 model rebuilt from a Keras 2 JSON config with its HDF5 weights loaded.

    CardError when the JSON is not a Keras model config or the weights do not fit it.
    """
    from app.pipeline.models import tf_runtime

    tf_runtime.configure()
    import h5py
    from keras.src.legacy.saving import legacy_h5_format, saving_utils

    try:
        config = json.loads(Path(json_path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CardError(f"cannot read model JSON {json_path}: {exc}") from exc
    try:
        model = saving_utils.model_from_config(config)
    except (TypeError, ValueError, KeyError) as exc:
        raise CardError(f"{json_path} is not a Keras model config Keras 3 can read: {exc}") from exc
    try:
        with h5py.File(weights_path, "r") as fh:
            group = fh["model_weights"] if "model_weights" in fh else fh
            legacy_h5_format.load_weights_from_hdf5_group(group, model)
    except (OSError, ValueError, KeyError) as exc:
        raise CardError(f"weights {weights_path} do not fit the model: {exc}") from exc
    return model


def import_model(
    json_path: str | Path,
    weights_path: str | Path,
    out_dir: str | Path,
    *,
    layout: str = "seed-strip",
    name: str | None = None,
    classes: Sequence[str] = CLASSES,
    normalisation: str = "minmax",
    slice_method: str = "seed",
    uncertainty_k: int = 2,
    training_data: str = "unknown (imported from the original notebook)",
    check: bool = True,
) -> tuple[ModelCard, SubtypeResult | None]:
    """Import the model and write ``out_dir``/card.json, model.json and float16 weights.

    Returns (card, SubtypeResult of a phantom case, or None when ``check`` is False). The model's
    input must be square with 3 channels for "seed-strip" (4 for "channels4") and its output must
    have len(classes) units; CardError otherwise.
    """
    from app.pipeline.models.subtype import save_weights_f16

    model = read_keras2_model(json_path, weights_path)
    shape = tuple(model.inputs[0].shape[1:])
    n_out = int(model.outputs[0].shape[-1])
    want_c = 3 if layout == "seed-strip" else 4
    if len(shape) != 3 or shape[0] != shape[1] or shape[2] != want_c:
        raise CardError(f"layout {layout} needs a square {want_c}-channel input, model has {shape}")
    if n_out != len(classes):
        raise CardError(f"the model has {n_out} outputs but {len(classes)} classes were given")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / MODEL_JSON).write_text(model.to_json(), encoding="utf-8")
    card = ModelCard(
        task="subtype",
        name=name or out.name,
        classes=list(classes),
        layout=layout,
        image_size=int(shape[0]),
        channels=want_c,
        normalisation={s: {"method": normalisation, "clip": 5.0} for s in SEQUENCES},
        slice_method=slice_method,
        uncertainty_k=uncertainty_k,
        architecture="keras-json",
        model_json=MODEL_JSON,
        training_data=training_data,
        layout_rationale=layout_rationale(layout, int(shape[0])),
        intended_use="Imported from the original notebook; validate with `flask model evaluate`.",
        training={"imported_from": {"json": Path(json_path).name,
                                    "weights": Path(weights_path).name,
                                    "weights_sha256": sha256_file(weights_path)}},
    )
    weights = save_weights_f16(model, out / card.weights_file)
    card.weights_sha256 = sha256_file(weights)
    card.save(out)
    result = check_on_phantom(out) if check else None
    return card, result


def check_on_phantom(model_dir: str | Path, cls: str = "G", seed: int = 0) -> SubtypeResult:
    """Load ``model_dir`` like the worker does and classify one phantom case; return the result.

    Uses a 2 mm phantom (fast) written to a temporary folder and read back with load_case.
    """
    from app.pipeline.io.case_loader import load_case
    from app.pipeline.lesion.slice_finder import find_slice
    from app.pipeline.models.subtype import Classifier
    from app.pipeline.synthetic.phantoms import generate_case, write_case

    classifier = Classifier.load(model_dir)
    with tempfile.TemporaryDirectory() as tmp:
        write_case(generate_case(cls, seed, voxel_mm=2.0), tmp, "CHECK")
        case = load_case({s: Path(tmp) / f"CHECK_{s}.nii.gz" for s in classifier.card.sequences})
        found = find_slice(
            classifier.card.slice_method, case.flair, case.voxel_size,
            **classifier.card.slice_params,
        )
        return classifier.classify(case, found)
