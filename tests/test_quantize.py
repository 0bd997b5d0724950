"""Int8 serving: built once and cached, checked against fp32, fp32 kept (and said why) when the copy is bad,
and the backend chosen by the app's configuration."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

from tiny_models import tiny_classifiers

from scalp_core import SYMPTOMS
from scalp_core.isolated import run_isolated
from scalp_models import int8_serving, quantize
from scalp_models.diagnoser import BACKENDS, ScalpDiagnoser
from scalp_models.metrics import softmax
from ui.config import BACKENDS as CONFIG_BACKENDS
from ui.config import AppConfig, parse_config

REPO_ROOT = Path(__file__).resolve().parents[1]
KEY = SYMPTOMS[0].key
load_shadow_rate = int8_serving.load_shadow_rate  # the recipe's reader (small_recipe turns shadows off)


@pytest.fixture(autouse=True)
def small_recipe(tmp_path, monkeypatch):
    """A private cache and a small calibration (the real one renders 256 photos at 640×480)."""
    monkeypatch.setenv("SCALP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(quantize, "CALIBRATION_IMAGES", 24)
    monkeypatch.setattr(quantize, "CHECK_IMAGES", 16)
    monkeypatch.setattr(quantize, "PHOTO_SIZE", (160, 120))
    monkeypatch.setattr(int8_serving, "load_shadow_rate", lambda: 0.0)  # no random fp32 answers, unless a test asks
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def one_model() -> dict:
    """The six tiny models; only the first is quantized (the others stay torch-free fp32 ONNX)."""
    return tiny_classifiers()


def int8_diagnoser(models: dict, margin: float = 0.0) -> ScalpDiagnoser:
    """The int8 backend, by default without the fp32 re-check (so every answer is int8's own)."""
    diagnoser = ScalpDiagnoser(models, num_threads=1, backend="int8", int8_margin=margin)
    assert diagnoser.wait_int8(timeout=120) is not None
    return diagnoser


def test_int8_copy_is_cached_reused_and_close_to_fp32(one_model, monkeypatch):
    children = []

    def in_child(function, kwargs):  # the real child process, counted
        children.append(function.__name__)
        return run_isolated(function, kwargs)

    monkeypatch.setattr(quantize, "run_isolated", in_child)
    before = quantize.export_count
    first = int8_diagnoser(one_model)
    assert first.backend == "int8", first.int8_errors
    assert set(first.precisions.values()) == {"int8"}
    assert quantize.export_count == before + len(SYMPTOMS)
    # each quantization ran in its own process, so its heap went back to the system, not to the app
    assert children == ["quantize_pixels_file"] * len(SYMPTOMS)
    fp32 = first.onnx_paths[KEY]
    copies = sorted(fp32.parent.glob(f"{fp32.stem}-int8-*.onnx"))
    assert len(copies) == 1
    import onnx

    graph = onnx.load(str(copies[0])).graph
    int8_weights = [i for i in graph.initializer if i.data_type == onnx.TensorProto.INT8 and len(i.dims) == 4]
    assert len(int8_weights) >= 3 and any(n.op_type == "QuantizeLinear" for n in graph.node)  # QDQ, conv weights int8
    inode = copies[0].stat().st_ino  # a new copy would be a new file (os.replace); loading marks it used
    # the check that let it serve: same top class on (nearly) every generated photo, small |Δp|
    check = first._int8.checks[KEY]
    assert check.images == 16 and check.agreement >= quantize.CHECK_MIN_AGREEMENT and check.max_dp <= quantize.CHECK_MAX_DP

    second = int8_diagnoser(one_model)
    assert quantize.export_count == before + len(SYMPTOMS)  # nothing quantized again
    assert copies[0].stat().st_ino == inode and second.backend == "int8"
    assert len(children) == len(SYMPTOMS)

    photos = quantize.generated_photos(6, seed=5)
    reference = ScalpDiagnoser(one_model, num_threads=1, backend="onnx").predict_proba(photos)
    got = second.predict_proba(photos)
    for spec in SYMPTOMS:
        assert np.abs(got[spec.key] - reference[spec.key]).max() <= quantize.CHECK_MAX_DP
        assert not np.array_equal(got[spec.key], reference[spec.key])  # really another computation


def test_the_fp32_sessions_are_released_once_int8_serves_without_the_recheck(one_model):
    """Only what serves stays in memory: with no re-check margin nothing holds the replaced fp32 sessions."""
    import gc
    import weakref

    diagnoser = ScalpDiagnoser(one_model, num_threads=1, backend="int8", int8_margin=0.0)
    fp32_sessions = [weakref.ref(s) for s in diagnoser._onnx.sessions.values()]
    assert diagnoser.wait_int8(timeout=120), diagnoser.int8_errors
    gc.collect()
    assert [ref() for ref in fp32_sessions] == [None] * len(SYMPTOMS)
    assert diagnoser.predict_proba(quantize.generated_photos(1, seed=7))[KEY].shape[0] == 1


def test_int8_answers_near_a_class_boundary_are_recomputed_on_fp32(one_model):
    """The re-check: an int8 answer whose top two probabilities are closer than the margin is fp32's
    answer, every other one stays int8's, and the diagnoser counts both."""
    photos = quantize.generated_photos(8, seed=11)
    fp32 = ScalpDiagnoser(one_model, num_threads=1, backend="onnx").predict_proba(photos)
    raw = int8_diagnoser(one_model, margin=0.0).predict_proba(photos)
    gaps = {k: np.diff(np.sort(p, axis=1)[:, -2:], axis=1)[:, 0] for k, p in raw.items()}
    margin = float(np.median(np.concatenate(list(gaps.values()))))  # about half the answers near the boundary
    diagnoser = int8_diagnoser(one_model, margin=margin)
    assert diagnoser.backend == "int8" and set(diagnoser._onnx.reference) == {s.key for s in SYMPTOMS}
    got = diagnoser.predict_proba(photos)
    rechecked = 0
    for spec in SYMPTOMS:
        near = gaps[spec.key] < margin
        np.testing.assert_allclose(got[spec.key][near], fp32[spec.key][near], atol=1e-6)
        np.testing.assert_array_equal(got[spec.key][~near], raw[spec.key][~near])
        assert diagnoser.int8_rechecks[spec.key] == (int(near.sum()), len(photos))
        rechecked += int(near.sum())
    assert 0 < rechecked < len(SYMPTOMS) * len(photos)  # both kinds of answer were seen
    assert ScalpDiagnoser(one_model, num_threads=1, backend="onnx").int8_rechecks == {}


def test_the_recheck_margin_is_recipe_data_and_checked(tmp_path):
    from scalp_models.int8_serving import load_recheck_min_margin, near_boundary

    assert 0 < load_recheck_min_margin() < 0.5  # the recipe re-checks, with a margin of a few hundredths
    bad = tmp_path / "rules.json"
    for value in (-0.1, 1.0, "0.05", True, None):
        bad.write_text(json.dumps({"rules": [], "recheck": {"min_margin": value}}), encoding="utf-8")
        with pytest.raises(ValueError, match="recheck.min_margin"):
            load_recheck_min_margin(bad)
    for value in (-0.1, 1.5, "0.02", False):
        bad.write_text(json.dumps({"rules": [], "recheck": {"min_margin": 0.05, "shadow_rate": value}}),
                       encoding="utf-8")
        with pytest.raises(ValueError, match="recheck.shadow_rate"):
            load_shadow_rate(bad)
    assert 0 < load_shadow_rate() <= 0.05  # a few percent: watched, at little cost
    probabilities = np.array([[0.50, 0.46, 0.04], [0.70, 0.20, 0.10], [0.34, 0.33, 0.33]])
    assert near_boundary(probabilities, 0.05).tolist() == [True, False, True]
    assert not near_boundary(probabilities, 0.0).any()


def test_shadow_rechecks_widen_a_margin_that_real_answers_exceed(one_model, monkeypatch, caplog):
    """Answers beyond the margin are recomputed on fp32 at the recipe's shadow rate (here all of them):
    those answers are fp32's, and a shift above the margin widens it to that shift, with a warning."""
    monkeypatch.setattr(int8_serving, "load_shadow_rate", lambda: 1.0)
    diagnoser = int8_diagnoser(one_model, margin=1e-9)  # narrower than any real shift
    photos = quantize.generated_photos(6, seed=21)
    fp32 = ScalpDiagnoser(one_model, num_threads=1, backend="onnx").predict_proba(photos)
    with caplog.at_level(logging.WARNING, logger="scalp_models.int8_serving"):
        got = diagnoser.predict_proba(photos)
    assert diagnoser.int8_margins and set(diagnoser.int8_shadows) == set(diagnoser.int8_margins)
    for key, margin in diagnoser.int8_margins.items():
        np.testing.assert_allclose(got[key], fp32[key], atol=1e-6)  # every answer re-checked or shadowed
        shadowed, largest = diagnoser.int8_shadows[key]
        rechecked, answered = diagnoser.int8_rechecks[key]
        assert shadowed + rechecked == answered == len(photos)
        assert margin == largest > 1e-9
    assert "more than its re-check margin" in caplog.text
    assert int8_diagnoser(one_model, margin=0.0).int8_shadows == {}  # no fp32 session, no shadow


def test_each_model_draws_its_shadow_rechecks_from_its_own_stream(one_model, monkeypatch):
    """Which answers get a shadow re-check does not depend on the order in which the runner's threads reach
    the models: two starts draw the same rows per model, in whichever order they are asked."""
    monkeypatch.setattr(int8_serving, "load_shadow_rate", lambda: 0.5)
    first, second = (int8_diagnoser(one_model, margin=1e-9)._int8 for _ in range(2))
    a, b = first.shadow_rows("a", 64), first.shadow_rows("b", 64)
    b_first = second.shadow_rows("b", 64)
    np.testing.assert_array_equal(second.shadow_rows("a", 64), a)
    np.testing.assert_array_equal(b_first, b)
    assert 0 < a.sum() < 64 and not np.array_equal(a, b)  # about half, and each model its own


def test_a_widened_margin_is_kept_beside_the_copy_for_the_next_start(one_model, monkeypatch, caplog):
    """A shadow that widens a margin keeps it beside the int8 copy, so the next start (a new app on the same
    cache) begins there, not at the check photos' narrower margin. A narrower shift never replaces a wider
    one; a fixed ``int8_margin`` is that margin; a broken or unwritable file is warned about, not fatal."""
    monkeypatch.setattr(int8_serving, "load_recheck_min_margin", lambda: 0.0)
    first = ScalpDiagnoser(one_model, num_threads=1, backend="int8")
    assert first.wait_int8(timeout=120) is not None
    checked = first.int8_margins[KEY]
    kept = first._int8._shift_files[KEY]
    assert kept.parent == quantize.int8_path(first.onnx_paths[KEY], "x").parent and not kept.exists()
    first._int8.observe(KEY, np.array([checked / 2]))  # within the margin: nothing to keep
    assert not kept.exists() and first.int8_margins[KEY] == checked
    first._int8.observe(KEY, np.array([checked + 0.3]))
    assert first.int8_margins[KEY] == pytest.approx(checked + 0.3)
    assert json.loads(kept.read_text(encoding="utf-8"))["max_shift"] == pytest.approx(checked + 0.3)

    with caplog.at_level(logging.INFO, logger="scalp_models.int8_serving"):
        second = ScalpDiagnoser(one_model, num_threads=1, backend="int8")
        assert second.wait_int8(timeout=120) is not None
    assert second.int8_margins[KEY] == pytest.approx(checked + 0.3)
    assert second._int8.checks[KEY].max_shift == pytest.approx(checked)  # the same copy, the same check
    assert "showed on served photos" in caplog.text
    int8_serving.remember_shift(kept, checked)  # narrower: another process may have seen more
    assert json.loads(kept.read_text(encoding="utf-8"))["max_shift"] == pytest.approx(checked + 0.3)
    assert int8_diagnoser(one_model, margin=0.02).int8_margins[KEY] == 0.02

    kept.write_text("{not json", encoding="utf-8")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="scalp_models.int8_serving"):
        third = ScalpDiagnoser(one_model, num_threads=1, backend="int8")
        assert third.wait_int8(timeout=120) is not None
        assert third.int8_margins[KEY] == pytest.approx(checked)
        assert "ignoring the remembered int8 shift" in caplog.text
        kept.unlink()
        kept.mkdir()  # a path that cannot be written as a file
        third._int8.observe(KEY, np.array([checked + 0.5]))
    assert third.int8_margins[KEY] == pytest.approx(checked + 0.5)  # held in memory all the same
    assert "could not keep the widened int8 margin" in caplog.text
    assert sorted(p.name for p in kept.parent.iterdir() if p.name.startswith(".")) == []  # no temporary left


