"""The domain check (scalp_models.novelty): fitted on generated pictures at one generator setting, it
keeps held-out pictures of that setting in domain and puts natural images and pictures far outside
the setting out of it; the fit is plain JSON that travels with the models (push, pull, Hub loader)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hub_server import HubServer
from PIL import Image, ImageFilter, ImageOps

from scalp_core.contracts import PrepConfig, write_prep_config
from scalp_core.symptoms import SYMPTOMS, get_symptom
from scalp_models.hub_loading import LOADED_FILES, NOVELTY_FILE, REQUIRED_FILES
from scalp_models.lite0_features import lite0_features
from scalp_models.novelty import (
    COLOUR_NAMES,
    NOVELTY_VERSION,
    NoveltyFeatures,
    NoveltyFit,
    NoveltyScorer,
    NoveltyUnavailableError,
    fit_novelty,
    novelty_features,
    read_novelty,
    write_novelty,
)
from synthetic.render import random_severities, render_scalp
from synthetic.scenes import SCENE_KINDS, package_photos, procedural_scene

REPO_ROOT = Path(__file__).resolve().parents[1]
SETTING = (320, 240)  # the one generator setting everything is fitted on: render_scalp at this size


def generated(n: int, seed: int, size=SETTING) -> list[Image.Image]:
    """Generated scalp pictures at one setting, each symptom's grade spread over 0..3."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n):
        severities = random_severities(rng)
        severities[SYMPTOMS[i % len(SYMPTOMS)].key] = int(rng.integers(0, 4))
        images.append(render_scalp(severities, rng, size=size))
    return images


