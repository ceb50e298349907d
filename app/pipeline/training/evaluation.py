"""Evaluate a model on a labelled folder with the CPM-RadPath challenge metrics.

``flask model evaluate --model models/NAME --data DIR --labels CSV`` prints F1-micro, Cohen's
kappa and balanced accuracy plus per-class precision and recall, saves a confusion-matrix PNG,
and can write the metrics into the model card. Every case goes through the inference path
(``inputs.prepare_case``, the same mean-over-slices probabilities).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from app.pipeline.classes import CLASSES
from app.pipeline.models.card import ModelCard
from app.pipeline.training.dataset import extract_cases, labelled_cases
from app.pipeline.training.metrics import case_metrics

log = logging.getLogger(__name__)


def evaluate(
    model_dir: str | Path,
    data_dir: str | Path,
    labels_csv: str | Path,
    *,
    confusion_png: str | Path | None = None,
    write_card: bool = False,
    card_key: str = "evaluation",
    workers: int = 2,
    data_description: str | None = None,
    float32_reference: str | Path | None = None,
) -> dict[str, Any]:
    """Return the metrics dict of the model in ``model_dir`` on the labelled cases of ``data_dir``.

    Keys: n, f1_micro, kappa, balanced_accuracy, per_class {A,O,G: precision, recall, support},
    confusion (rows true, columns predicted), low_confidence_cases, skipped, data, date. Saves the
    confusion matrix as PNG when ``confusion_png`` is given; with ``write_card`` stores the metrics
    in the card under ``metrics[card_key]`` (dated in the metrics; the key ``evaluation`` is the
    one the UI and README quote, other keys hold further test sets). ValueError when no
    labelled case is found; CardError for a broken model folder.

    ``float32_reference`` names the float32 weights the model was trained to (``flask model
    train --save-float32``); the largest per-slice class-probability difference between them and the
    model's stored weights is then reported as ``float16_max_abs_prob_diff``. CardError when
    that file does not match the model.
    """
    from tqdm import tqdm

    from app.pipeline.models.subtype import Classifier

    classifier = Classifier.load(model_dir)
    card = classifier.card
    items = labelled_cases(data_dir, labels_csv)
    y_true, y_pred, low = [], [], 0
    reference = _reference_model(classifier.model, float32_reference) if float32_reference else None
    f16_diff = 0.0
    with tqdm(total=len(items), unit="case", desc="evaluate", file=sys.stderr) as bar:
        for case in extract_cases(
            items, card, workers=workers, progress=lambda d, t: bar.update(d - bar.n)
        ):
            result = classifier.classify_prepared(
                case.prepared, no_lesion_found=case.no_lesion_found
            )
            y_true.append(CLASSES.index(case.label))
            y_pred.append(CLASSES.index(result.label))
            low += int(result.low_confidence)
            if reference is not None:
                stored = classifier.model(case.batch, training=False).numpy()
                exact = reference(case.batch, training=False).numpy()
                f16_diff = max(f16_diff, float(np.abs(stored - exact).max()))
    metrics = case_metrics(y_true, y_pred, len(CLASSES))
    metrics["low_confidence_cases"] = low
    metrics["skipped"] = len(items) - len(y_true)
    if reference is not None:
        metrics["float16_max_abs_prob_diff"] = f16_diff
    metrics["data"] = data_description or f"{len(items)} labelled cases in {Path(data_dir).name}"
    metrics["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    if confusion_png:
        write_confusion_png(np.asarray(metrics["confusion"]), confusion_png)
    if write_card:
        card = ModelCard.load(model_dir)
        card.metrics[card_key] = metrics
        card.save(model_dir)
    return metrics


def _reference_model(model: Any, weights_npz: str | Path) -> Any:
    """Return a copy of ``model`` holding the float32 weights of ``weights_npz``.

    The file is one written by ``flask train --save-float32`` (the float16 file format with every
    array kept float32). CardError when it does not match the model.
    """
    import keras

    from app.pipeline.models.subtype import load_weights_f16

    reference = keras.models.clone_model(model)
    load_weights_f16(reference, weights_npz)
    return reference


def format_metrics(metrics: dict[str, Any]) -> str:
    """Return the metrics as the plain-text report printed by the command."""
    lines = [
        f"cases: {metrics['n']} (skipped {metrics.get('skipped', 0)}, "
        f"low confidence {metrics.get('low_confidence_cases', 0)})",
        f"F1-micro:          {metrics['f1_micro']:.3f}",
        f"Cohen's kappa:     {metrics['kappa']:.3f}",
        f"balanced accuracy: {metrics['balanced_accuracy']:.3f}",
        "class  precision  recall  support",
    ]
    for cls, row in metrics["per_class"].items():
        lines.append(f"{cls:<6} {row['precision']:9.3f} {row['recall']:7.3f} {row['support']:8d}")
    if "float16_max_abs_prob_diff" in metrics:
        lines.append(f"float16 storage, max |Δprob| vs float32: "
                     f"{metrics['float16_max_abs_prob_diff']:.2e}")
    lines.append("confusion (rows true A/O/G, columns predicted A/O/G):")
    lines += ["  " + " ".join(f"{v:4d}" for v in row) for row in metrics["confusion"]]
    return "\n".join(lines)


def write_confusion_png(confusion: np.ndarray, path: str | Path, cell: int = 64) -> Path:
    """Draw a confusion matrix (rows true, columns predicted) as a PNG with Pillow; return path."""
    from PIL import Image, ImageDraw

    from app.pipeline.render.saliency import cividis_lut

    k = confusion.shape[0]
    margin = 40
    size = margin + k * cell + 8
    img = Image.new("RGB", (size, size + 16), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    lut = cividis_lut()
    row_sums = np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    frac = confusion / row_sums
    for i in range(k):
        draw.text((8, margin + i * cell + cell // 2 - 6), CLASSES[i], fill=(0, 0, 0))
        draw.text((margin + i * cell + cell // 2 - 3, 22), CLASSES[i], fill=(0, 0, 0))
        for j in range(k):
            colour = tuple(int(c) for c in lut[int(round(frac[i, j] * 255))])
            x0, y0 = margin + j * cell, margin + i * cell
            draw.rectangle([x0, y0, x0 + cell - 2, y0 + cell - 2], fill=colour)
            text = (0, 0, 0) if frac[i, j] > 0.5 else (255, 255, 255)
            label = str(int(confusion[i, j]))
            draw.text((x0 + cell // 2 - 8, y0 + cell // 2 - 6), label, fill=text)
    draw.text((margin, 4), "predicted", fill=(0, 0, 0))
    draw.text((4, size), "rows: true class", fill=(0, 0, 0))
    img.save(path, format="PNG")
    return Path(path)