def test_a_copy_that_fails_its_check_on_a_served_photo_is_retired_to_fp32_for_good(one_model, monkeypatch, caplog):
    """A shadow re-check that sees a copy move a probability by more than its check allows swaps the model
    back to fp32 at once (the next answers are fp32's own), says why, and keeps that beside the copy, so a
    later start serves fp32 too; deleting that file gives the copy another chance."""
    monkeypatch.setattr(int8_serving, "load_shadow_rate", lambda: 1.0)  # every answer beyond the margin watched
    monkeypatch.setattr(int8_serving, "CHECK_MAX_DP", 1e-9)  # so any real rounding fails "its check"
    diagnoser = ScalpDiagnoser(one_model, num_threads=1, backend="int8")
    assert diagnoser.wait_int8(timeout=120) and diagnoser.backend == "int8"
    photos = quantize.generated_photos(4, seed=31)
    fp32 = ScalpDiagnoser(one_model, num_threads=1, backend="onnx")
    with caplog.at_level(logging.WARNING, logger="scalp_models.int8_serving"):
        diagnoser.predict_proba(photos[:2])
    assert set(diagnoser.precisions.values()) == {"fp32"} and diagnoser.backend == "onnx"
    assert diagnoser.int8_margins == {}
    assert "retired to fp32 while serving" in caplog.text and "on a served photo" in diagnoser.int8_errors[KEY]
    answered = diagnoser.int8_rechecks[KEY][1]
    got, expected = diagnoser.predict_proba(photos[2:]), fp32.predict_proba(photos[2:])
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])  # fp32's own session, not a re-check
    assert diagnoser.int8_rechecks[KEY][1] == answered  # no int8 answer since
    kept = diagnoser._int8._shift_files[KEY]
    assert "on a served photo" in json.loads(kept.read_text(encoding="utf-8"))["retired"]

    monkeypatch.setattr(int8_serving, "load_shadow_rate", lambda: 0.0)
    later = ScalpDiagnoser(one_model, num_threads=1, backend="int8")
    assert later.wait_int8(timeout=120) is False and later.precisions[KEY] == "fp32"
    assert "another chance" in later.int8_errors[KEY] and str(kept) in later.int8_errors[KEY]
    assert KEY not in later._int8.checks  # not even loaded and checked
    kept.unlink()
    again = ScalpDiagnoser(one_model, num_threads=1, backend="int8")
    assert again.wait_int8(timeout=120) is False  # the other five copies are still retired
    assert again.precisions[KEY] == "int8" and KEY not in again.int8_errors and len(again.int8_errors) == 5


