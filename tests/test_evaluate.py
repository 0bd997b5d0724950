"""Evaluation metrics on hand-built predictions: QWK, ECE, majority baseline, confusion PNG."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from scalp_core.symptoms import class_names
from scalp_models.evaluate import plot_confusion_matrix
from scalp_models.metrics import classification_metrics, expected_calibration_error, majority_baseline

NAMES = list(class_names(3))


def logits_for(pred, n_classes=3, margin=5.0):
    z = np.zeros((len(pred), n_classes))
    z[np.arange(len(pred)), pred] = margin
    return z


def test_perfect_predictions():
    labels = np.array([0, 1, 2, 0, 1, 2])
    m = classification_metrics(logits_for(labels), labels, NAMES, train_labels=[0, 0, 0, 1])
    assert m["accuracy"] == 1.0 and m["macro_f1"] == 1.0 and m["qwk"] == pytest.approx(1.0)
    assert m["confusion_matrix"] == [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
    assert m["per_class"][NAMES[1]] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert m["n"] == 6


def test_qwk_punishes_far_errors_more_than_near_ones():
    labels = np.array([0, 0, 1, 1, 2, 2])
    near = np.array([0, 1, 1, 1, 2, 1])  # two off-by-one errors
    far = np.array([0, 2, 1, 1, 2, 0])  # two off-by-two errors
    m_near = classification_metrics(logits_for(near), labels, NAMES)
    m_far = classification_metrics(logits_for(far), labels, NAMES)
    assert m_near["accuracy"] == m_far["accuracy"]
    assert m_near["qwk"] > m_far["qwk"]
    # Hand computation for the far case: observed weighted disagreement 8/24 ... checked against sklearn's definition.
    from sklearn.metrics import cohen_kappa_score

    assert m_far["qwk"] == pytest.approx(cohen_kappa_score(labels, far, weights="quadratic"))
    assert m_near["confusion_matrix"][0] == [1, 1, 0]


def test_ece_known_cases():
    labels = np.array([0, 0, 0, 0])
    # Always confident 0.9 and always right: |1.0 - 0.9| = 0.1.
    probs = np.tile([0.9, 0.05, 0.05], (4, 1))
    assert expected_calibration_error(probs, labels) == pytest.approx(0.1)
    # Two bins: conf 0.6 right twice (gap 0.4), conf 0.8 wrong twice (gap 0.8) → 0.5·0.4 + 0.5·0.8.
    probs = np.array([[0.6, 0.3, 0.1], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1]])
    assert expected_calibration_error(probs, labels) == pytest.approx(0.6)
    # Perfectly calibrated in one bin: confidence 0.5, half right.
    probs = np.array([[0.5, 0.4, 0.1], [0.5, 0.4, 0.1]])
    assert expected_calibration_error(probs, np.array([0, 1])) == pytest.approx(0.0)


def test_uncalibrated_metrics_use_the_folded_temperature():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 200)
    raw = logits_for(labels, margin=4.0) + rng.normal(0, 3, (200, 3))
    m = classification_metrics(raw / 2.0, labels, NAMES, temperature=2.0)
    m_raw = classification_metrics(raw, labels, NAMES)
    assert m["ece_uncalibrated"] == pytest.approx(m_raw["ece"])
    assert m["nll_uncalibrated"] == pytest.approx(m_raw["nll"])
    assert m["accuracy"] == m_raw["accuracy"]  # scaling never changes the argmax


def test_majority_baseline_uses_the_train_split():
    train = [1, 1, 1, 0, 2]
    test = np.array([0, 0, 0, 1])  # test majority is 0, but the baseline must predict train's 1
    base = majority_baseline(train, test, 3)
    assert base["majority_class"] == 1
    assert base["majority_baseline_accuracy"] == pytest.approx(0.25)
    # F1 of class 1 = 2·(0.25·1)/(1.25) = 0.4; classes 0 and 2 score 0.
    assert base["majority_baseline_macro_f1"] == pytest.approx(0.4 / 3)
    m = classification_metrics(logits_for(test), test, NAMES, train_labels=train)
    assert m["majority_baseline_accuracy"] == pytest.approx(0.25)


def test_confusion_png_written(tmp_path):
    path = plot_confusion_matrix([[5, 1, 0], [2, 7, 1], [0, 1, 3]], NAMES, tmp_path / "cm" / "confusion_matrix.png", "t")
    with Image.open(path) as im:
        assert im.format == "PNG" and im.width > 100 and im.height > 100
