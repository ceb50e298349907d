"""Evaluate a model on a labelled folder with the CPM-RadPath challenge metrics.

``flask model evaluate --model models/NAME --data DIR --labels CSV`` prints F1-micro, Cohen's
kappa and balanced accuracy plus per-class precision and recall, saves a confusion-matrix PNG,
and can write the metrics into the model card. Every case goes through the inference path
(``inputs.prepare_case``, the same mean-over-slices probabilities).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from app.pipeline.classes import CLASSES
from app.pipeline.models.card import Calibration, ModelCard
from app.pipeline.models.prediction import SlabStatistics, softmax, summarise_probabilities
from app.pipeline.training.calibration import (
    LOW_CONFIDENCE_METHOD,
    LOW_CONFIDENCE_SHARE,
    balanced_accuracy,
    bootstrap_ci,
    case_probabilities,
    choose_low_confidence,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
    write_reliability_png,
)
from app.pipeline.training.dataset import extract_cases, labelled_cases
from app.pipeline.training.metrics import case_metrics

log = logging.getLogger(__name__)


@dataclass
class CaseLogits:
    """Per-slice logits of the labelled cases of one folder, as the classifier sees them.

    ``labels`` index the model's classes (card order); ``logits`` holds one (S, K) array per
    case; ``no_lesion`` marks cases where the slice finder found no lesion; ``skipped`` counts
    refused cases; ``float16_max_abs_prob_diff`` is set when a float32 reference was given.
    """

    labels: np.ndarray
    logits: list[np.ndarray]
    no_lesion: np.ndarray
    skipped: int
    float16_max_abs_prob_diff: float | None = None

    def probabilities(self, temperature: float = 1.0) -> np.ndarray:
        """Return the (N, K) case probabilities at ``temperature`` (mean over slices)."""
        return case_probabilities(self.logits, temperature)

    def slab_statistics(self, temperature: float, classes: list[str],
                        limits: dict[str, float]) -> list[SlabStatistics]:
        """Return each case's SlabStatistics (lead, agreement, low_confidence) at T."""
        return [
            summarise_probabilities(softmax(z, temperature), classes,
                                    margin=float(limits.get("margin", 0.2)),
                                    agreement_min=float(limits.get("agreement", 0.6)))
            for z in self.logits
        ]


def collect_logits(
    classifier: Any,
    data_dir: str | Path,
    labels_csv: str | Path,
    *,
    workers: int = 2,
    float32_reference: str | Path | None = None,
) -> CaseLogits:
    """Return the CaseLogits of ``classifier`` on the labelled cases of ``data_dir``.

    Every case goes through the inference path (``inputs.prepare_case``, slices of the card).
    ValueError when no labelled case is found or a label is not one of the model's classes;
    CardError when ``float32_reference`` does not match the model.
    """
    from tqdm import tqdm

    card = classifier.card
    items = labelled_cases(data_dir, labels_csv)
    unknown = sorted({label for _, _, label in items if label not in card.classes})
    if unknown:
        raise ValueError(f"labels {unknown} are not classes of model {card.name} ({card.classes})")
    reference = _reference_model(classifier.model, float32_reference) if float32_reference else None
    labels, logits, no_lesion = [], [], []
    f16_diff = 0.0
    with tqdm(total=len(items), unit="case", desc="evaluate", file=sys.stderr) as bar:
        for case in extract_cases(
            items, card, workers=workers, progress=lambda d, t: bar.update(d - bar.n)
        ):
            labels.append(card.classes.index(case.label))
            logits.append(np.asarray(classifier.logits(case.prepared.batch), dtype=np.float64))
            no_lesion.append(bool(case.no_lesion_found))
            if reference is not None:
                stored = classifier.model(case.batch, training=False).numpy()
                exact = reference(case.batch, training=False).numpy()
                f16_diff = max(f16_diff, float(np.abs(stored - exact).max()))
    return CaseLogits(
        labels=np.asarray(labels, dtype=int), logits=logits,
        no_lesion=np.asarray(no_lesion, dtype=bool), skipped=len(items) - len(labels),
        float16_max_abs_prob_diff=f16_diff if reference is not None else None,
    )


def _kappa(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> float:
    """Return Cohen's kappa from the confusion matrix (nan when chance agreement is 1)."""
    confusion = np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)
    n = confusion.sum()
    po = np.trace(confusion) / n
    pe = float((confusion.sum(axis=0) * confusion.sum(axis=1)).sum()) / n**2
    return float((po - pe) / (1 - pe)) if pe < 1 else float("nan")