def test_a_copy_re_checked_more_often_than_it_saves_is_retired_to_fp32(one_model, monkeypatch, caplog):
    """Once more than ``retire_share`` of at least ``retire_after`` answers since the margin last changed were
    recomputed on fp32, int8 costs more than fp32 alone: the model goes back to fp32. A widened margin
    starts the count afresh; a share at the limit is not above it."""
    monkeypatch.setattr(int8_serving, "load_recheck_min_margin", lambda: 0.99)  # every answer near the boundary
    monkeypatch.setattr(int8_serving, "load_retirement", lambda: (0.45, 4))
    diagnoser = ScalpDiagnoser(one_model, num_threads=1, backend="int8")
    assert diagnoser.wait_int8(timeout=120) and diagnoser.backend == "int8"
    photos = quantize.generated_photos(4, seed=41)
    diagnoser.predict_proba(photos[:3])
    assert diagnoser.int8_rechecks[KEY] == (3, 3) and diagnoser.precisions[KEY] == "int8"  # 3 < retire_after
    diagnoser._int8.observe(KEY, np.array([1.5]))  # a wider margin: the count starts afresh
    diagnoser.predict_proba(photos[:3])
    assert diagnoser.precisions[KEY] == "int8" and diagnoser.int8_margins[KEY] == 1.5
    with caplog.at_level(logging.WARNING, logger="scalp_models.int8_serving"):
        diagnoser.predict_proba(photos[3:])
    assert set(diagnoser.precisions.values()) == {"fp32"}
    assert "100% of its last 4 answers were re-checked" in diagnoser.int8_errors[KEY]
    assert "costs more than fp32 alone" in caplog.text
    assert "retired" in json.loads(diagnoser._int8._shift_files[KEY].read_text(encoding="utf-8"))

    monkeypatch.setattr(int8_serving, "load_retirement", lambda: (0.5, 4))
    upgrade = int8_diagnoser(one_model, margin=0.99)._int8  # a fixed margin: nothing read from the cache
    upgrade.record(KEY, 2, 4)  # 50%: at the limit, not above it
    assert upgrade.runner.precision[KEY] == "int8" and KEY not in upgrade.errors
    upgrade.record(KEY, 1, 1)
    assert upgrade.runner.precision[KEY] == "fp32" and "60% of its last 5" in upgrade.errors[KEY]
    unchecked = int8_diagnoser(one_model, margin=0.0)._int8  # no fp32 session kept: nothing to go back to
    unchecked.retire(KEY, "asked")
    assert unchecked.runner.precision[KEY] == "int8" and KEY not in unchecked.errors


