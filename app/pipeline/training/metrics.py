"""The CPM-RadPath challenge metrics (F1-micro, Cohen's kappa, balanced accuracy) per case."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.pipeline.classes import CLASSES


def case_metrics(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> dict[str, Any]:
    """Return the CPM-RadPath metrics (f1_micro, kappa, balanced_accuracy) plus per-class P/R.

    Also ``confusion`` (rows true, columns predicted) and ``n``. Uses scikit-learn.
    """
    from sklearn.metrics import (
        balanced_accuracy_score,
        cohen_kappa_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
    )

    labels = list(range(n_classes))
    prec, rec, _, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return {
        "n": int(len(y_true)),
        "f1_micro": float(f1_score(y_true, y_pred, labels=labels, average="micro")),
        "kappa": float(cohen_kappa_score(y_true, y_pred, labels=labels)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "per_class": {
            CLASSES[i]: {"precision": float(prec[i]), "recall": float(rec[i]),
                         "support": int(support[i])}
            for i in labels
        },
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