def metrics_with_ci(
    y_true: np.ndarray, y_pred: np.ndarray, classes: list[str], *, seed: int = 0
) -> dict[str, Any]:
    """Return the CPM-RadPath metrics (``metrics.case_metrics``) with 95% bootstrap intervals.

    Adds ``f1_micro_ci95``, ``kappa_ci95``, ``balanced_accuracy_ci95`` (cases resampled,
    BOOTSTRAP_REPS replicates, ``seed``) and per class ``recall_ci95`` (that class's cases
    resampled). Per-class keys are the model's ``classes``.
    """
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    k = len(classes)
    out = case_metrics(y_true.tolist(), y_pred.tolist(), k)
    out["per_class"] = {
        classes[i]: row for i, row in enumerate(out["per_class"].values())
    }
    n = len(y_true)
    out["f1_micro_ci95"] = bootstrap_ci(lambda i: float(np.mean(y_true[i] == y_pred[i])), n,
                                        seed=seed)
    out["kappa_ci95"] = bootstrap_ci(lambda i: _kappa(y_true[i], y_pred[i], k), n, seed=seed)
    out["balanced_accuracy_ci95"] = bootstrap_ci(
        lambda i: balanced_accuracy(y_true[i], y_pred[i], k), n, seed=seed)
    for c, name in enumerate(classes):
        hits = (y_pred[y_true == c] == c).astype(float)
        if hits.size:
            out["per_class"][name]["recall_ci95"] = bootstrap_ci(
                lambda i, h=hits: float(h[i].mean()), hits.size, seed=seed + c + 1)
    return out