def test_the_retirement_settings_are_checked(tmp_path):
    bad = tmp_path / "rules.json"
    for share, after in ((1.5, 300), (0.45, 0), (0.45, 2.5), (0.45, True), ("0.4", 300)):
        bad.write_text(json.dumps({"rules": [], "recheck": {"retire_share": share, "retire_after": after}}),
                       encoding="utf-8")
        with pytest.raises(ValueError, match="recheck.retire_"):
            int8_serving.load_retirement(bad)
    share, after = int8_serving.load_retirement()
    assert 0.3 < share < 0.5 and after >= 100  # the shipped rule: below the measured break-even, not on a few photos


def test_generated_photos_are_cached_whole_and_rendered_again_when_the_file_is_bad(tmp_path, caplog):
    """The calibration and check photos are rendered once and kept as one .npz, written whole or not at all:
    a second call reads the same bytes; a broken file is rendered again (warned); a cache that cannot be
    written costs a re-render next time, and leaves no temporary file."""
    folder = tmp_path / "photos"
    first = quantize.generated_jpegs(3, seed=7, cache=folder)
    (kept,) = folder.iterdir()
    written = kept.stat().st_ino  # a new file (written whole, then os.replace) would be another inode
    assert quantize.generated_jpegs(3, seed=7, cache=folder) == first and kept.stat().st_ino == written
    kept.write_bytes(b"not an npz")
    with caplog.at_level(logging.WARNING, logger="scalp_models.quantize"):
        assert quantize.generated_jpegs(3, seed=7, cache=folder) == first
    assert "rendering the calibration photos again" in caplog.text
    assert quantize.generated_jpegs(3, seed=7, cache=folder) == first and [p.name for p in folder.iterdir()] == [kept.name]

    kept.unlink()
    kept.mkdir()  # a path that cannot be written as a file
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="scalp_models.quantize"):
        assert quantize.generated_jpegs(3, seed=7, cache=folder) == first
    assert "cannot cache the calibration photos" in caplog.text
    assert [p.name for p in folder.iterdir()] == [kept.name]  # no temporary left beside it


def test_the_check_measures_the_largest_shift_between_two_classes():
    """``max_shift``: on each photo, how far the difference of any two classes' probabilities moved
    (max(q − p) − min(q − p)), the largest over the photos; at the model's temperature."""
    reference = np.log(np.array([[0.5, 0.3, 0.2], [0.6, 0.3, 0.1]]))
    candidate = np.log(np.array([[0.35, 0.45, 0.2], [0.6, 0.3, 0.1]]))
    check = quantize.compare_outputs(reference, candidate)
    assert check.max_dp == pytest.approx(0.15) and check.max_shift == pytest.approx(0.3)
    assert check.agreement == 0.5  # the first photo's top class moved
    cooler = quantize.compare_outputs(reference, candidate, temperature=2.0)
    assert 0 < cooler.max_shift < check.max_shift  # a temperature above 1 flattens both, and their gap
    assert quantize.compare_outputs(reference[:, :2], reference[:, :2], features=True).max_shift == 0.0
    # Why it is the margin: where int8's top two are at least a photo's shift apart, fp32's top class is
    # the same. Every flip among 20 000 perturbed answers lies inside its own photo's shift.
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 1.5, (20_000, 4))
    p, q = softmax(logits), softmax(logits + rng.normal(0, 0.3, logits.shape))
    shift = quantize.pair_shift(p, q)
    top_two = np.sort(q, axis=1)[:, -2:]
    flipped = p.argmax(1) != q.argmax(1)
    assert flipped.sum() > 100
    assert (top_two[flipped, 1] - top_two[flipped, 0] < shift[flipped]).all()
    largest_move = np.abs(q - p).max(axis=1)  # not enough: some flips lie beyond the largest |Δp| alone
    assert (top_two[flipped, 1] - top_two[flipped, 0] >= largest_move[flipped]).any()


def test_each_model_gets_the_margin_its_own_check_measured(one_model, monkeypatch):
    """By default a model's re-check margin is the largest shift its int8 copy showed on the check photos,
    at least the recipe's minimum; ``int8_margin`` sets one for all instead."""
    monkeypatch.setattr(int8_serving, "load_recheck_min_margin", lambda: 0.0)  # the tiny copies shift < 0.05
    diagnoser = ScalpDiagnoser(one_model, num_threads=1, backend="int8")
    assert diagnoser.wait_int8(timeout=120) is not None
    checks = diagnoser._int8.checks
    assert checks and set(diagnoser.int8_margins) == set(checks)
    assert diagnoser.int8_margins == {key: check.max_shift for key, check in checks.items()}
    assert all(margin > 0 for margin in diagnoser.int8_margins.values())
    assert len(set(diagnoser.int8_margins.values())) > 1  # each its own
    assert set(diagnoser._onnx.reference) == set(checks)  # each keeps its fp32 session for the re-check
    monkeypatch.setattr(int8_serving, "load_recheck_min_margin", lambda: 0.5)
    floored = ScalpDiagnoser(one_model, num_threads=1, backend="int8")
    floored.wait_int8(timeout=120)
    assert set(floored.int8_margins.values()) == {0.5}
    assert set(int8_diagnoser(one_model, margin=0.02).int8_margins.values()) == {0.02}


