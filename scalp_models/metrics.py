"""The numbers the spec says to always report, from logits and labels (no model, no torch).

Accuracy, macro-F1, quadratic-weighted kappa, per-class precision/recall/F1 and the confusion
matrix come from scikit-learn; ECE and NLL are computed here; the majority-class baseline
predicts the most frequent *train* class for every item. ``classification_metrics`` returns
one ``protocols.<p>`` entry of ``eval_report.json`` (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import numpy as np

ECE_BINS = 15


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(logits))


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``labels`` under softmax(logits / T)."""
    labels = np.asarray(labels, dtype=int)
    if len(labels) == 0:
        return float("nan")
    lp = log_softmax(np.asarray(logits, dtype=np.float64) / temperature)
    return float(-lp[np.arange(len(labels)), labels].mean())


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = ECE_BINS) -> float:
    """Top-label ECE with ``n_bins`` equal-width confidence bins.

    Hand-written because no installed library provides it (torchmetrics is not a
    dependency and ``evaluate`` ships no ECE metric); it is the standard definition
    (Guo et al. 2017): sum over bins of |accuracy − confidence| weighted by bin share.
    Bins are (lo, hi], the first one [0, 1/n].
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=int)
    if len(labels) == 0:
        return float("nan")
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    bin_ids = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        in_bin = bin_ids == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def majority_baseline(train_labels, test_labels, num_classes: int) -> dict:
    """Accuracy and macro-F1 of predicting the most frequent train class for every test item."""
    # scikit-learn is heavy; softmax/nll/ECE users (calibration, the demo cache check) never need it.
    from sklearn.metrics import accuracy_score, f1_score

    train_labels = np.asarray(train_labels, dtype=int)
    test_labels = np.asarray(test_labels, dtype=int)
    majority = int(np.bincount(train_labels, minlength=num_classes).argmax()) if len(train_labels) else 0
    pred = np.full_like(test_labels, majority)
    if len(test_labels) == 0:
        return {"majority_class": majority, "majority_baseline_accuracy": float("nan"), "majority_baseline_macro_f1": float("nan")}
    return {
        "majority_class": majority,
        "majority_baseline_accuracy": float(accuracy_score(test_labels, pred)),
        "majority_baseline_macro_f1": float(
            f1_score(test_labels, pred, labels=list(range(num_classes)), average="macro", zero_division=0)
        ),
    }


def classification_metrics(
    logits: np.ndarray,
    labels: np.ndarray,
    class_names: list[str] | tuple[str, ...],
    *,
    train_labels=None,
    temperature: float = 1.0,
    split: str = "test",
) -> dict:
    """The ``protocols.<p>`` entry of ``eval_report.json`` for (calibrated) ``logits``.

    ``temperature`` is the one already folded into ``logits``: the uncalibrated logits are
    ``logits × temperature`` (used for ``ece_uncalibrated``/``nll_uncalibrated``).
    """
    from sklearn.metrics import (  # heavy: see majority_baseline
        accuracy_score,
        cohen_kappa_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
    )

    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=int)
    k = len(class_names)
    ids = list(range(k))
    probs = softmax(logits) if len(labels) else np.zeros((0, k))
    pred = probs.argmax(axis=1) if len(labels) else np.zeros(0, dtype=int)
    p, r, f, s = precision_recall_fscore_support(labels, pred, labels=ids, zero_division=0)
    if len(labels) and len(set(labels.tolist()) | set(pred.tolist())) > 1:
        qwk = float(cohen_kappa_score(labels, pred, labels=ids, weights="quadratic"))
    else:
        qwk = float("nan")  # kappa is undefined when only one class appears at all
    report = {
        "split": split,
        "n": int(len(labels)),
        "accuracy": float(accuracy_score(labels, pred)) if len(labels) else float("nan"),
        "macro_f1": float(f1_score(labels, pred, labels=ids, average="macro", zero_division=0)),
        "qwk": qwk,
        "ece": expected_calibration_error(probs, labels),
        "ece_uncalibrated": expected_calibration_error(softmax(logits * temperature), labels)
        if len(labels)
        else float("nan"),
        "nll": nll(logits, labels),
        "nll_uncalibrated": nll(logits * temperature, labels),
        "per_class": {
            name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": confusion_matrix(labels, pred, labels=ids).tolist(),
    }
    if train_labels is not None:
        base = majority_baseline(train_labels, labels, k)
        report["majority_baseline_accuracy"] = base["majority_baseline_accuracy"]
        report["majority_baseline_macro_f1"] = base["majority_baseline_macro_f1"]
    return report