def far_outside(seed: int, n: int = 30) -> dict[str, list[Image.Image]]:
    """Generated pictures far outside the fitted setting: seen 6× more magnified, out of focus, under-
    and over-exposed, colour-inverted, under a blue and under a green light."""
    base = generated(n, seed)
    w, h = SETTING

    def gains(image, rgb):
        return Image.fromarray(np.clip(np.asarray(image, np.float64) * rgb, 0, 255).astype(np.uint8))

    return {
        "magnified 6x": [im.crop((w * 5 // 12, h * 5 // 12, w * 7 // 12, h * 7 // 12)).resize(SETTING, Image.Resampling.BICUBIC)
                         for im in base],
        "out of focus": [im.filter(ImageFilter.GaussianBlur(6)) for im in base],
        "under-exposed": [gains(im, (0.25, 0.25, 0.25)) for im in base],
        "over-exposed": [gains(im, (2.2, 2.2, 2.2)) for im in base],
        "inverted": [ImageOps.invert(im) for im in base],
        "blue light": [gains(im, (0.6, 0.85, 1.5)) for im in base],
        "green light": [gains(im, (0.6, 1.3, 0.7)) for im in base],
    }


def natural_images() -> list[Image.Image]:
    photos = list(package_photos("fit").values()) + list(package_photos("heldout").values())
    scenes = [procedural_scene(kind, np.random.default_rng(seed)) for kind in SCENE_KINDS for seed in range(4)]
    return photos + scenes


@pytest.fixture(scope="module")
def fitted():
    """(fit, train, held-out, test features): fitted on 200 pictures, threshold with 100 others."""
    extractor = lite0_features()
    train = novelty_features(generated(200, 1), extractor)
    heldout = novelty_features(generated(100, 2), extractor)
    test = novelty_features(generated(100, 3), extractor)
    fit = fit_novelty(train, heldout, test=test, synthetic_training_data=True,
                      training_images="200 generated test pictures")
    return fit, train, heldout, test


@pytest.fixture(scope="module")
def scorer(fitted, tmp_path_factory):
    """A scorer read back from six model folders holding the fit, as the app loads it."""
    folder = tmp_path_factory.mktemp("models")
    for spec in SYMPTOMS:
        (folder / spec.key).mkdir()
        write_novelty(folder / spec.key, fitted[0])
    return NoveltyScorer.from_folder(folder)


@pytest.mark.slow
def test_held_out_pictures_of_the_fitted_setting_are_in_domain(fitted, scorer):
    fit, train, heldout, test = fitted
    in_domain = [r.in_domain for r in scorer.score_features(test)]
    assert np.mean(in_domain) >= 0.95, np.mean(in_domain)
    assert fit.about["heldout_in_domain_rate"] == round(float(np.mean(in_domain)), 4)
    assert fit.about["components_used"] == 32 and fit.about["n_train"] == 200


@pytest.mark.slow
def test_scales_and_threshold_follow_the_stated_rule(fitted):
    """The 99th percentiles over the held-out pictures under the fit and each training picture under
    a fit on the other four of five folds."""
    fit, train, heldout, _ = fitted
    distances = [fit.distances(heldout)]
    fold_of = np.arange(200) % 5
    for fold in range(5):
        inside, outside = fold_of != fold, fold_of == fold
        rest = fit_novelty(NoveltyFeatures(train.lite0[inside], train.colour[inside]), heldout,
                           synthetic_training_data=True, training_images="fold")
        distances.append(rest.distances(NoveltyFeatures(train.lite0[outside], train.colour[outside])))
    feature, colour = (np.concatenate([d[i] for d in distances]) for i in (0, 1))
    assert fit.feature_scale == pytest.approx(np.quantile(feature, 0.99))
    assert fit.colour_scale == pytest.approx(np.quantile(colour, 0.99))
    raw = np.maximum(feature / fit.feature_scale, colour / fit.colour_scale)
    assert fit.threshold == pytest.approx(np.quantile(raw, 0.99))
    assert fit.about["cross_fit_folds"] == 5 and "other 4 of 5 folds" in fit.to_json()["rule"]


@pytest.mark.slow
def test_natural_images_are_out_of_domain(scorer):
    images = natural_images()
    results = scorer.score(images)
    assert len(images) >= 50
    assert not any(r.in_domain for r in results), [round(r.score, 2) for r in results if r.in_domain]
    assert min(r.score for r in results) > 1.2  # not a near miss


@pytest.mark.slow
def test_generated_pictures_far_outside_the_setting_are_out_of_domain(scorer):
    for name, images in far_outside(seed=40).items():
        scores = [r.score for r in scorer.score(images)]
        assert min(scores) > 1.1, (name, sorted(scores)[:3])  # every one, and clearly


@pytest.mark.slow
def test_scoring_is_thread_safe_fast_and_takes_precomputed_features(scorer):
    images = generated(6, 7) + natural_images()[:6]
    serial = scorer.score(images)
    with ThreadPoolExecutor(4) as pool:  # one photo per call, as request threads call it
        parallel = list(pool.map(lambda im: scorer.score([im])[0], images))
    assert [r.to_dict() for r in parallel] == [r.to_dict() for r in serial]
    # The photo check computes the same Lite0 features; handing them over skips the forward.
    lite0 = lite0_features().extract(images)
    assert [r.score for r in scorer.score(images, lite0=lite0)] == pytest.approx([r.score for r in serial])
    start = time.perf_counter()
    for image in images:
        scorer.score([image])
    ms = (time.perf_counter() - start) / len(images) * 1000
    print(f"domain check: {ms:.1f} ms per photo ({scorer.extractor.runtime})")
    assert ms < 1000
    assert scorer.score([]) == []


def _small_fit(seed: int = 0, synthetic: bool = True) -> NoveltyFit:
    """A fit on random features (no pictures): enough for file and loading tests."""
    rng = np.random.default_rng(seed)

    def features(n):
        return NoveltyFeatures(rng.normal(size=(n, 1280)), rng.normal(size=(n, len(COLOUR_NAMES))))

    return fit_novelty(features(40), features(20), test=features(10), components=4,
                       synthetic_training_data=synthetic, training_images="random features")


def test_the_fit_is_plain_json_that_reads_back_exactly(tmp_path):
    fit = _small_fit()
    path = write_novelty(tmp_path, fit)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert path.name == NOVELTY_FILE and data["novelty_version"] == NOVELTY_VERSION
    assert data["fit_id"] == fit.fit_id and data["quantile"] == 0.99 and data["components_used"] == 4
    assert "score <= 1" in data["rule"] and data["synthetic_training_data"] is True
    assert str(tmp_path) not in path.read_text(encoding="utf-8")
    again = read_novelty(tmp_path)
    assert again.fit_id == fit.fit_id and again.about == fit.about
    probe = NoveltyFeatures(np.random.default_rng(9).normal(size=(5, 1280)), np.zeros((5, len(COLOUR_NAMES))))
    assert np.array_equal(again.score(probe), fit.score(probe))  # the threshold was set on what the file holds


def test_a_missing_stale_or_broken_fit_is_refused_with_what_to_do(tmp_path):
    good = tmp_path / "models"
    for spec in SYMPTOMS:
        (good / spec.key).mkdir(parents=True)
        write_novelty(good / spec.key, _small_fit())
    (good / "dandruff" / NOVELTY_FILE).unlink()
    data = json.loads((good / "hair_loss" / NOVELTY_FILE).read_text())
    (good / "hair_loss" / NOVELTY_FILE).write_text(json.dumps({**data, "novelty_version": 0}))
    (good / "fine_scale" / NOVELTY_FILE).write_text("{not json")
    with pytest.raises(NoveltyUnavailableError) as err:
        NoveltyScorer.from_folder(good, extractor=object())
    message = str(err.value)
    for key in ("dandruff", "hair_loss", "fine_scale"):
        assert f"{key}: " in message
    assert "does not exist" in message and "novelty_version 0" in message and "not readable JSON" in message
    assert "python -m scalp_models novelty --data prepared --models models" in message
    assert "excess_sebum" not in message
    (good / "excess_sebum" / NOVELTY_FILE).write_text(json.dumps({**data, "colour": {"mean": [0], "covariance": [[1]]}}))
    with pytest.raises(NoveltyUnavailableError, match="wrong shapes"):
        read_novelty(good / "excess_sebum")


def test_folders_with_different_fits_are_each_scored(tmp_path):
    """Six folders normally hold one fit (scored once); a set mixing fits is in domain only for all."""
    a, b = _small_fit(1), _small_fit(2, synthetic=False)
    scorer = NoveltyScorer({"hair_loss": a, "dandruff": a, "fine_scale": b}, extractor=object())
    assert len({fit.fit_id for fit in scorer.fits.values()}) == 2 and scorer.synthetic_training_data
    probe = NoveltyFeatures(np.random.default_rng(3).normal(size=(8, 1280)),
                            np.random.default_rng(4).normal(size=(8, len(COLOUR_NAMES))))
    expected = np.maximum(a.score(probe), b.score(probe))
    results = scorer.score_features(probe)
    assert [r.score for r in results] == pytest.approx(expected)
    assert [r.in_domain for r in results] == list(expected <= 1.0)
    assert results[0].to_dict() == {"score": round(float(expected[0]), 3), "in_domain": bool(expected[0] <= 1)}
    assert not NoveltyScorer({"hair_loss": b}, extractor=object()).synthetic_training_data


def test_the_hub_loader_downloads_the_fit_but_does_not_require_it():
    assert NOVELTY_FILE not in REQUIRED_FILES and NOVELTY_FILE in LOADED_FILES


# -- fitting trained models on their prepared data ----------------------------------------


@pytest.mark.slow
def test_novelty_command_fits_on_the_colour_images_of_a_prepared_folder(tmp_path, capsys):
    from tiny_models import save_tiny_classifiers

    from scalp_models.novelty_fit import main
    from synthetic.examples import render_symptom_dataset_dict

    data = tmp_path / "prepared"
    for key in ("hair_loss", "dandruff"):  # a colour symptom, and a grayscale one whose gray copies are skipped
        splits = {"train": 10, "validation": 6, "test": 4}
        render_symptom_dataset_dict(get_symptom(key), splits, seed=5, size=(160, 120)).save_to_disk(data / key)
    write_prep_config(data, PrepConfig(protocol="full", synthetic=True, labels=3))
    models = save_tiny_classifiers(tmp_path / "models")

    assert main(["--data", str(data), "--models", str(models), "--max-images", "25", "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert "wrote novelty.json into 6 model folders" in printed
    fits = [read_novelty(models / spec.key) for spec in SYMPTOMS]
    assert len({fit.fit_id for fit in fits}) == 1
    about = fits[0].about
    # hair_loss alone: 30 train images sampled down to 25, 18 validation, 12 test; dandruff's gray copies unread.
    assert (about["n_train"], about["n_heldout"], about["n_test"]) == (25, 18, 12)
    assert about["synthetic_training_data"] is True and "full protocol" in about["training_images"]
    assert str(tmp_path) not in (models / "hair_loss" / NOVELTY_FILE).read_text(encoding="utf-8")

    assert main(["--data", str(data), "--models", str(tmp_path / "none")]) == 1
    assert "train first" in capsys.readouterr().err
    assert main(["--data", str(data), "--models", str(models), "--quantile", "1.5"]) == 2
    assert "--quantile must be in [0.5, 1)" in capsys.readouterr().err


# -- the fit travels with the models: hub_upload models, pull, the diagnoser's loader ------------


PULL_BOTH = r"""
import json, sys
from hub_upload.pull import download_models
from scalp_models.hub_loading import download_model_snapshots
from scalp_models.novelty import read_novelty
pulled = download_models(sys.argv[1])
loaded = download_model_snapshots(sys.argv[1])  # the default files: what ScalpDiagnoser.from_hub fetches
print("RESULT" + json.dumps({name: {key: read_novelty(folder).fit_id for key, folder in folders.items()}
                             for name, folders in (("pull", pulled), ("loader", loaded))}))
"""


@pytest.mark.slow
def test_the_fit_is_pushed_pulled_and_loaded_with_the_models(tmp_path):
    from scalp_models.demo import DemoConfig, build_demo_models

    models = tmp_path / "models"
    config = DemoConfig(base="tiny", input_size=32, render_size=(96, 72), n_train=4, n_calib=2, n_test=2)
    build_demo_models(models, config, quiet=True)
    fit_id = read_novelty(models / "hair_loss").fit_id
    assert all(read_novelty(models / spec.key).fit_id == fit_id for spec in SYMPTOMS)

    with HubServer(tmp_path / "hub", tokens={"hf_test_writer": "me"}) as hub:
        env = hub.client_env(token="hf_test_writer", hf_home=tmp_path / "push_home")
        push = subprocess.run([sys.executable, "-m", "hub_upload", "models", "--source", str(models),
                               "--namespace", "me"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                              timeout=300)
        assert push.returncode == 0, push.stderr[-3000:]
        assert "no novelty.json" not in push.stdout
        for spec in SYMPTOMS:
            assert NOVELTY_FILE in hub.repo(f"me/{spec.repo_name}").resolve("main").files
        env = hub.client_env(hf_home=tmp_path / "pull_home")
        pull = subprocess.run([sys.executable, "-c", PULL_BOTH, "me"], cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        assert pull.returncode == 0, pull.stderr[-3000:]
        result = json.loads(pull.stdout.split("RESULT", 1)[1])
        for name in ("pull", "loader"):
            assert result[name] == {spec.key: fit_id for spec in SYMPTOMS}, name

        # Models without the fit still push, with a note that says how to add it.
        (models / "dandruff" / NOVELTY_FILE).unlink()
        env = hub.client_env(token="hf_test_writer", hf_home=tmp_path / "push_home")
        dry = subprocess.run([sys.executable, "-m", "hub_upload", "models", "--source", str(models),
                              "--namespace", "me", "--dry-run"], cwd=REPO_ROOT, env=env, capture_output=True,
                             text=True, timeout=300)
        assert dry.returncode == 0, dry.stderr[-3000:]
        assert "note: no novelty.json in dandruff" in dry.stdout and "python -m scalp_models novelty" in dry.stdout