def test_the_calibration_method_is_recipe_data_and_checked(one_model, tmp_path):
    """MinMax, Percentile and Entropy calibrations all build working copies with their own activation
    ranges; the method is part of the cache key, and a wrong one is refused with what is allowed."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    recipe = quantize.load_calibration()
    assert recipe["method"] in quantize.CALIBRATION_METHODS
    rules = quantize.load_rules()
    percentile = {"method": "Percentile", "extra_options": {"CalibPercentile": 99.9, "CalibTensorRangeSymmetric": False}}
    assert quantize.recipe_id(rules, "p", recipe) != quantize.recipe_id(rules, "p", percentile)
    with pytest.raises(ValueError, match="MinMax, Percentile, Entropy"):
        quantize.check_calibration({"method": "KL"})
    with pytest.raises(ValueError, match="unknown calibration options"):
        quantize.check_calibration({"method": "MinMax", "extra_options": {"CalibPercentil": 99}})

    diagnoser = ScalpDiagnoser(one_model, num_threads=1, backend="onnx")
    preprocess, _ = diagnoser.preprocessor(KEY)
    photos = quantize.generated_photos(quantize.CALIBRATION_IMAGES, quantize.CALIBRATION_SEED)
    check = quantize.generated_photos(4, seed=9)
    scales = {}
    for method in ({"method": "MinMax"}, percentile, {"method": "Entropy"}):
        out = tmp_path / f"{method['method']}.onnx"
        quantize.quantize_file(diagnoser.onnx_paths[KEY], out, preprocess, rules, photos, method)
        graph = onnx.load(str(out)).graph
        scales[method["method"]] = sorted(float(numpy_helper.to_array(i)) for i in graph.initializer
                                          if i.name.endswith("_scale") and not i.dims)
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        logits = session.run(None, {"pixel_values": preprocess(check)})[0]
        assert logits.shape[0] == 4 and np.isfinite(logits).all()
    assert scales["MinMax"] != scales["Percentile"] and scales["MinMax"] != scales["Entropy"]
    # clipping the top 0.1% gives smaller activation ranges overall
    assert sum(scales["Percentile"]) < sum(scales["MinMax"])


def test_a_corrupted_int8_file_keeps_fp32_with_a_logged_reason(one_model, caplog):
    good = int8_diagnoser(one_model)
    fp32 = good.onnx_paths[KEY]
    copy = next(fp32.parent.glob(f"{fp32.stem}-int8-*.onnx"))
    copy.write_bytes(copy.read_bytes()[: copy.stat().st_size // 3])  # truncated on disk
    with caplog.at_level(logging.WARNING, logger="scalp_models.quantize"):
        diagnoser = int8_diagnoser(one_model)
    assert diagnoser.precisions[KEY] == "fp32" and diagnoser.backend == "onnx"
    assert "unusable" in diagnoser.int8_errors[KEY]
    assert any(KEY in r.getMessage() and "keeps serving fp32" in r.getMessage() for r in caplog.records)
    photos = quantize.generated_photos(2, seed=6)
    reference = ScalpDiagnoser(one_model, num_threads=1, backend="onnx").predict_proba(photos)
    np.testing.assert_allclose(diagnoser.predict_proba(photos)[KEY], reference[KEY], atol=1e-6)


def test_a_copy_that_disagrees_with_fp32_is_refused(one_model, monkeypatch, caplog):
    """A copy whose answers moved (here: every weight quantized to a 2-level grid) fails the check."""
    def ruin(function, kwargs):  # in place of the child process that quantizes
        import onnx

        fp32_path, out_path = kwargs["fp32_path"], kwargs["out_path"]
        from onnx import numpy_helper

        model = onnx.load(str(fp32_path))
        for init in model.graph.initializer:
            array = numpy_helper.to_array(init)
            if array.dtype == np.float32 and array.ndim == 4:
                init.CopyFrom(numpy_helper.from_array(np.sign(array).astype(np.float32), init.name))
        onnx.save(model, str(out_path))
        return 0

    monkeypatch.setattr(quantize, "run_isolated", ruin)
    with caplog.at_level(logging.WARNING, logger="scalp_models.quantize"):
        diagnoser = int8_diagnoser(one_model)
    assert set(diagnoser.precisions.values()) == {"fp32"}
    assert all("disagrees with fp32" in diagnoser.int8_errors[s.key] for s in SYMPTOMS)
    assert any("keeps serving fp32" in r.getMessage() for r in caplog.records)


def test_large_inputs_calibrate_fewer_photos_a_batch():
    """ONNX Runtime keeps every tensor of a calibration batch: 8 photos at 600 px (the b1 모낭사이홍반
    model) took 9 GB, so batches shrink with the input's area; 224 and 240 px keep 8."""
    from onnx import TensorProto, helper

    def model(side):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, side, side])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, side, side])
        return helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y]))

    assert [quantize.calibration_batch(model(side)) for side in (224, 240, 300, 380, 600)] == [8, 8, 5, 3, 1]
    assert quantize.calibration_batch(model("h")) == quantize.CALIBRATION_BATCH  # unknown size: the default


