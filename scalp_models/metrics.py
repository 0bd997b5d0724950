"""The numbers the spec says to always report, from logits and labels (no model, no torch).

Accuracy, macro-F1, quadratic-weighted kappa, per-class precision/recall/F1 and the confusion
matrix come from scikit-learn; ECE and NLL are computed here; the majority-class baseline
predicts the most frequent *train* class for every item. Given each item's subject,
``classification_metrics`` adds 95% bootstrap intervals for accuracy, macro-F1 and QWK that
resample *subjects* (people), not images: the images of one person are alike, so resampling
images would make the intervals far too narrow. ``classification_metrics`` returns one
``protocols.<protocol>.<split>`` entry of ``eval_report.json`` (docs/ARCHITECTURE.md);
:func:`file_metrics` puts it there and :func:`report_metrics` reads it back, from old reports
(``protocols.<protocol>`` = one entry) too.

    >>> m = classification_metrics(logits, labels, names, train_labels=train, subjects=subject_ids)
    >>> m["accuracy"], m["ci95"]["accuracy"], m["n_subjects"]
"""

from __future__ import annotations

import numpy as np

ECE_BINS = 15
CI_METRICS = ("accuracy", "macro_f1", "qwk")
CI_LEVEL = 0.95


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


def confusion_metrics(counts) -> dict[str, np.ndarray]:
    """Accuracy, macro-F1 and QWK of confusion matrices ``counts[..., true, predicted]`` (any leading shape).

    The definitions are scikit-learn's (``accuracy_score``; ``f1_score(average="macro",
    zero_division=0)`` over all classes; ``cohen_kappa_score(weights="quadratic")``, NaN when a
    single class is all there is), computed from counts so that a thousand bootstrap replicates
    cost one matrix product instead of three thousand scikit-learn calls.
    """
    c = np.asarray(counts, dtype=np.float64)
    k = c.shape[-1]
    n = c.sum(axis=(-2, -1))
    hits = np.diagonal(c, axis1=-2, axis2=-1)
    true, predicted = c.sum(axis=-1), c.sum(axis=-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = np.where(n > 0, hits.sum(axis=-1) / np.where(n > 0, n, 1), np.nan)
        both = true + predicted
        f1 = np.where(both > 0, 2 * hits / np.where(both > 0, both, 1), 0.0)
        weights = (np.arange(k)[:, None] - np.arange(k)[None, :]) ** 2.0
        expected = true[..., :, None] * predicted[..., None, :] / np.where(n > 0, n, 1)[..., None, None]
        disagreement = (weights * c).sum(axis=(-2, -1))
        chance = (weights * expected).sum(axis=(-2, -1))
        qwk = np.where(chance > 0, 1.0 - disagreement / np.where(chance > 0, chance, 1), np.nan)
    return {"accuracy": accuracy, "macro_f1": f1.mean(axis=-1), "qwk": qwk}


def subject_bootstrap_ci(labels, pred, subjects, num_classes: int, *, n_boot: int = 1000, seed: int = 0) -> dict:
    """95% percentile intervals of accuracy, macro-F1 and QWK from ``n_boot`` resamples of the SUBJECTS.

    Each replicate draws as many subjects as there are, with replacement, and keeps all the images
    of every subject drawn (a subject drawn twice counts twice). Replicates whose QWK is undefined
    (one class only) are left out of its interval. Deterministic for a ``seed``.
    """
    labels = np.asarray(labels, dtype=int)
    pred = np.asarray(pred, dtype=int)
    _, subject_of = np.unique(np.asarray(subjects).astype(str), return_inverse=True)
    n_subjects = int(subject_of.max()) + 1 if len(subject_of) else 0
    if n_subjects == 0 or n_boot <= 0:
        return {name: [float("nan"), float("nan")] for name in CI_METRICS}
    per_subject = np.zeros((n_subjects, num_classes, num_classes))
    np.add.at(per_subject, (subject_of, labels, pred), 1.0)
    draws = np.random.default_rng(seed).integers(0, n_subjects, size=(n_boot, n_subjects))
    times_drawn = np.zeros((n_boot, n_subjects))
    np.add.at(times_drawn, (np.arange(n_boot)[:, None], draws), 1.0)
    counts = (times_drawn @ per_subject.reshape(n_subjects, -1)).reshape(n_boot, num_classes, num_classes)
    tail = 100.0 * (1.0 - CI_LEVEL) / 2.0
    ci = {}
    for name, values in confusion_metrics(counts).items():
        values = values[np.isfinite(values)]
        ci[name] = [float(v) for v in np.percentile(values, [tail, 100.0 - tail])] if len(values) else [
            float("nan"), float("nan")]
    return ci


def classification_metrics(
    logits: np.ndarray,
    labels: np.ndarray,
    class_names: list[str] | tuple[str, ...],
    *,
    train_labels=None,
    temperature: float = 1.0,
    split: str = "test",
    subjects=None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict:
    """The ``protocols.<p>.<split>`` entry of ``eval_report.json`` for (calibrated) ``logits``.

    ``temperature`` is the one already folded into ``logits``: the uncalibrated logits are
    ``logits × temperature`` (used for ``ece_uncalibrated``/``nll_uncalibrated``). With
    ``subjects`` (one subject id per item) the entry gains ``n_subjects`` and ``ci95``: the
    intervals of :func:`subject_bootstrap_ci` (``n_boot`` resamples, ``seed``).
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
    if subjects is not None:
        subjects = np.asarray(subjects).astype(str)
        if len(subjects) != len(labels):
            raise ValueError(f"subjects must give one subject per item: {len(subjects)} for {len(labels)} labels")
        report["n_subjects"] = int(len(np.unique(subjects)))
        report["ci95"] = subject_bootstrap_ci(labels, pred, subjects, k, n_boot=n_boot, seed=seed)
    return report


# -- where an entry lives in eval_report.json -------------------------------------------------
def _is_metrics_entry(entry) -> bool:
    """An old report's ``protocols.<p>`` value: one metrics entry, not a ``{split: entry}`` dict."""
    return isinstance(entry, dict) and "accuracy" in entry


def report_evaluations(report: dict) -> dict[str, dict[str, dict]]:
    """``{protocol: {split: metrics}}`` of an ``eval_report.json``; an old report's single entry per
    protocol is filed under the split it names (``test`` when it names none)."""
    evaluations = {}
    for protocol, entry in (report.get("protocols") or {}).items():
        if _is_metrics_entry(entry):
            evaluations[protocol] = {str(entry.get("split", "test")): entry}
        elif isinstance(entry, dict):
            evaluations[protocol] = {split: m for split, m in entry.items() if _is_metrics_entry(m)}
    return evaluations


def report_metrics(report: dict, split: str = "test") -> dict[str, dict]:
    """``{protocol: metrics}`` of one ``split`` (what a card publishes is ``test``).

    Old reports label a test entry ``test`` or ``test (...)`` (the demo models' ``test (synthetic)``),
    and they count as ``test``; a ``validation`` entry never does."""
    found = {}
    for protocol, splits in report_evaluations(report).items():
        for name, metrics in splits.items():
            if name == split or (split == "test" and name.startswith("test (")):
                found[protocol] = metrics
                break
    return found


def file_metrics(report: dict, protocol: str, metrics: dict) -> dict:
    """Put one :func:`classification_metrics` entry into ``report`` at ``protocols.<protocol>.<split>``.

    Other splits of the protocol stay, so evaluating ``validation`` never overwrites the ``test``
    metrics a card publishes; an old report's entries are moved under their splits first.
    Returns ``report`` (changed in place)."""
    evaluations = report_evaluations(report)
    evaluations.setdefault(protocol, {})[str(metrics.get("split", "test"))] = metrics
    report["protocols"] = evaluations
    return report
