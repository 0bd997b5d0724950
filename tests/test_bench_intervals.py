"""bench/infer_quality.py's paired intervals of the int8 − fp32 macro-F1 and ECE changes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from infer_quality import paired_intervals


def _probabilities(rng: np.random.Generator, labels: np.ndarray, right: float) -> np.ndarray:
    """Four-class answers that put ``right`` on the true class for a random 70% of the photos."""
    p = rng.dirichlet(np.ones(4), size=len(labels))
    hit = rng.random(len(labels)) < 0.7
    p[hit] = (1 - right) / 3
    p[hit, labels[hit]] = right
    return p


def test_identical_answers_change_nothing_and_a_real_improvement_excludes_zero():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 200)
    fp32 = _probabilities(rng, labels, 0.9)
    same = paired_intervals(labels, fp32, fp32.copy(), n_boot=200)
    assert same["f1_delta_ci"] == [0.0, 0.0] and same["ece_delta_ci"] == [0.0, 0.0]
    # Every answer right and fully confident: macro-F1 rises and ECE falls, beyond what resampling explains.
    perfect = np.eye(4)[labels]
    better = paired_intervals(labels, fp32, perfect, n_boot=200)
    assert 0 < better["f1_delta_ci"][0] <= better["f1_delta_ci"][1]
    assert better["ece_delta_ci"][0] <= better["ece_delta_ci"][1] < 0