def test_fold_constant_gates_removes_identity_gates_only():
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def gate(name: str, weight: float, bias: float):
        w = numpy_helper.from_array(np.full((2, 2, 1, 1), weight, np.float32), f"{name}_w")
        b = numpy_helper.from_array(np.full((2,), bias, np.float32), f"{name}_b")
        nodes = [helper.make_node("GlobalAveragePool", ["x"], [f"{name}_p"]),
                 helper.make_node("Conv", [f"{name}_p", w.name, b.name], [f"{name}_c"]),
                 helper.make_node("Sigmoid", [f"{name}_c"], [f"{name}_s"])]
        return nodes, [w, b]

    ident, ident_init = gate("identity", 0.0, 20.0)
    real, real_init = gate("real", 0.3, 0.0)
    # A second identity gate whose weights reach its Conv through Identity nodes, as the exporter writes
    # deduplicated initializers (all-zero gates of one shape share one tensor).
    shared, _ = gate("shared", 0.0, 20.0)
    shared[1].input[1:3] = ["shared_w_id", "shared_b_id"]
    shared += [helper.make_node("Identity", ["identity_w"], ["shared_w_id"]),
               helper.make_node("Identity", ["identity_b"], ["shared_b_id"])]
    nodes = ident + [helper.make_node("Mul", ["x", "identity_s"], ["y"])]
    nodes += shared + [helper.make_node("Mul", ["y", "shared_s"], ["y2"])]
    nodes += real + [helper.make_node("Mul", ["y2", "real_s"], ["z"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, 3])],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 2, 3, 3])],
                              ident_init + real_init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    before = onnx.ModelProto()
    before.CopyFrom(model)
    assert quantize.fold_constant_gates(model) == 2
    names = {n.name or n.output[0] for n in model.graph.node}
    assert not any("identity" in n or "shared" in n for n in names), names
    assert "z" in {o for n in model.graph.node for o in n.output}
    assert {i.name for i in model.graph.initializer} == {"real_w", "real_b"}
    onnx.checker.check_model(model)
    from scalp_models.onnx_graph import create_session

    x = np.random.default_rng(0).normal(size=(1, 2, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(create_session(before.SerializeToString()).run(None, {"x": x})[0],
                                  create_session(model.SerializeToString()).run(None, {"x": x})[0])


def test_exclusion_rules_are_data_with_reasons():
    rules = quantize.load_rules()
    assert {r["group"] for r in rules} >= {"head", "squeeze_excite", "first_conv", "depthwise"}
    assert all(len(r["reason"]) > 40 for r in rules)
    changed = [{**r, "keep_fp32": not r["keep_fp32"]} if r["group"] == "depthwise" else r for r in rules]
    assert quantize.recipe_id(rules, "p") != quantize.recipe_id(changed, "p")  # a new recipe → a new file
    assert quantize.recipe_id(rules, "p") != quantize.recipe_id(rules, "q")


def test_the_front_rule_keeps_the_stem_and_the_first_block(one_model):
    """``before_name``: every node in front of the first one named ``blocks.1/`` (and none if no node is)."""
    import onnx

    model = onnx.load(str(ScalpDiagnoser(one_model, num_threads=1, backend="onnx").onnx_paths[KEY]))
    front = quantize.matched_nodes(model, {"before_name": "blocks.1/"})
    names = [n.name for n in model.graph.node]
    assert front == names[: len(front)] and "blocks.1/" in names[len(front)]
    assert any("embeddings" in n for n in front) and any("blocks.0/" in n for n in front)
    assert not any("blocks.1/" in n for n in front)
    assert quantize.matched_nodes(model, {"before_name": "no such node"}) == []
    rule = next(r for r in quantize.load_rules() if r["group"] == "front")
    assert rule["keep_fp32"] and rule["match"] == {"before_name": "blocks.1/"}


@pytest.mark.parametrize("backend", ["int8", "onnx", "torch"])
def test_the_app_runs_the_backend_its_configuration_names(backend, tmp_path, monkeypatch):
    from tiny_models import save_tiny_classifiers

    from ui.service import ScalpService

    assert CONFIG_BACKENDS == BACKENDS
    monkeypatch.setenv("SCALP_BACKEND", backend)
    assert parse_config([]).backend == backend
    other = next(b for b in BACKENDS if b != backend)
    assert parse_config(["--backend", other]).backend == other  # the flag wins
    models = save_tiny_classifiers(tmp_path / "models")
    service = ScalpService(parse_config(["--models", str(models)]))
    service.start()
    diagnoser = service.diagnoser(timeout=120)
    # Unset, the threads per diagnosis are the ones bench/load.py measured best for the backend.
    assert diagnoser.num_threads == (1 if backend == "int8" else 2)
    if backend == "int8":
        assert diagnoser.wait_int8(timeout=120), diagnoser.int8_errors
    assert diagnoser.backend == backend
    assert set(diagnoser.precisions.values()) == {{"int8": "int8", "onnx": "fp32", "torch": "torch"}[backend]}


def test_a_bad_backend_is_refused_at_start_up(monkeypatch):
    with pytest.raises(ValueError, match="SCALP_BACKEND"):
        AppConfig(backend="fp16")
    with pytest.raises(ValueError, match="model_threads must be at least 1"):
        AppConfig(model_threads=0)
    assert AppConfig().threads_per_diagnosis == 2 and AppConfig(backend="int8").threads_per_diagnosis == 1
    assert parse_config(["--backend", "int8", "--model-threads", "2"]).threads_per_diagnosis == 2
    monkeypatch.setenv("SCALP_MODEL_THREADS", "1")
    assert parse_config([]).threads_per_diagnosis == 1
    assert parse_config(["--model-threads", "2"]).threads_per_diagnosis == 2
    done = subprocess.run([sys.executable, "app.py", "--backend", "gpu", "--port", "1"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "--backend" in done.stderr
    helped = subprocess.run([sys.executable, "app.py", "--help"], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=120, check=False)
    assert "--backend" in helped.stdout and "SCALP_BACKEND" in helped.stdout and "int8" in helped.stdout


def test_the_sweep_rounds_weights_like_the_recipe_and_parses_methods(one_model):
    """``--layers`` measures the per-channel int8 weight rounding alone: at most 255 levels per output
    channel, each weight moved by at most half a step, nothing else touched."""
    import onnx
    from onnx import numpy_helper

    from scalp_models.quantize_sweep import parse_calibration, round_weights

    assert parse_calibration("Percentile:99.99") == {
        "method": "Percentile", "extra_options": {"CalibPercentile": 99.99, "CalibTensorRangeSymmetric": False}}
    assert parse_calibration("Entropy") == {"method": "Entropy", "extra_options": {}}
    with pytest.raises(ValueError, match="not one of"):
        parse_calibration("Median")
    path = ScalpDiagnoser(one_model, num_threads=1, backend="onnx").onnx_paths[KEY]
    model = onnx.load(str(path))
    first_conv = next(n for n in model.graph.node if n.op_type == "Conv")
    rounded = round_weights(model, {first_conv.name})
    before = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    after = {i.name: numpy_helper.to_array(i) for i in rounded.graph.initializer}
    changed = [name for name in before if not np.array_equal(before[name], after[name])]
    assert changed == [first_conv.input[1]]
    w, q = before[changed[0]], after[changed[0]]
    step = np.abs(w).reshape(len(w), -1).max(axis=1) / 127
    assert all(len(np.unique(q[c])) <= 255 for c in range(len(q)))
    assert (np.abs(q - w).reshape(len(w), -1).max(axis=1) <= step / 2 + 1e-7).all()


def test_the_depth_view_follows_the_int8_error_from_the_stem_to_the_head(one_model):
    """``--depth``: taps in network order (stem, every block, the head's input), each a relative error of
    the recipe's int8 copy against fp32 that is real (above zero) and bounded, plus the JPEG q85 reference."""
    import onnx

    from scalp_models.quantize_sweep import depth_errors, depth_taps

    diagnoser = ScalpDiagnoser(one_model, num_threads=1, backend="onnx")
    path = diagnoser.onnx_paths[KEY]
    taps = depth_taps(onnx.load(str(path)))
    labels = [label for label, _ in taps]
    assert labels[0] == "stem" and labels[-1].startswith("pooled features")
    blocks = [int(label.split()[1]) for label in labels if label.startswith("block ")]
    assert blocks and blocks == sorted(set(blocks))
    photos = quantize.generated_photos(6, seed=5)
    rows = depth_errors(path, diagnoser.preprocessor(KEY)[0], photos)
    assert [row["tap"] for row in rows[:-1]] == labels and "JPEG q85" in rows[-1]["tap"]
    assert all(0 < row["median"] <= row["p90"] < 1.5 for row in rows[:-1]), rows


def test_the_ops_view_puts_every_profiled_node_of_both_copies_in_one_kind_of_layer(one_model):
    """``--ops``: ONNX Runtime's profile of the fp32 model and of its int8 copy, summed by kind of layer.
    Names as ONNX Runtime rewrites them land in the right kind; every kind of an EfficientNet block has
    time in both copies, and only int8 adds quantize/dequantize nodes."""
    from scalp_models.quantize_sweep import OP_GROUPS, op_group, op_times

    labels = [label for label, _ in OP_GROUPS]
    assert op_group("/model/efficientnet/encoder/blocks.3/expansion/expand_act/Clip_output_0_nchwc", "Conv") \
        == "1×1 expansion convolutions"  # fp32: a convolution fused with its activation, named after it
    assert op_group("/model/efficientnet/encoder/blocks.3/squeeze_excite/expand/Conv", "Conv").startswith("squeeze")
    assert op_group("/model/efficientnet/encoder/blocks.0/projection/project_conv/Conv_output_0_QuantizeLinear",
                    "QuantizeLinear").startswith("front")
    assert op_group("/model/efficientnet/encoder/blocks.12/projection/Add", "QLinearAdd") == "residual adds"
    assert op_group("/model/efficientnet/encoder/blocks.10/depthwise_conv/depthwise_conv/Conv_token_9",
                    "QLinearConv") == "depthwise convolutions"
    diagnoser = int8_diagnoser(one_model)
    fp32_path = diagnoser._onnx.paths[KEY]
    preprocess, preprocess_id = diagnoser.preprocessor(KEY)
    photo = quantize.generated_photos(1, seed=3)[0]
    fp32, int8 = (op_times(path, preprocess, photo, runs=3, warmup=1)
                  for path in (fp32_path, quantize.int8_path(fp32_path, preprocess_id)))
    layers = [label for label in labels if label.startswith(("front", "1×1", "depthwise", "top"))]
    for times in (fp32, int8):
        assert all(times[label] > 0 and times["nodes"][label] > 0 for label in layers), times
        assert set(times) == {*labels, "nodes"}
    conversions = "(de)quantize and layout changes"
    assert int8["nodes"][conversions] > fp32["nodes"][conversions]


@pytest.fixture(scope="module")
def lite0_cache(tmp_path_factory) -> Path:
    """One export of the real Lite0 extractor for the tests below (its int8 copy is cached beside it)."""
    return tmp_path_factory.mktemp("lite0-onnx")


@pytest.mark.parametrize("limit, serves", [(float("inf"), True), (1e-6, False)])
def test_the_photo_checks_lite0_extractor_gets_a_checked_int8_copy(lite0_cache, monkeypatch, caplog, limit, serves):
    """The photo and domain checks' Lite0 pass: an int8 copy built once (cached beside the fp32 file),
    checked on generated scalp photos and on non-scalp scenes, served only within the feature-error limit;
    otherwise fp32 keeps serving and the log says why."""
    from scalp_models.lite0_features import Lite0Features, lite0_pixels

    monkeypatch.setattr(quantize, "CHECK_MAX_FEATURE_ERROR", limit)
    extractor = Lite0Features(cache=lite0_cache)
    photos = quantize.generated_photos(3, seed=11)
    fp32 = extractor.extract(photos)
    assert extractor.precision == "fp32"
    with caplog.at_level(logging.INFO, logger="scalp_models.lite0_features"):
        extractor.start_int8()
        assert extractor.wait_int8(timeout=300) is serves
    assert list(lite0_cache.glob("*-int8-*.onnx")), "the int8 copy is cached beside the fp32 file"
    features = extractor.extract(photos)
    if serves:
        assert extractor.precision == "int8" and extractor.int8_error is None
        assert "serves int8" in caplog.text
        error = np.linalg.norm(features - fp32, axis=1) / np.linalg.norm(fp32, axis=1)
        assert 0 < error.max() < 0.5, error  # int8 really serves: close to fp32, not equal to it
        assert extractor.session.run(None, {"pixel_values": lite0_pixels(photos[:1])})[0].shape == (1, 1280)
    else:
        assert extractor.precision == "fp32" and "relative feature error" in extractor.int8_error
        assert "fp32 keeps serving" in caplog.text
        np.testing.assert_array_equal(features, fp32)


def test_the_lite0_int8_copy_is_shadowed_on_fp32_and_retired_when_a_photo_moves_it_too_far(lite0_cache,
                                                                                            monkeypatch, caplog):
    """While the Lite0 int8 copy serves, the shadow share of photos also runs on fp32 (whose features are
    served). Within the check's limit the copy keeps serving; beyond it, it is retired to fp32 at once and
    on later starts (said beside the copy), since the photo and domain checks decide on these features."""
    from scalp_models.lite0_features import PREPROCESS_ID, Lite0Features

    monkeypatch.setattr(int8_serving, "load_shadow_rate", lambda: 1.0)  # every photo shadowed
    monkeypatch.setattr(quantize, "CHECK_MAX_FEATURE_ERROR", float("inf"))  # the copy passes its check
    extractor = Lite0Features(cache=lite0_cache)
    photos = quantize.generated_photos(3, seed=12)
    fp32 = extractor.extract(photos)
    extractor.start_int8()
    assert extractor.wait_int8(timeout=300)
    kept = int8_serving.shift_file(quantize.int8_path(extractor.onnx_path, PREPROCESS_ID))
    try:
        np.testing.assert_array_equal(extractor.extract(photos), fp32)  # all shadowed: fp32's features served
        count, largest = extractor.shadows
        assert count == 3 and 0 < largest < 0.5 and extractor.precision == "int8"  # within the limit: kept

        monkeypatch.setattr(quantize, "CHECK_MAX_FEATURE_ERROR", largest / 2)
        with caplog.at_level(logging.WARNING, logger="scalp_models.lite0_features"):
            np.testing.assert_array_equal(extractor.extract(photos[:1]), fp32[:1])
        assert extractor.precision == "fp32" and "on a served photo" in extractor.int8_error
        assert "retired to fp32 while serving" in caplog.text
        np.testing.assert_array_equal(extractor.extract(photos), fp32)
        assert extractor.shadows[0] == 4  # fp32 serves: nothing more to shadow
        assert "on a served photo" in json.loads(kept.read_text(encoding="utf-8"))["retired"]

        later = Lite0Features(cache=lite0_cache)
        later.start_int8()
        assert later.wait_int8(timeout=300) is False and "another chance" in later.int8_error
    finally:
        kept.unlink(missing_ok=True)  # the module's other tests share this cache


def _channel_means(path_or_model, preprocess, photos, names):
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path_or_model)) if isinstance(path_or_model, Path) else path_or_model
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.extend(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in names)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    values = session.run(names, {"pixel_values": preprocess(photos)})
    return [v.astype(np.float64).mean(axis=(0, 2, 3)) for v in values]


def test_bias_correction_makes_every_quantized_conv_match_fp32_on_average(one_model, tmp_path):
    """``int8_bias.correct_biases``: after it, each quantized Conv's mean output per channel on the measured photos is
    fp32's, to within its bias's rounding step; before it, the 8-bit rounding had shifted those means."""
    import onnx
    from onnx import numpy_helper

    from scalp_models.int8_bias import correct_biases, reference_tensor
    from scalp_models.onnx_graph import fold_constant_gates

    diagnoser = ScalpDiagnoser(one_model, num_threads=1, backend="onnx")
    preprocess, _ = diagnoser.preprocessor(KEY)
    photos = quantize.generated_photos(quantize.CALIBRATION_IMAGES, quantize.CALIBRATION_SEED)
    plain = tmp_path / "plain.onnx"
    quantize.quantize_file(diagnoser.onnx_paths[KEY], plain, preprocess, quantize.load_rules(), photos,
                           bias_correction=0)
    fp32 = onnx.load(str(diagnoser.onnx_paths[KEY]))
    fold_constant_gates(fp32)
    corrected = onnx.load(str(plain))
    assert correct_biases(fp32, corrected, lambda batch: quantize.batched_pixels(preprocess, photos, batch),
                          quantize.CALIBRATION_BATCH) >= 3

    producers = {out: node for node in corrected.graph.node for out in node.output}
    inits = {i.name: i for i in corrected.graph.initializer}
    fp32_producers = {out: node for node in fp32.graph.node for out in node.output}
    convs = [n for n in corrected.graph.node if n.op_type == "Conv" and len(n.input) > 2
             and all(getattr(producers.get(n.input[i]), "op_type", None) == "DequantizeLinear" for i in (1, 2))]
    outputs = [n.output[0] for n in convs]
    references = [reference_tensor(fp32_producers, name) for name in outputs]
    steps = [numpy_helper.to_array(inits[producers[n.input[2]].input[1]]).astype(np.float64) for n in convs]
    # one tap at a time, as the correction measured them: a tapped Conv runs unfused, the others as QLinearConv
    want = _channel_means(fp32, preprocess, photos, references)
    before = [_channel_means(onnx.load(str(plain)), preprocess, photos, [name])[0] for name in outputs]
    after = [_channel_means(corrected, preprocess, photos, [name])[0] for name in outputs]
    for name, w, _, a, step in zip(outputs, want, before, after, steps):
        assert np.all(np.abs(a - w) <= step / 2 + 1e-4 * (1 + np.abs(w))), name
    assert max(float(np.max(np.abs(b - w) / (step / 2))) for w, b, step in zip(want, before, steps)) > 2


def test_bias_correction_brings_the_real_lite0_extractors_int8_features_closer_to_fp32(lite0_cache, tmp_path):
    """On the real (ImageNet-pretrained) Lite0 extractor, the corrected copy's pooled features are nearer
    fp32's on other photos than the uncorrected copy's (measured on the full recipe: 13.5% → 5%)."""
    import onnxruntime as ort

    from scalp_models.lite0_features import Lite0Features, lite0_pixels

    extractor = Lite0Features(cache=lite0_cache)
    calibration = quantize.generated_photos(quantize.CALIBRATION_IMAGES, quantize.CALIBRATION_SEED)
    held_out = quantize.generated_photos(8, seed=21)
    reference = extractor.extract(held_out)
    errors = {}
    for count in (0, len(calibration)):
        out = tmp_path / f"bc{count}.onnx"
        quantize.quantize_file(extractor.onnx_path, out, lite0_pixels, quantize.load_rules(), calibration,
                               bias_correction=count)
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        got = session.run(None, {"pixel_values": lite0_pixels(held_out)})[0].reshape(len(held_out), -1)
        errors[count] = float(np.median(np.linalg.norm(got - reference, axis=1) / np.linalg.norm(reference, axis=1)))
    assert 0 < errors[len(calibration)] < 0.75 * errors[0], errors


def test_the_bias_correction_setting_is_checked_and_part_of_the_recipe(tmp_path):
    import json

    assert quantize.load_bias_correction() > 0  # the recipe corrects biases
    bad = tmp_path / "rules.json"
    for value in (-1, "64", 10_000, True):
        bad.write_text(json.dumps({"rules": [], "bias_correction": {"photos": value}}), encoding="utf-8")
        with pytest.raises(ValueError, match="bias_correction.photos"):
            quantize.load_bias_correction(bad)