def evaluate(
    model_dir: str | Path,
    data_dir: str | Path,
    labels_csv: str | Path,
    *,
    confusion_png: str | Path | None = None,
    reliability_png: str | Path | None = None,
    write_card: bool = False,
    card_key: str = "evaluation",
    workers: int = 2,
    data_description: str | None = None,
    data_seed: int | None = None,
    float32_reference: str | Path | None = None,
) -> dict[str, Any]:
    """Return the metrics dict of the model in ``model_dir`` on the labelled cases of ``data_dir``.

    Keys: n, f1_micro, kappa, balanced_accuracy (each with ``<key>_ci95``, a 95% bootstrap
    interval over cases), per_class {A,O,G: precision, recall, recall_ci95, support}, confusion
    (rows true, columns predicted), temperature (the card's), ece_before / ece_after (case-level
    expected calibration error with T = 1 and with the card's T), low_confidence_cases, skipped,
    data_seed (the seed the data were generated from; None when not given), data, date. Class
    predictions use the calibrated probabilities, as inference does. Saves the confusion matrix
    as PNG when ``confusion_png`` is given and the reliability diagram (before / after
    calibration) when ``reliability_png`` is. With ``write_card`` the metrics go into the card
    under ``metrics[card_key]`` (the key ``evaluation`` is the one the UI and README quote,
    other keys hold further test sets). ValueError when no labelled case is found; CardError
    for a broken model folder.

    ``float32_reference`` names the float32 weights the model was trained to (``flask model
    train --save-float32``); the largest per-slice class-probability difference between them and the
    model's stored weights is then reported as ``float16_max_abs_prob_diff``. CardError when
    that file does not match the model.
    """
    from app.pipeline.models.subtype import Classifier

    classifier = Classifier.load(model_dir)
    card = classifier.card
    scores = collect_logits(classifier, data_dir, labels_csv, workers=workers,
                            float32_reference=float32_reference)
    t = card.temperature
    before, after = scores.probabilities(1.0), scores.probabilities(t)
    y = scores.labels
    stats = scores.slab_statistics(t, card.classes, card.low_confidence)
    metrics = metrics_with_ci(y, after.argmax(axis=1), card.classes,
                              seed=data_seed if data_seed is not None else 0)
    metrics["temperature"] = round(t, 4)
    metrics["ece_before"] = round(expected_calibration_error(before, y), 4)
    metrics["ece_after"] = round(expected_calibration_error(after, y), 4)
    metrics["low_confidence_cases"] = int(sum(
        s.low_confidence or bool(nl) for s, nl in zip(stats, scores.no_lesion, strict=True)))
    metrics["skipped"] = scores.skipped
    if scores.float16_max_abs_prob_diff is not None:
        metrics["float16_max_abs_prob_diff"] = scores.float16_max_abs_prob_diff
    metrics["data_seed"] = data_seed
    metrics["data"] = data_description or f"{len(y)} labelled cases in {Path(data_dir).name}"
    metrics["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    if confusion_png:
        write_confusion_png(np.asarray(metrics["confusion"]), confusion_png)
    if reliability_png:
        write_reliability_png(reliability_png, reliability_bins(before, y),
                              reliability_bins(after, y))
    if write_card:
        card = ModelCard.load(model_dir)
        card.metrics[card_key] = metrics
        card.save(model_dir)
    return metrics


def calibrate(
    model_dir: str | Path,
    data_dir: str | Path,
    labels_csv: str | Path,
    *,
    data_seed: int,
    workers: int = 2,
    data_description: str | None = None,
    low_confidence_share: float = LOW_CONFIDENCE_SHARE,
    write_card: bool = True,
) -> ModelCard:
    """Fit the temperature and choose ``low_confidence`` on validation data; return the card.

    The temperature minimises the case-level negative log-likelihood of the mean-over-slices
    probabilities (:func:`calibration.fit_temperature`); the thresholds follow
    :func:`calibration.choose_low_confidence` on the calibrated probabilities. The card gets
    ``calibration`` {temperature, fitted_on {seed, n, data}, ece_before, ece_after},
    ``low_confidence`` and ``low_confidence_method``; with ``write_card`` it is saved (the weights
    are untouched, their sha256 stays valid). The data must never have been used for training
    nor be used for testing. ValueError when no labelled case is found or none is classified
    right.
    """
    from app.pipeline.models.subtype import Classifier

    classifier = Classifier.load(model_dir)
    card = ModelCard.load(model_dir)
    scores = collect_logits(classifier, data_dir, labels_csv, workers=workers)
    y = scores.labels
    t = fit_temperature(scores.logits, y)
    before, after = scores.probabilities(1.0), scores.probabilities(t)
    stats = scores.slab_statistics(t, card.classes, card.low_confidence)
    correct = after.argmax(axis=1) == y
    card.low_confidence = choose_low_confidence(
        [s.lead for s in stats], [s.agreement for s in stats], correct, low_confidence_share)
    card.low_confidence_method = LOW_CONFIDENCE_METHOD.format(pct=100 * low_confidence_share)
    card.calibration = Calibration(
        temperature=round(t, 4),
        fitted_on={
            "seed": int(data_seed), "n": int(len(y)), "accuracy": round(float(correct.mean()), 4),
            "data": data_description or f"{len(y)} labelled cases in {Path(data_dir).name}",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        ece_before=round(expected_calibration_error(before, y), 4),
        ece_after=round(expected_calibration_error(after, y), 4),
    )
    if write_card:
        card.save(model_dir)
    return card


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


def _ci(metrics: dict[str, Any], key: str) -> str:
    """Return " (95% CI lo-hi)" for ``key`` when the metrics have its interval, else ""."""
    ci = metrics.get(f"{key}_ci95")
    return f"  (95% CI {ci[0]:.3f}-{ci[1]:.3f})" if ci else ""


def format_metrics(metrics: dict[str, Any]) -> str:
    """Return the metrics as the plain-text report printed by the command."""
    seed = metrics.get("data_seed")
    lines = [
        f"cases: {metrics['n']} (skipped {metrics.get('skipped', 0)}, "
        f"low confidence {metrics.get('low_confidence_cases', 0)}); data seed "
        f"{seed if seed is not None else 'not given'}",
        f"F1-micro:          {metrics['f1_micro']:.3f}{_ci(metrics, 'f1_micro')}",
        f"Cohen's kappa:     {metrics['kappa']:.3f}{_ci(metrics, 'kappa')}",
        f"balanced accuracy: {metrics['balanced_accuracy']:.3f}"
        f"{_ci(metrics, 'balanced_accuracy')}",
        "class  precision  recall  support  recall 95% CI",
    ]
    for cls, row in metrics["per_class"].items():
        ci = row.get("recall_ci95")
        interval = f"  {ci[0]:.3f}-{ci[1]:.3f}" if ci else ""
        lines.append(f"{cls:<6} {row['precision']:9.3f} {row['recall']:7.3f} "
                     f"{row['support']:8d}{interval}")
    if "ece_before" in metrics:
        lines.append(f"ECE (15 bins):     {metrics['ece_before']:.3f} uncalibrated, "
                     f"{metrics['ece_after']:.3f} at temperature {metrics['temperature']:.3f}")
    if "float16_max_abs_prob_diff" in metrics:
        lines.append(f"float16 storage, max |Δprob| vs float32: "
                     f"{metrics['float16_max_abs_prob_diff']:.2e}")
    lines.append("confusion (rows true, columns predicted, in the model's class order):")
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
