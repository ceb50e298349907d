"""Calibration and honest figures shared by every classifier's training and evaluation.

Temperature scaling (fit on validation logits, Guo et al. 2017), the expected calibration error
and reliability diagrams, bootstrap confidence intervals over cases, classification metrics with
those intervals, and the rule that picks low-confidence thresholds on validation data. Pure
NumPy / SciPy / Pillow: no TensorFlow, no Flask. Used by ``training.tumour_type`` (the
tumour-type model) and ``training.evaluation`` (the A/O/G subtype model).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.pipeline.models.prediction import softmax

BOOTSTRAP_REPS = 2000
"""Bootstrap replicates behind every 95% interval."""


ECE_BINS = 15
"""Equal-width confidence bins of every ECE and reliability diagram (one count, so the diagram's
ECE is the card's)."""


def expected_calibration_error(
    probs: np.ndarray, labels: np.ndarray, n_bins: int = ECE_BINS
) -> float:
    """Return the ECE of (N, K) ``probs`` against integer ``labels`` (equal-width top-p bins).

    Sum over bins of |accuracy - mean confidence| weighted by the bin's share of cases: the
    :func:`ece_of_bins` of :func:`reliability_bins`, so a diagram's ECE is this one.
    ValueError for empty or mismatched inputs.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) == 0 or len(probs) != len(np.asarray(labels)):
        raise ValueError(f"expected (N, K) probabilities and N labels, got {probs.shape}")
    return ece_of_bins(reliability_bins(probs, labels, n_bins))


def ece_of_bins(rows: list[dict[str, float]]) -> float:
    """Return the expected calibration error of reliability bins (count-weighted |acc - conf|)."""
    total = sum(r["n"] for r in rows)
    if not total:
        return 0.0
    return float(sum(r["n"] * abs(r["accuracy"] - r["confidence"]) for r in rows if r["n"]) / total)


def reliability_bins(
    probs: np.ndarray, labels: np.ndarray, n_bins: int = ECE_BINS
) -> list[dict[str, float]]:
    """Return per-bin {lo, hi, n, confidence, accuracy} of the top-class probability."""
    probs = np.asarray(probs, dtype=np.float64)
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(labels)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    rows = []
    for b in range(n_bins):
        sel = bins == b
        rows.append({
            "lo": b / n_bins,
            "hi": (b + 1) / n_bins,
            "n": int(sel.sum()),
            "confidence": float(conf[sel].mean()) if sel.any() else float("nan"),
            "accuracy": float(correct[sel].mean()) if sel.any() else float("nan"),
        })
    return rows


def case_probabilities(
    logits: np.ndarray | Sequence[np.ndarray], temperature: float = 1.0
) -> np.ndarray:
    """Return (N, K) probabilities from (N, K) logits, or per-slice logits of N cases.

    Per-slice logits, an (N, S, K) array or a list of N (S_i, K) arrays (slabs clipped at the
    volume's edge have fewer slices), give each case the mean over its slices of
    softmax(logits / temperature), the way the subtype classifier answers. ValueError for other
    shapes, no cases or a temperature that is not positive.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if isinstance(logits, (list, tuple)):
        if not logits or any(np.ndim(z) != 2 or len(z) == 0 for z in logits):
            raise ValueError("expected a non-empty list of (S, K) per-slice logits")
        return np.stack([softmax(z, float(temperature)).mean(axis=0) for z in logits])
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim not in (2, 3) or z.shape[0] == 0:
        raise ValueError(f"expected (N, K) or (N, S, K) logits, got {z.shape}")
    probs = softmax(z, float(temperature))
    return probs.mean(axis=1) if z.ndim == 3 else probs


def negative_log_likelihood(probs: np.ndarray, labels: np.ndarray) -> float:
    """Return the mean -log p(true class) of (N, K) ``probs`` (p clipped at 1e-12)."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=int)
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1))))


def fit_temperature(logits: np.ndarray | Sequence[np.ndarray], labels: np.ndarray) -> float:
    """Return the temperature T > 0 minimising the validation negative log-likelihood.

    ``logits`` are (N, K), or per-slice logits of N cases whose probability is the mean of their
    slices' softmaxes (see :func:`case_probabilities`). A bounded 1-D search over log T in
    [log 0.05, log 20] (Guo et al. 2017). ValueError for empty or mismatched inputs.
    """
    from scipy.optimize import minimize_scalar

    labels = np.asarray(labels, dtype=int)
    if not isinstance(logits, (list, tuple)):
        logits = np.asarray(logits, dtype=np.float64)
    if len(logits) == 0 or len(logits) != len(labels):
        raise ValueError(f"expected the logits of {len(labels)} labelled cases, got {len(logits)}")
    case_probabilities(logits)  # shape check

    def nll(log_t: float) -> float:
        return negative_log_likelihood(case_probabilities(logits, float(np.exp(log_t))), labels)

    res = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(res.x))


def auroc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """Return the area under the ROC curve for scores where positives should be larger.

    The Mann-Whitney statistic with ties counted half. ValueError when either set is empty.
    """
    neg = np.asarray(negatives, dtype=np.float64).ravel()
    pos = np.asarray(positives, dtype=np.float64).ravel()
    if neg.size == 0 or pos.size == 0:
        raise ValueError("AUROC needs at least one score on each side")
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([neg, pos]))
    return float((ranks[neg.size:].sum() - pos.size * (pos.size + 1) / 2) / (neg.size * pos.size))


def balanced_accuracy(labels: np.ndarray, preds: np.ndarray, n_classes: int) -> float:
    """Return the mean per-class recall over the classes present in ``labels``."""
    labels, preds = np.asarray(labels), np.asarray(preds)
    recalls = [np.mean(preds[labels == k] == k) for k in range(n_classes) if (labels == k).any()]
    return float(np.mean(recalls))


def bootstrap_ci(
    statistic: Callable[[np.ndarray], float], n: int, *, reps: int = BOOTSTRAP_REPS, seed: int = 0
) -> tuple[float, float]:
    """Return the 95% percentile bootstrap interval of ``statistic(indices)`` over n cases."""
    rng = np.random.default_rng(seed)
    values = [statistic(rng.integers(0, n, size=n)) for _ in range(reps)]
    lo, hi = np.nanpercentile(values, [2.5, 97.5])
    return round(float(lo), 4), round(float(hi), 4)


def classification_metrics(
    labels: np.ndarray, probs: np.ndarray, classes: Sequence[str], *, seed: int = 0
) -> dict[str, Any]:
    """Return n, accuracy, balanced accuracy and per-class recall, each with a 95% bootstrap CI.

    The bootstrap resamples cases (2000 replicates, ``seed``); per-class intervals resample
    within that class's cases.
    """
    labels = np.asarray(labels, dtype=int)
    preds = np.asarray(probs).argmax(axis=1)
    k = len(classes)
    out: dict[str, Any] = {"n": int(len(labels))}
    out["accuracy"] = round(float(np.mean(preds == labels)), 4)
    out["accuracy_ci95"] = bootstrap_ci(lambda i: float(np.mean(preds[i] == labels[i])),
                                        len(labels), seed=seed)
    out["balanced_accuracy"] = round(balanced_accuracy(labels, preds, k), 4)
    out["balanced_accuracy_ci95"] = bootstrap_ci(
        lambda i: balanced_accuracy(labels[i], preds[i], k), len(labels), seed=seed
    )
    per = {}
    for c, name in enumerate(classes):
        hits = (preds[labels == c] == c).astype(float)
        if hits.size == 0:
            continue
        per[name] = {
            "n": int(hits.size),
            "recall": round(float(hits.mean()), 4),
            "recall_ci95": bootstrap_ci(lambda i, h=hits: float(h[i].mean()), hits.size,
                                        seed=seed + c + 1),
            "precision": round(float(np.mean(labels[preds == c] == c)) if (preds == c).any()
                               else float("nan"), 4),
        }
    out["per_class"] = per
    confusion = np.zeros((k, k), dtype=int)
    np.add.at(confusion, (labels, preds), 1)
    out["confusion"] = confusion.tolist()
    return out


RELIABILITY_COLOURS = {"bar": (0, 114, 178), "dot": (230, 159, 0), "diagonal": (150, 150, 150)}
"""Okabe-Ito blue bars (accuracy per bin), orange dots (mean confidence), grey diagonal."""


def write_reliability_png(
    path: str | Path, before: list[dict[str, float]], after: list[dict[str, float]]
) -> Path:
    """Draw a reliability diagram (accuracy vs confidence per bin, before and after) as a PNG.

    Left panel before, right panel after calibration, each titled with its ECE; both axes run
    0 to 1 with ticks every 0.25. Bars show each bin's accuracy (its case count above it), the
    grey diagonal is perfect calibration, orange dots each bin's mean confidence; a legend under
    the panels says so. Returns the path.
    """
    from PIL import Image, ImageDraw, ImageFont

    size, left, right, top, bottom = 300, 60, 24, 48, 76
    width = 2 * (left + size + right)
    img = Image.new("RGB", (width, top + size + bottom), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=13)
    small = ImageFont.load_default(size=11)
    colours = RELIABILITY_COLOURS
    panels = (("before calibration", before), ("after (temperature)", after))
    for panel, (title, rows) in enumerate(panels):
        x0 = panel * (left + size + right) + left
        y0 = top
        draw.rectangle([x0, y0, x0 + size, y0 + size], outline="black")
        for t in (0.0, 0.25, 0.5, 0.75, 1.0):
            x, y = x0 + t * size, y0 + size * (1 - t)
            draw.line([x, y0 + size, x, y0 + size + 4], fill="black")
            draw.text((x, y0 + size + 6), f"{t:g}", fill="black", font=small, anchor="mt")
            draw.line([x0 - 4, y, x0, y], fill="black")
            draw.text((x0 - 6, y), f"{t:g}", fill="black", font=small, anchor="rm")
        draw.line([x0, y0 + size, x0 + size, y0], fill=colours["diagonal"])
        for row in rows:
            if not row["n"]:
                continue
            bx0, bx1 = x0 + row["lo"] * size, x0 + row["hi"] * size
            bar_top = y0 + size * (1 - row["accuracy"])
            draw.rectangle([bx0 + 1, bar_top, bx1 - 1, y0 + size], fill=colours["bar"],
                           outline="black")
            draw.text(((bx0 + bx1) / 2, bar_top - 2), str(int(row["n"])), fill="black",
                      font=small, anchor="mb")
            cx = x0 + row["confidence"] * size
            cy = y0 + size * (1 - row["confidence"])
            draw.ellipse([cx - 3, cy - 3, cx + 3, cy + 3], fill=colours["dot"], outline="black")
        draw.text((x0, 8), f"Reliability {title}", fill="black", font=font)
        draw.text((x0, 24), f"ECE {ece_of_bins(rows):.3f}", fill="black", font=small)
        draw.text((x0 + size / 2, y0 + size + 22), "confidence (top-class probability)",
                  fill="black", font=small, anchor="mt")
        draw.text((x0 - 6, y0 - 6), "accuracy", fill="black", font=small, anchor="rb")
    legend_y = top + size + 46
    draw.rectangle([left, legend_y, left + 12, legend_y + 12], fill=colours["bar"], outline="black")
    draw.text((left + 18, legend_y), "accuracy of the cases in the bin (count above)",
              fill="black", font=small)
    dot_x = left + 330
    draw.ellipse([dot_x, legend_y + 2, dot_x + 8, legend_y + 10], fill=colours["dot"],
                 outline="black")
    draw.text((dot_x + 14, legend_y), "their mean confidence; grey diagonal: perfect calibration",
              fill="black", font=small)
    path = Path(path)
    img.save(path)
    return path


LOW_CONFIDENCE_SHARE = 0.02
"""Share of correctly classified validation cases the subtype low-confidence rule may flag."""

LOW_CONFIDENCE_METHOD = (
    "chosen on the calibration (validation) set with temperature-scaled probabilities: margin = "
    "the lower {pct:g}% quantile of the lead (top minus second mean probability) over the "
    "correctly classified cases, agreement = the lower {pct:g}% quantile of their slice "
    "agreement, so at most {pct:g}% of correct validation cases fall below either; a case is "
    "low-confidence when its lead < margin or its agreement < agreement"
)


def lower_quantile(values: np.ndarray, share: float) -> float:
    """Return the order statistic v with at most ``share`` of ``values`` strictly below it.

    (NumPy's "lower" quantile.) ValueError for no values or a share outside [0, 1).
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("no values to take a quantile of")
    if not 0 <= share < 1:
        raise ValueError(f"share must be in [0, 1), got {share}")
    return float(np.quantile(values, share, method="lower"))


def choose_low_confidence(
    leads: np.ndarray, agreements: np.ndarray, correct: np.ndarray,
    share: float = LOW_CONFIDENCE_SHARE,
) -> dict[str, float]:
    """Return the subtype card's ``low_confidence`` {margin, agreement} chosen on validation cases.

    ``leads`` (top minus second calibrated mean probability), ``agreements`` (share of slices
    voting for the top class) and ``correct`` (bool) have one entry per validation case; each
    threshold is :func:`lower_quantile` of its values over the correct cases (see
    LOW_CONFIDENCE_METHOD). ValueError when no case is correct or the lengths differ.
    """
    leads, agreements = np.asarray(leads, float), np.asarray(agreements, float)
    correct = np.asarray(correct, dtype=bool)
    if not len(leads) == len(agreements) == len(correct):
        raise ValueError("leads, agreements and correct must have one entry per case")
    if not correct.any():
        raise ValueError("no correctly classified validation case to choose thresholds on")
    return {
        "margin": round(lower_quantile(leads[correct], share), 4),
        "agreement": round(lower_quantile(agreements[correct], share), 4),
    }
