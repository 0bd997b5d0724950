"""The int8 half of ``bench/infer.py``: the ``scalp_diagnoser_int8`` path, its quality table against fp32
ONNX on generated test photos with known severities, and the issue-15 goals.

Run through ``bench/infer.py`` (``--models demo`` adds the quality table); this module has no command line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

INT8 = "scalp_diagnoser_int8"
# issue 15: int8 p50 ≤ 0.55× fp32 ONNX (≥ 6× the seed), severity agreement ≥ 99% per symptom, ΔF1 and ΔECE ≤ 0.01
GOAL_INT8_VS_FP32, GOAL_INT8_SPEEDUP, GOAL_AGREEMENT, GOAL_QUALITY_DELTA = 0.55, 6.0, 0.99, 0.01


def int8_diagnoser(models_dir: Path, threads: int, margin: float | None = None):
    """``backend="int8"`` once its copies are built and checked (a model failing its check stays fp32);
    ``margin``: the fp32 re-check margin (default the recipe's, 0 for none)."""
    from scalp_models import quantize
    from scalp_models.diagnoser import ScalpDiagnoser

    if os.environ.get("BENCH_INT8_UNCHECKED") == "1":  # --int8-unchecked: the recipe's speed and cost, unfiltered
        quantize.CHECK_MIN_AGREEMENT, quantize.CHECK_MAX_DP = 0.0, float("inf")
    diagnoser = ScalpDiagnoser.from_source(models_dir, num_threads=threads, backend="int8", int8_margin=margin)
    diagnoser.wait_int8()
    if diagnoser.int8_errors:
        print(f"int8: these models stay fp32: {diagnoser.int8_errors}", file=sys.stderr)
    return diagnoser


def setup_scalp_diagnoser_int8(models_dir: Path, threads: int, margin: float | None = None) -> Callable[[bytes], dict]:
    diagnoser = int8_diagnoser(models_dir, threads, margin)

    def predict(jpeg: bytes) -> dict:
        return {r.symptom: np.array(r.probabilities) for r in diagnoser.diagnose(jpeg)}

    return predict


def setup_scalp_diagnoser_int8_raw(models_dir: Path, threads: int) -> Callable[[bytes], dict]:
    """int8 without the fp32 re-check near class boundaries: what the re-check costs, in the same run."""
    return setup_scalp_diagnoser_int8(models_dir, threads, margin=0.0)


def int8_quality(models_dir: Path, config) -> dict:
    """Per symptom, on generated test photos with known severities: int8 vs fp32 agreement, max |Δp|,
    macro-F1 and ECE of each (the demo build's test-split recipe, decoded from 640×480 JPEGs as served)."""
    from sklearn.metrics import f1_score

    from scalp_core import SYMPTOMS
    from scalp_models.diagnoser import ScalpDiagnoser
    from scalp_models.metrics import expected_calibration_error
    from scalp_models.quantize_sweep import test_split

    fp32 = ScalpDiagnoser.from_source(models_dir, num_threads=config.threads, backend="onnx")
    int8 = int8_diagnoser(models_dir, config.threads)
    # Margins widened by earlier shadow re-checks on this cache start wider (scalp_models.int8_serving), and
    # then re-check more: the table shows where each started, so runs on one cache can be compared.
    started = dict(int8.int8_margins)
    out = {}
    for spec in SYMPTOMS:
        photos, labels = test_split(spec.key, config.test_per_class)
        labels = np.asarray(labels)
        before = int8.int8_rechecks.get(spec.key, (0, 0))[0]
        shadowed_before = int8.int8_shadows.get(spec.key, (0, 0.0))[0]
        p32, p8 = (np.concatenate([d.predict_proba(photos[i : i + 20])[spec.key] for i in range(0, len(photos), 20)])
                   for d in (fp32, int8))  # 20 at a time: ONNX Runtime's arenas keep the largest batch
        rechecked = int8.int8_rechecks.get(spec.key, (0, 0))[0] - before
        shadowed = int8.int8_shadows.get(spec.key, (0, 0.0))[0] - shadowed_before
        out[spec.key] = {
            "n": len(labels), "precision": int8.precisions[spec.key], "rechecked": rechecked / len(labels),
            "margin": int8.int8_margins.get(spec.key), "margin_start": started.get(spec.key),
            "shadowed": shadowed / len(labels),
            "agreement": float((p32.argmax(1) == p8.argmax(1)).mean()),
            "max_dp": float(np.abs(p32 - p8).max()),
            "f1_fp32": float(f1_score(labels, p32.argmax(1), average="macro")),
            "f1_int8": float(f1_score(labels, p8.argmax(1), average="macro")),
            "ece_fp32": float(expected_calibration_error(p32, labels)),
            "ece_int8": float(expected_calibration_error(p8, labels)),
            **paired_intervals(labels, p32, p8),
        }
    return out


def paired_intervals(labels: np.ndarray, p32: np.ndarray, p8: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict:
    """95% percentile intervals of int8 − fp32 macro-F1 and ECE from ``n_boot`` resamples of the photos,
    each replicate the same photos for both (a paired bootstrap): whether a change is more than which
    photos happened to be drawn. ECE moves by up to ~1/n when one photo crosses a bin edge."""
    from scalp_models.metrics import CI_LEVEL, confusion_metrics, expected_calibration_error

    labels, k = np.asarray(labels, dtype=int), p32.shape[1]
    draws = np.random.default_rng(seed).integers(0, len(labels), size=(n_boot, len(labels)))

    def macro_f1(probabilities: np.ndarray) -> np.ndarray:
        counts = np.zeros((n_boot, k, k))
        np.add.at(counts, (np.arange(n_boot)[:, None], labels[draws], probabilities.argmax(1)[draws]), 1.0)
        return confusion_metrics(counts)["macro_f1"]

    ece = np.array([expected_calibration_error(p8[d], labels[d]) - expected_calibration_error(p32[d], labels[d])
                    for d in draws])
    tail = 100.0 * (1.0 - CI_LEVEL) / 2.0
    return {"f1_delta_ci": np.percentile(macro_f1(p8) - macro_f1(p32), [tail, 100 - tail]).tolist(),
            "ece_delta_ci": np.percentile(ece, [tail, 100 - tail]).tolist()}


def _interval(bounds) -> str:
    return f"[{bounds[0]:+.3f}, {bounds[1]:+.3f}]"


def int8_report(quality: dict | None, int8: dict | None, fp32: dict | None, baseline: dict | None) -> list[str]:
    """Markdown lines: the per-symptom quality table and whether the int8 goals hold."""
    lines = []
    if quality:
        lines += ["", "int8 vs fp32 ONNX on generated test photos with known severities (per symptom):", "",
                  ("| symptom | n | serves | re-check margin (start → end) | re-checked on fp32 (near + shadow) "
                   "| severity agreement | max |Δp| | macro-F1 fp32 → int8 | ECE fp32 → int8 "
                   "| ΔF1, ΔECE: 95% intervals |"),
                  "|---|---:|---|---:|---:|---:|---:|---:|---:|---|"]
        for key, q in quality.items():
            margin = "–" if q.get("margin") is None else f"{q['margin']:.3f}"
            if q.get("margin") is not None and q.get("margin_start") is not None:
                margin = f"{q['margin_start']:.3f} → {margin}"
            rechecked = f"{q['rechecked']:.1%} + {q.get('shadowed', 0.0):.1%}"
            lines.append(f"| {key} | {q['n']} | {q['precision']} | {margin} | {rechecked} | {q['agreement']:.1%} "
                         f"| {q['max_dp']:.3f} "
                         f"| {q['f1_fp32']:.3f} → {q['f1_int8']:.3f} | {q['ece_fp32']:.3f} → {q['ece_int8']:.3f} "
                         f"| {_interval(q['f1_delta_ci'])}, {_interval(q['ece_delta_ci'])} |")
        lines += ["", ("(intervals: paired bootstrap over the photos, 1000 resamples; one that holds 0 is a change "
                       "this many photos cannot tell from chance)")]
    if int8 and fp32:
        checks = [f"p50 ≤ {GOAL_INT8_VS_FP32}× fp32 ONNX: {int8['p50_ms'] / fp32['p50_ms']:.2f}×"]
        if baseline:
            checks.append(f"≥ {GOAL_INT8_SPEEDUP:g}× the seed: {baseline['p50_ms'] / int8['p50_ms']:.2f}×")
        met = int8["p50_ms"] <= GOAL_INT8_VS_FP32 * fp32["p50_ms"] and (
            not baseline or baseline["p50_ms"] / int8["p50_ms"] >= GOAL_INT8_SPEEDUP)
        if quality:
            worst = min(q["agreement"] for q in quality.values())
            df1 = max(abs(q["f1_int8"] - q["f1_fp32"]) for q in quality.values())
            dece = max(abs(q["ece_int8"] - q["ece_fp32"]) for q in quality.values())
            checks += [f"agreement ≥ {GOAL_AGREEMENT:.0%} on every symptom: worst {worst:.1%}",
                       f"|ΔF1| ≤ {GOAL_QUALITY_DELTA}: worst {df1:.3f}", f"|ΔECE| ≤ {GOAL_QUALITY_DELTA}: worst {dece:.3f}"]
            met = met and worst >= GOAL_AGREEMENT and df1 <= GOAL_QUALITY_DELTA and dece <= GOAL_QUALITY_DELTA
        lines += ["", f"int8 goals ({'; '.join(checks)}): {'met' if met else 'MISSED'}"]
    return lines
